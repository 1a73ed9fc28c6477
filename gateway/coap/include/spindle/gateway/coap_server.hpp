// The gateway's CoAP side (DESIGN.md section 3): one libcoap context on one thread, serving
// /.well-known/core, /rd, /rd/{id}, /d/{id}/manifest (Observe), /d/{id}/status,
// /d/{id}/capture, /t/{id} and /m/{sha256}, over DTLS 1.2 PSK (the PSK identity is the device
// id) or, only when asked, plain UDP.
//
// A calibration status report is kept as the device's latest (whichever model it is for);
// the feature summaries in its telemetry step its drift state (drift_monitor.hpp) in the
// same commit as the telemetry.
//
// While an attestation challenge (challenge_issued), a data capture (capture_requested, or
// opened by the drift capture policy in the telemetry's commit) or a calibration reset
// (recalibration_requested) is outstanding for a device, the 2.xx answers to its
// registration, refresh and telemetry carry it (content-format 60, one
// protocol/gateway_request.hpp for all of them); its attestation status report is judged
// against the challenge, its capture chunks (POST /d/{id}/capture, Block1 reassembled here,
// one body per device at a time) are stored against the capture, and a calibration report
// of the next generation ends the reset.
//
// Requests that write (registration, refresh, status, telemetry) are answered only after
// the Writer has committed what they carry: the handler registers the request as
// asynchronous (an empty ACK stops the client retransmitting), the writer's completion is
// posted back to this thread, and the separate response follows. Everything else is
// answered from memory: the registry of devices, deployments and model payloads that this
// thread owns and that other threads change only by posting tasks.
//
// No exception reaches libcoap: a handler that throws is logged and answered 5.00, a
// posted task that throws is logged and the loop goes on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "spindle/gateway/capture_policy.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/gateway/fleet_listener.hpp"
#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/site_keys.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/gateway/writer.hpp"

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
  drift::Options drift;                // how telemetry's feature summaries are scored
  DriftCaptureOptions drift_capture;   // what a device that starts drifting gets
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
  void recalibration_requested(std::string device_id, StoredRecalibration recalibration) override;
  void decision_set(std::string device_id, Bytes decision) override;

  // The port bound by start() (the configured one).
  std::uint16_t port() const;

  // The CoAP thread's state and the handlers (src/coap_server_private.hpp).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace spindle::gateway
