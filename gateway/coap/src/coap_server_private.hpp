// The inside of CoapServer: one object, owned by the CoAP thread, whose members are
// defined by concern, one source file each:
//
//   coap_server.cpp    the public API, start-up (registry from the store, resources, bind)
//   transport.cpp      the I/O loop, wake-ups and posted tasks, housekeeping, drain
//   dtls_identity.cpp  PSK validation, identity_of / peer_key, refusal logging
//   exchanges.cpp      pending replies, answered exchanges, write-then-reply, answer_with
//   requests.cpp       what every request goes through: admission, bodies, answers, Block2,
//                      the exception barrier, routing of the device POSTs
//   registration.cpp   /.well-known/core, /rd, /rd/{id}, device entries and their expiry
//   manifest.cpp       /d/{id}/manifest (Observe) and deployments
//   status.cpp         /d/{id}/status: update reports, attestation verdicts, calibration
//   telemetry.cpp      /t/{id}, and the drift state its feature summaries step
//   capture.cpp        /d/{id}/capture: Block1 reassembly and chunk storage
//   model_blocks.cpp   /m/{sha256}: model payloads served in Block2 blocks
//
// The decisions that are not CoAP live in gateway/core: the device registry and its
// lifetime state machine (device_registry.hpp), outstanding attestation challenges
// (challenge_book.hpp), whether a capture chunk is stored (capture_chunk.hpp).
#pragma once

#include <coap3/coap.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "spindle/gateway/challenge_book.hpp"
#include "spindle/gateway/coap_server.hpp"
#include "spindle/gateway/device_registry.hpp"
#include "spindle/gateway/rate_limiter.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/content_format.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {

inline constexpr std::int64_t kTransferIdleMs = 60000;  // a silent download or upload is over
inline constexpr unsigned kBusyMaxAgeS = 5;

// The server a libcoap callback is for (the context's app data).
CoapServer::Impl& server_of(coap_session_t* session);

struct CoapServer::Impl {
  // A model payload served on /m/{digest}.
  struct Model {
    std::string digest;
    std::uint64_t size = 0;
    std::array<std::uint8_t, 8> etag{};
    std::shared_ptr<const Bytes> payload;  // loaded on the first block request
    std::int64_t last_used_ms = 0;
  };

  // The answer of an asynchronous request, filled on this thread when its write committed.
  struct PendingReply {
    CoapResource resource = CoapResource::kOther;
    bool done = false;
    coap_pdu_code_t code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
    std::string location;  // Location-Path, segments joined by '/'
    std::string diagnostic;
    Bytes request;                 // an encoded gateway request to send as the payload (format 60)
    Bytes block1;                  // the Block1 option value to answer with (a block-wise body)
    std::string exchange;          // peer and message id of the original request
    std::int64_t answered_ms = 0;  // when kept in answered_

    // A write that did not commit is answered 5.00 with the error's name. True then.
    bool failed(Status status) {
      if (status.ok()) return false;
      code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
      diagnostic = status.name();
      return true;
    }
  };

  // A capture chunk arriving in Block1 blocks (only while a capture is outstanding, at most
  // capture::kMaxChunkSize bytes, dropped when idle for kTransferIdleMs).
  struct Upload {
    Bytes body;
    std::int64_t last_ms = 0;
  };

  Impl(CoapServerOptions options, Writer& writer, std::unique_ptr<Store> reader,
       const SiteKeys& keys, Metrics& metrics);
  ~Impl();

  // ---- Start-up (coap_server.cpp) ----
  Status start();

  // ---- Transport (transport.cpp) ----
  Status run();
  void drain();
  void stop();
  void post(std::function<void()> task);
  void run_posted_tasks();
  // One pass of libcoap I/O that reads many datagrams. False when libcoap's I/O failed.
  bool process_io(int coap_fd);
  void housekeeping(std::int64_t now);

  // ---- DTLS identity (dtls_identity.cpp) ----
  std::string identity_of(coap_session_t* session) const;
  // Who the rate limits and exchanges are keyed by: the PSK identity, or with plain UDP the
  // peer's address.
  std::string peer_key(coap_session_t* session) const;
  static const coap_bin_const_t* validate_identity(coap_bin_const_t* identity, coap_session_t*,
                                                   void* self) noexcept;
  const coap_bin_const_t* psk_for(std::string_view id);

