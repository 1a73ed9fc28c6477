// POST /t/{id}: a SenML-CBOR batch, resolved (telemetry_ingest.hpp) and appended; the
// store skips what it holds already, so a retransmitted batch is counted once. Its feature
// summaries step the device's drift state in the same commit (drift_monitor.hpp), and a
// capture the drift capture policy opens there is asked for in this very answer.
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/drift_monitor.hpp"
#include "spindle/gateway/telemetry_ingest.hpp"

namespace spindle::gateway {

void CoapServer::Impl::handle_telemetry(DeviceRecord& device, coap_session_t* session,
                                        const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kTelemetry;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  const auto accepted =
      accept_body(kResource, request, response, content_format::kSenmlCbor, device.id, "telemetry");
  if (!accepted) {
    metrics_.count_rejected_batch();
    return;
  }
  const auto body = *accepted;
  const auto count = senml::decode(body, senml_scratch_);
  Result<std::vector<TelemetryRecord>> records =
      count.ok() ? resolve_batch(device.id, {senml_scratch_.data(), *count}, now_ms())
                 : Result<std::vector<TelemetryRecord>>(count.status());
  if (!records.ok()) {
    metrics_.count_rejected_batch();
    record_event(device.id, "bad-telemetry", records.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("telemetry: ") + records.status().name());
    return;
  }
  auto fresh = std::make_shared<std::size_t>(0);
  auto drift = std::make_shared<DriftOutcome>();
  const std::size_t total = records->size();
  std::vector<drift::Summary> summaries = feature_summaries(*records);
  write_then_reply(
      kResource, session, request, response,
      [records = std::move(records).value(), summaries = std::move(summaries), fresh, drift,
       id = device.id, options = options_.drift,
       capture_options = options_.drift_capture](Store& store) {
        SPINDLE_TRY_ASSIGN(*fresh, store.append_telemetry(records));
        // A batch stored before (a retransmission) has stepped the drift state already.
        if (*fresh == 0 || summaries.empty()) return Status(kOk);
        SPINDLE_TRY_ASSIGN(
            *drift, observe_summaries(store, id, summaries, options, now_ms(), capture_options));
        return Status(kOk);
      },
      [this, id = device.id, fresh, drift, total](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        metrics_.count_telemetry(*fresh, total - *fresh);
        if (drift->stepped > 0) {
          metrics_.count_drift(drift->was_drifting, drift->drifting, drift->started,
                               drift->cleared);
          metrics_.count_drift_captures(drift->captures.size(), drift->skipped_open,
                                        drift->skipped_cap);
          for (const StoredCapture& capture : drift->captures) {
            spdlog::info("coap: {} drifts: capture {} of {} {} windows, label \"{}\"", id,
                         capture.id, capture.windows_requested, capture.kind, capture.label);
            request_capture(capture);
          }
        }
        reply.code = COAP_RESPONSE_CODE_CHANGED;
        attach_request(*registry_.find(id), reply, now_ms());
      });
}

}  // namespace spindle::gateway
