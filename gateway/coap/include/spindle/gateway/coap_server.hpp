// The gateway's CoAP side (DESIGN.md section 3): one libcoap context on one thread, serving
// /.well-known/core, /rd, /rd/{id}, /d/{id}/manifest (Observe), /d/{id}/status,
// /d/{id}/capture, /t/{id} and /m/{sha256}, over DTLS 1.2 PSK (the PSK identity is the device
// id) or, only when asked, plain UDP.
//
// While an attestation challenge (challenge_issued) or a data capture (capture_requested)
// is outstanding for a device, the 2.xx answers to its registration, refresh and telemetry
// carry it (content-format 60, protocol/gateway_request.hpp); its attestation status report
// is judged against the challenge, and its capture chunks (POST /d/{id}/capture, Block1
// reassembled here, one body per device at a time) are stored against the capture.
//
// Requests that write (registration, refresh, status, telemetry) are answered only after
// the Writer has committed what they carry: the handler registers the request as
// asynchronous (an empty ACK stops the client retransmitting), the writer's completion is
// posted back to this thread, and the separate response follows. Everything else is
// answered from memory: the registry of devices, deployments and model payloads that this
// thread owns and that other threads change only by posting tasks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "spindle/gateway/fleet_listener.hpp"
#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/rate_limiter.hpp"
#include "spindle/gateway/site_keys.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/gateway/writer.hpp"
#include "spindle/protocol/senml.hpp"

struct coap_context_t;
struct coap_resource_t;
struct coap_session_t;
struct coap_pdu_t;
struct coap_string_t;
struct coap_bin_const_t;

namespace spindle::gateway {

struct CoapServerOptions {
  std::string address = "127.0.0.1";  // IPv4 or IPv6 literal to bind
  std::uint16_t port = 5684;
  bool insecure = false;                   // plain UDP, no identities: development only
  std::size_t max_request_payload = 1024;  // larger bodies get 4.13
  double peer_rate = 50.0;                 // requests per second per peer ...
  double peer_burst = 100.0;               // ... with bursts up to this
  // Model payload blocks (GET /m/...) have their own budget: a download is a legitimate
  // burst of hundreds of requests, bounded by the size of what is deployed to the device.
  double peer_block_rate = 1000.0;   // Block2 requests per second per peer ...
  double peer_block_burst = 1000.0;  // ... with bursts up to this (a 1 MB model in 1 KB blocks)
  std::size_t max_peers = 200000;    // rate-limiter table bound
  unsigned max_sessions = 100000;    // idle (D)TLS/UDP sessions kept
  unsigned max_handshakes = 1000;    // DTLS handshakes in progress
  unsigned session_timeout_s = 300;  // an idle session is freed after this
  std::uint8_t max_block_szx = 6;    // 1024-byte Block2 blocks at most
  std::uint32_t max_lifetime_s = 7 * 24 * 3600;
  std::size_t max_cached_models = 32;  // model payloads held in memory for Block2
};

class CoapServer final : public FleetListener {
 public:
  CoapServer(CoapServerOptions options, Writer& writer, std::unique_ptr<Store> reader,
             const SiteKeys& keys, Metrics& metrics);
  ~CoapServer() override;
  CoapServer(const CoapServer&) = delete;
  CoapServer& operator=(const CoapServer&) = delete;

  // Loads devices, deployments and models from the store, creates the resources and binds.
  // Errors: kIoError (the store cannot be read; the address cannot be bound: logged),
  // kUnavailable (this libcoap has no DTLS and insecure is off).
  Status start();

  // Serves until stop(). Errors: kIoError (libcoap's I/O failed; logged).
  Status run();

  // After run() returned and the writer stopped: answers what the writer committed.
  void drain();

  // Any thread, and async-signal-safe: asks run() to return.
  void stop();

  // Any thread: runs `task` on the CoAP thread (the only way to touch its state).
  void post(std::function<void()> task);

  // Any thread, after the write committed: keep the registry in step with the store.
  void device_added(std::string device_id) override;
  void model_added(StoredModel model) override;
  void deployment_added(StoredDeployment deployment) override;
  void challenge_issued(std::string device_id, Challenge challenge) override;
  void capture_requested(StoredCapture capture) override;

  // The bound port (after start(); useful with port 0).
  std::uint16_t port() const { return bound_port_; }

 private:
  struct Device;
  struct Model;
  struct PendingReply;

  // libcoap trampolines.
  static void on_well_known_core(coap_resource_t*, coap_session_t*, const coap_pdu_t*,
                                 const coap_string_t*, coap_pdu_t*);
  static void on_register(coap_resource_t*, coap_session_t*, const coap_pdu_t*,
                          const coap_string_t*, coap_pdu_t*);
  static void on_manifest(coap_resource_t*, coap_session_t*, const coap_pdu_t*,
                          const coap_string_t*, coap_pdu_t*);
  static void on_device_post(coap_resource_t*, coap_session_t*, const coap_pdu_t*,
                             const coap_string_t*, coap_pdu_t*);
  static void on_model(coap_resource_t*, coap_session_t*, const coap_pdu_t*, const coap_string_t*,
                       coap_pdu_t*);

