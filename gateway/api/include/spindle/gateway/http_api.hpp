// The operator HTTP/JSON API (reference: docs/gateway/api.md): provisioning devices,
// uploading models, deploying signed manifests, querying the registry, telemetry and
// events, plus the unauthenticated /healthz and Prometheus /metrics.
//
// Reads go through the API's own Store connection (one at a time, under a mutex: the
// HTTP server runs handlers on a thread pool); writes go through the group-commit Writer,
// and a handler answers only after its write committed. Committed changes are then
// announced to the CoAP side through the FleetListener.
//
// No exception leaves a handler: every failure is a JSON answer {"error": "..."} with its
// status code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spindle/gateway/fleet_listener.hpp"
#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/rollout_driver.hpp"
#include "spindle/gateway/site_keys.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/gateway/writer.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

// A key that deployments' manifests are verified against, named by its COSE key id.
struct TrustedSigner {
  std::string kid;
  crypto::EcPublicKey public_key{};
};

struct HttpApiOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (tests); port() tells which
  // The bearer token every /api/v1/* request must carry. Empty: every such request is
  // refused (the API is closed, /healthz and /metrics still answer).
  std::string token;
  std::size_t max_body_bytes = 2 * 1024 * 1024;  // any request body but a rollout's
  // POST /api/v1/rollouts carries every device's signed manifest and decisions (about 2 KB
  // of JSON a device): 64 MiB is about 30,000 devices in one rollout.
  std::size_t max_rollout_body_bytes = std::size_t{64} * 1024 * 1024;
  std::size_t max_models_bytes = 1024 * 1024;  // the largest model payload accepted
  // The largest data capture accepted: windows times the largest window of its kind the
  // protocol allows (protocol/capture.hpp), since the node's shape is known only later.
  std::size_t max_capture_bytes = std::size_t{512} * 1024 * 1024;
  std::vector<TrustedSigner> signers;  // keys deployments' manifests must verify against
};

class HttpApi {
 public:
  // The references must outlive the HttpApi; `reader` is a connection of its own.
  // `rollouts` (may be null: the rollout endpoints then answer 503) runs the rollouts the API
  // creates and commands.
  HttpApi(HttpApiOptions options, Writer& writer, std::unique_ptr<Store> reader,
          const SiteKeys& keys, Metrics& metrics, FleetListener& listener,
          RolloutDriver* rollouts = nullptr);
  ~HttpApi();
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds the listening socket. Errors: kIoError (cannot bind; the reason is logged),
  // kInvalidState (already started).
  Status start();
  // The bound port (0 before start()).
  std::uint16_t port() const;
  // Serves until stop(); returns at once when start() did not succeed or stop() came first.
  void run();
  // Closes the listening socket; run() returns once the requests in progress are answered.
  // Safe from any thread, before, during or after run(); idempotent.
  void stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spindle::gateway
