// POST /d/{id}/status: a node's update progress (the deployment's state) or its answer to
// an attestation challenge, judged against the outstanding challenge (challenge_book.hpp)
// and the current deployment.
#include "coap_server_private.hpp"
#include "spindle/gateway/attestation.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/host/text.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {

void CoapServer::Impl::handle_status(DeviceRecord& device, coap_session_t* session,
                                     const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kStatus;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  const auto accepted =
      accept_body(kResource, request, response, content_format::kCbor, device.id, "status");
  if (!accepted) return;
  const auto body = *accepted;
  const auto report = status_report::decode(body);
  if (!report.ok()) {
    record_event(device.id, "bad-status", report.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("status report: ") + report.status().name());
    return;
  }
  const std::int64_t now = now_ms();
  std::string kind;
  std::string detail;
  std::int64_t deployment_id = 0;
  DeploymentState state = DeploymentState::kPending;
  std::string reason;
  std::optional<StoredAttestation> attestation;
  std::optional<Verdict> verdict;
  std::optional<Challenge> consumed;  // given back when the verdict cannot be stored
  if (report->kind == status_report::Kind::kUpdate) {
    const auto& update = report->update;
    kind = "install";
    state = deployment_state(update.state);
    reason = error_name(update.reason);
    detail = std::string(update.model_id) + " v" + std::to_string(update.version) + ": " +
             deployment_state_name(state) + " (" + reason + ")";
    if (!update.detail.empty()) detail += " " + std::string(update.detail);
    if (device.deployment_id != 0 && update.model_id == device.model_id &&
        update.version == device.version) {
      deployment_id = device.deployment_id;
    }
  } else {
    const auto& answer = report->attestation;
    const auto keys = keys_.device_keys(device.id);
    verdict = keys.ok() ? judge_attestation(keys->attestation, device.id, answer,
                                            challenges_.outstanding(device.id, now), now,
                                            device.model_digest)
                        : Verdict::kMacInvalid;
    // Consumed now, not after the commit: a second answer to the same nonce is stale.
    consumed = challenges_.consume(device.id, *verdict);
    attestation = StoredAttestation{
        .verdict = *verdict,
        .time_ms = now,
        .nonce = host::to_hex(answer.nonce),
        .active_digest = host::to_hex(answer.active_digest),
        .firmware = std::string(answer.firmware_version),
        .expected_digest = device.model_digest,
    };
    kind = verdict_event_kind(*verdict);
    detail = std::string(attestation_verdict_name(*verdict)) + ": nonce " + attestation->nonce +
             ", firmware " + attestation->firmware + ", active " + attestation->active_digest +
             ", deployed " +
             (device.model_digest.empty() ? std::string("nothing") : device.model_digest);
  }
  // A verdict that could not be stored was not given: the node answers again, and that
  // answer must find the challenge it used, unless the operator issued a new one meanwhile.
  const auto give_back = [this, id = device.id, consumed] { challenges_.give_back(id, consumed); };
  const bool queued = write_then_reply(
      kResource, session, request, response,
      [id = device.id, kind, detail, deployment_id, state, reason, attestation, now](Store& store) {
        if (deployment_id != 0) {
          SPINDLE_TRY(store.set_deployment_state(deployment_id, state, reason, now));
        }
        if (attestation) SPINDLE_TRY(store.save_attestation(id, *attestation));
        return store.append_event(id, kind, detail, now);
      },
      [this, verdict, give_back](Status status, PendingReply& reply) {
        if (reply.failed(status)) {
          give_back();
          return;
        }
        if (verdict) metrics_.count_attestation(*verdict);
        reply.code = COAP_RESPONSE_CODE_CHANGED;
      });
  if (!queued) give_back();
}

}  // namespace spindle::gateway