  void handle_well_known_core(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  // POST rd/{id}, d/{id}/status, t/{id}: finds the device and calls its handler (4.04 for
  // an unknown device or path).
  void dispatch_device_post(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_register(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_refresh(Device&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_manifest(Device&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_status(Device&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_telemetry(Device&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_capture(Device&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  // A capture chunk (its whole body) of `device`: stored by the writer, then answered.
  void store_capture_chunk(Device& device, coap_session_t*, const coap_pdu_t*, coap_pdu_t* response,
                           std::span<const std::uint8_t> body, Bytes block1_option);
  void handle_model(Model&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);

  // Common gate of every handler: counts the request, applies the peer's rate limit and
  // (for a device's resources) the identity check, and refuses Block1 bodies except on
  // /d/{id}/capture. False:
  // `response` is already set.
  bool admit(CoapResource resource, coap_session_t*, const coap_pdu_t* request, const Device*,
             coap_pdu_t* response);
  // The second call of an asynchronous request, or a retransmission of one already
  // answered: fills `response` from its PendingReply. False when the request is new.
  bool answer_if_completed(CoapResource resource, coap_session_t*, const coap_pdu_t*,
                           coap_pdu_t* response);
  // Hands `work` to the writer and makes the request asynchronous; `finish` runs on this
  // thread after the commit and says how to answer. False when the writer could not take
  // the work (`response` is then a 5.03 and `finish` never runs).
  bool write_then_reply(CoapResource resource, coap_session_t*, const coap_pdu_t*,
                        coap_pdu_t* response, Writer::Work work,
                        std::function<void(Status, PendingReply&)> finish);
  void forget_reply(PendingReply* reply);
  // Puts what is outstanding for the device (challenge, capture), if anything, into a 2.xx
  // answer.
  void attach_request(Device& device, PendingReply& reply, std::int64_t now);
  void answer_with(CoapResource resource, coap_pdu_t* response, const PendingReply& reply);
  std::string exchange_key(coap_session_t*, const coap_pdu_t* request) const;
  // The lt query parameter, `absent` without one; nullopt after answering 4.00.
  std::optional<std::uint32_t> lifetime_of(CoapResource resource, const coap_pdu_t* request,
                                           coap_pdu_t* response, std::uint32_t absent);
  // The body when it has content-format `format` and fits max_request_payload; otherwise
  // answers 4.15 or 4.13 (with Size1 and a "bad-<what>" event) and returns nullopt.
  std::optional<std::span<const std::uint8_t>> accept_body(
      CoapResource resource, const coap_pdu_t* request, coap_pdu_t* response, std::uint16_t format,
      const std::string& device_id, std::string_view what);
  void respond(CoapResource resource, coap_pdu_t* response, int code, std::string_view diagnostic);
  void serve_blocks(CoapResource resource, coap_session_t*, const coap_pdu_t*, coap_pdu_t* response,
                    std::uint16_t content_format, std::span<const std::uint8_t> body,
                    std::span<const std::uint8_t> etag);
  std::string peer_key(coap_session_t*) const;
  std::string identity_of(coap_session_t*) const;

  Device& add_device_entry(const std::string& id);
  void add_model_entry(const StoredModel& model);
  void apply_deployment(const StoredDeployment& deployment);
  std::shared_ptr<const Bytes> model_payload(Model& model);
  void record_event(std::string device_id, std::string kind, std::string detail);
  void housekeeping(std::int64_t now);
  void run_posted_tasks();
  // One pass of libcoap I/O that reads many datagrams. False when libcoap's I/O failed.
  bool process_io(int coap_fd);
  void publish_device_counts();
  static const coap_bin_const_t* validate_identity(coap_bin_const_t* identity, coap_session_t*,
                                                   void* self);

  CoapServerOptions options_;
  Writer& writer_;
  std::unique_ptr<Store> reader_;
  const SiteKeys& keys_;
  Metrics& metrics_;
  RateLimiter limiter_;
  RateLimiter block_limiter_;  // GET /m/...: model downloads

  coap_context_t* context_ = nullptr;
  std::uint16_t bound_port_ = 0;
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;
  std::unordered_set<PendingReply*> pending_replies_;       // owned: freed on answer or at exit
  std::unordered_map<std::string, PendingReply> answered_;  // "peer#mid" -> answer sent

  std::unordered_map<std::string, std::unique_ptr<Device>> devices_;
  std::unordered_map<std::string, std::unique_ptr<Model>> models_;
  std::unordered_map<std::string, std::int64_t> transfers_;  // "peer|digest" -> last block
  std::vector<senml::Record> senml_scratch_;
  std::array<std::uint8_t, 16> psk_buffer_{};
  std::unique_ptr<coap_bin_const_t> psk_answer_;
  std::size_t online_ = 0;
  std::int64_t last_housekeeping_ms_ = 0;
  std::int64_t last_refusal_log_ms_ = 0;
  int datagrams_last_pass_ = 0;
  std::uint64_t refused_since_log_ = 0;
};

}  // namespace spindle::gateway