  // ---- Exchanges (exchanges.cpp) ----
  // The second call of an asynchronous request, or a retransmission of one already
  // answered: fills `response` from its PendingReply. False when the request is new.
  bool answer_if_completed(CoapResource resource, coap_session_t*, const coap_pdu_t*,
                           coap_pdu_t* response);
  // Hands `work` to the writer and makes the request asynchronous; `finish` runs on this
  // thread after the commit and says how to answer (a `finish` that throws answers 5.00).
  // False when the writer could not take the work (`response` is then a 5.03 and `finish`
  // never runs).
  bool write_then_reply(CoapResource resource, coap_session_t*, const coap_pdu_t*,
                        coap_pdu_t* response, Writer::Work work,
                        std::function<void(Status, PendingReply&)> finish);
  void forget_reply(PendingReply* reply);
  // Puts what is outstanding for the device (challenge, capture, calibration reset), if
  // anything, into a 2.xx answer.
  void attach_request(const DeviceRecord& device, PendingReply& reply, std::int64_t now);
  void answer_with(CoapResource resource, coap_pdu_t* response, const PendingReply& reply);
  // "peer#session serial#message id": the key of the answered-exchange cache.
  std::string exchange_key(coap_session_t*, const coap_pdu_t* request);
  void forget_old_exchanges(std::int64_t now);

