// POST /t/{id}: a SenML-CBOR batch, resolved (telemetry_ingest.hpp) and appended; the
// store skips what it holds already, so a retransmitted batch is counted once.
#include "coap_server_private.hpp"
#include "spindle/gateway/clock.hpp"
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
  const std::size_t total = records->size();
  write_then_reply(
      kResource, session, request, response,
      [records = std::move(records).value(), fresh](Store& store) {
        SPINDLE_TRY_ASSIGN(*fresh, store.append_telemetry(records));
        return Status(kOk);
      },
      [this, id = device.id, fresh, total](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        metrics_.count_telemetry(*fresh, total - *fresh);
        reply.code = COAP_RESPONSE_CODE_CHANGED;
        attach_request(*registry_.find(id), reply, now_ms());
      });
}

}  // namespace spindle::gateway
