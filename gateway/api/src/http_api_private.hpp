// The operator API's implementation class, shared by the server plumbing (http_api.cpp)
// and the endpoint handlers (endpoints_*.cpp). Private to gateway/api.
#pragma once

#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "request_private.hpp"
#include "spindle/gateway/http_api.hpp"
#include "spindle/protocol/cose_sign1.hpp"

namespace spindle::gateway {
namespace api {

// httplib::Server whose listening socket can be closed at any moment. httplib's own stop()
// does nothing until the accept loop has started, so a stop() arriving between start() and
// run() would be lost; closing the socket ourselves ends the loop whenever it runs.
class ApiServer : public httplib::Server {
 public:
  void close_listener() {
    const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
    if (sock != INVALID_SOCKET) {
      ::shutdown(sock, SHUT_RDWR);  // wakes an accept() in progress
      ::close(sock);
    }
  }
};

// One deployment of a POST /api/v1/deployments, verified and decoded, not yet checked
// against the store.
struct NewDeployment {
  std::string where;  // "deployments[3]", for messages
  StoredDeployment record;
  std::uint64_t payload_size = 0;
};

}  // namespace api

class HttpApi::Impl {
 public:
  Impl(HttpApiOptions options, Writer& writer, std::unique_ptr<Store> reader, const SiteKeys& keys,
       Metrics& metrics, FleetListener& listener, RolloutDriver* rollouts);
  ~Impl() { stop(); }

  Status start();
  std::uint16_t port() const { return port_.load(); }
  void run();
  void stop();

 private:
  using Handler = api::Answer (Impl::*)(const httplib::Request&, const std::string& body);

  void route_get(const std::string& pattern, Handler handler, bool authenticated);
  // `max_body` 0: options_.max_body_bytes.
  void route_post(const std::string& pattern, Handler handler, std::size_t max_body = 0);
  void serve(const httplib::Request& request, httplib::Response& response, Handler handler,
             const std::string& body);
  std::optional<api::Answer> authorize(const httplib::Request& request) const;
  api::Answer default_error(const httplib::Request& request, int status) const;
  void log(const httplib::Request& request, const httplib::Response& response);

  api::Answer healthz(const httplib::Request& request, const std::string& body);
  api::Answer provision_devices(const httplib::Request& request, const std::string& body);
  api::Answer list_devices(const httplib::Request& request, const std::string& body);
  api::Answer get_device(const httplib::Request& request, const std::string& body);
  api::Answer set_device_tags(const httplib::Request& request, const std::string& body);
  api::Answer list_device_deployments(const httplib::Request& request, const std::string& body);
  api::Answer get_device_keys(const httplib::Request& request, const std::string& body);
  api::Answer attest_device(const httplib::Request& request, const std::string& body);
  api::Answer reset_calibration(const httplib::Request& request, const std::string& body);
  api::Answer get_device_drift(const httplib::Request& request, const std::string& body);
  api::Answer upload_model(const httplib::Request& request, const std::string& body);
  api::Answer list_models(const httplib::Request& request, const std::string& body);
  api::Answer add_deployments(const httplib::Request& request, const std::string& body);
  api::Answer list_deployments(const httplib::Request& request, const std::string& body);
  api::Answer query_telemetry(const httplib::Request& request, const std::string& body);
  api::Answer query_events(const httplib::Request& request, const std::string& body);
  api::Answer request_capture(const httplib::Request& request, const std::string& body);
  api::Answer list_captures(const httplib::Request& request, const std::string& body);
  api::Answer get_capture(const httplib::Request& request, const std::string& body);
  api::Answer capture_data(const httplib::Request& request, const std::string& body);
  api::Answer create_rollout(const httplib::Request& request, const std::string& body);
  api::Answer list_rollouts(const httplib::Request& request, const std::string& body);
  api::Answer get_rollout(const httplib::Request& request, const std::string& body);
  api::Answer pause_rollout(const httplib::Request& request, const std::string& body);
  api::Answer resume_rollout(const httplib::Request& request, const std::string& body);
  api::Answer abort_rollout(const httplib::Request& request, const std::string& body);
  api::Answer command_rollout(const httplib::Request& request, rollout::Command command);
  // The capture named by the path: 400 for a malformed id, 404 when there is none.
  std::optional<api::Answer> find_capture(const httplib::Request& request, StoredCapture& out);

  // The device named by the path: 400 for an invalid id, 404 when not provisioned.
  std::optional<api::Answer> find_device(const httplib::Request& request, std::string& id);
  // `where` names the entry in messages ("deployments[3]").
  std::optional<api::Answer> decode_deployment(const nlohmann::json& entry, std::string where,
                                               std::int64_t now, api::NewDeployment& out) const;
  std::optional<api::Answer> check_deployments(Store& store,
                                               const std::vector<api::NewDeployment>& batch,
                                               Status& failure) const;

  // Runs `read` on the reader connection under its lock and returns what `read` returns:
  // the one connection is shared by every handler thread.
  template <typename Read>
  auto read_store(Read read) {
    const std::lock_guard lock(reader_mutex_);
    return read(*reader_);
  }

  const HttpApiOptions options_;
  Writer& writer_;
  std::mutex reader_mutex_;  // one connection, many handler threads
  std::unique_ptr<Store> reader_;
  const SiteKeys& keys_;
  Metrics& metrics_;
  FleetListener& listener_;
  RolloutDriver* rollouts_ = nullptr;           // none: the rollout endpoints answer 503
  std::vector<cose::TrustedKey> trusted_keys_;  // views into options_.signers
  crypto::Digest token_digest_{};
  std::vector<std::pair<std::string, std::regex>> routes_;  // method, path: for 405 answers
  api::ApiServer server_;

  std::mutex state_mutex_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<std::uint16_t> port_{0};
};

}  // namespace spindle::gateway