  // ---- Requests (requests.cpp) ----
  // Common gate of every handler: counts the request, applies the peer's rate limit and
  // (for a device's resources) the identity check, and refuses Block1 bodies except on
  // /d/{id}/capture. False: `response` is already set.
  bool admit(CoapResource resource, coap_session_t*, const coap_pdu_t* request,
             const DeviceRecord* device, coap_pdu_t* response);
  // The body when it has content-format `format` and fits max_request_payload; otherwise
  // answers 4.15 or 4.13 (with Size1 and a "bad-<what>" event) and returns nullopt.
  std::optional<std::span<const std::uint8_t>> accept_body(
      CoapResource resource, const coap_pdu_t* request, coap_pdu_t* response, std::uint16_t format,
      const std::string& device_id, std::string_view what);
  void respond(CoapResource resource, coap_pdu_t* response, int code, std::string_view diagnostic);
  void serve_blocks(CoapResource resource, const coap_pdu_t* request, coap_pdu_t* response,
                    std::uint16_t content_format, std::span<const std::uint8_t> body,
                    std::span<const std::uint8_t> etag);
  // POST rd/{id}, d/{id}/status, d/{id}/capture, t/{id}: finds the device and calls its
  // handler (4.04 for an unknown device or path).
  void dispatch_device_post(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void record_event(std::string device_id, std::string kind, std::string detail);

  // Runs a request handler behind the exception barrier: libcoap is C, so nothing may
  // unwind into it. A handler that throws is logged and answered 5.00.
  template <typename Handler>
  void guard(CoapResource resource, coap_pdu_t* response, Handler&& handler) noexcept {
    try {
      handler();
    } catch (const std::exception& e) {
      handler_failed(resource, response, e.what());
    } catch (...) {
      handler_failed(resource, response, "not a std::exception");
    }
  }
  void handler_failed(CoapResource resource, coap_pdu_t* response, std::string_view what) noexcept;

  // The libcoap trampolines: find the server and run a handler behind the barrier.
  // on_request: a handler of the server's own resources; on_entry_request: one of an
  // entry's resource (a device's manifest, a model), the entry being its user data.
  using Handler = void (Impl::*)(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  template <CoapResource kResource, Handler kHandler>
  static void on_request(coap_resource_t*, coap_session_t* session, const coap_pdu_t* request,
                         const coap_string_t*, coap_pdu_t* response) noexcept {
    Impl& self = server_of(session);
    self.guard(kResource, response, [&] { (self.*kHandler)(session, request, response); });
  }
  template <typename Entry>
  using EntryHandler = void (Impl::*)(Entry&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  template <CoapResource kResource, typename Entry, EntryHandler<Entry> kHandler>
  static void on_entry_request(coap_resource_t* resource, coap_session_t* session,
                               const coap_pdu_t* request, const coap_string_t*,
                               coap_pdu_t* response) noexcept {
    Impl& self = server_of(session);
    self.guard(kResource, response, [&] {
      Entry& entry = *static_cast<Entry*>(coap_resource_get_userdata(resource));
      (self.*kHandler)(entry, session, request, response);
    });
  }

  // ---- Registration (registration.cpp) ----
  void handle_well_known_core(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_register(coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void handle_refresh(DeviceRecord&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  // The lt query parameter, `absent` without one; nullopt after answering 4.00.
  std::optional<std::uint32_t> lifetime_of(CoapResource resource, const coap_pdu_t* request,
                                           coap_pdu_t* response, std::uint32_t absent);
  // Gives a provisioned device its manifest resource, once.
  DeviceRecord& add_device_entry(DeviceRecord& device);
  void expire_devices(std::int64_t now);
  void publish_device_counts();

  // ---- Manifest (manifest.cpp) ----
  void handle_manifest(DeviceRecord&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void apply_deployment(const StoredDeployment& deployment);

  // ---- Status (status.cpp) ----
  void handle_status(DeviceRecord&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  // A calibration report (any model's: it is what the node runs) kept as the device's
  // latest by the writer, then answered 2.04.
  void store_calibration(const DeviceRecord& device, coap_session_t*, const coap_pdu_t*,
                         coap_pdu_t* response, const status_report::CalibrationReport& report);
  void store_shadow(const DeviceRecord& device, coap_session_t* session, const coap_pdu_t* request,
                    coap_pdu_t* response, const status_report::ShadowReport& report);

  // ---- Telemetry (telemetry.cpp) ----
  void handle_telemetry(DeviceRecord&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);

  // ---- Capture (capture.cpp) ----
  void handle_capture(DeviceRecord&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  // A capture chunk (its whole body) of `device`: stored by the writer, then answered.
  void store_capture_chunk(const DeviceRecord& device, coap_session_t*, const coap_pdu_t*,
                           coap_pdu_t* response, std::span<const std::uint8_t> body,
                           Bytes block1_option);
  void request_capture(const StoredCapture& capture);
  void forget_idle_uploads(std::int64_t now);

  // ---- Model blocks (model_blocks.cpp) ----
  void handle_model(Model&, coap_session_t*, const coap_pdu_t*, coap_pdu_t*);
  void add_model_entry(const StoredModel& model);
  std::shared_ptr<const Bytes> model_payload(Model& model);
  void forget_idle_transfers(std::int64_t now);

  CoapServerOptions options_;
  Writer& writer_;
  std::unique_ptr<Store> reader_;
  const SiteKeys& keys_;
  Metrics& metrics_;
  RateLimiter limiter_;
  RateLimiter block_limiter_;  // GET /m/... and capture uploads: bulk transfers

  coap_context_t* context_ = nullptr;
  std::uint16_t bound_port_ = 0;
  int wake_fd_ = -1;
  std::atomic<bool> stop_requested_{false};
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;
  std::unordered_set<PendingReply*> pending_replies_;       // owned: freed on answer or at exit
  std::unordered_map<std::string, PendingReply> answered_;  // exchange_key -> answer sent
  std::uintptr_t session_serial_ = 0;  // the last serial given to a session (exchange_key)

  DeviceRegistry registry_;  // DeviceRecord::handle: the device's manifest coap_resource_t
  ChallengeBook challenges_;
  std::unordered_map<std::string, capture::Request> captures_;  // device -> outstanding capture
  std::unordered_map<std::string, Upload> uploads_;             // device -> partial chunk
  std::unordered_map<std::string, StoredRecalibration> recalibrations_;  // device -> reset
  std::unordered_map<std::string, Bytes> decisions_;  // device -> a rollout's signed decision
  std::unordered_map<std::string, std::unique_ptr<Model>> models_;
  std::unordered_map<std::string, std::int64_t> transfers_;  // "peer|digest" -> last block
  std::vector<senml::Record> senml_scratch_;
  std::array<std::uint8_t, 16> psk_buffer_{};
  coap_bin_const_t psk_answer_{};
  std::int64_t last_housekeeping_ms_ = 0;
  std::int64_t last_refusal_log_ms_ = 0;
  int datagrams_last_pass_ = 0;
  std::uint64_t refused_since_log_ = 0;
};

}  // namespace spindle::gateway
