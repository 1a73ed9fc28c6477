// POST /d/{id}/status: a node's update progress (the deployment's state), its answer to
// an attestation challenge, judged against the outstanding challenge (challenge_book.hpp)
// and the current deployment, or where its per-machine calibration stands (kept as the
// device's latest, with a "calibration" event when it moves to another state or model), or
// how a candidate running in shadow compares with the active model (kept as the device's
// latest shadow report, read by the rollout gates; a "shadow" event when a shadow is first
// reported or its calibration moves).
#include <spdlog/spdlog.h>

#include <sstream>

#include "coap_server_private.hpp"
#include "spindle/gateway/attestation.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/recalibration.hpp"
#include "spindle/host/text.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {
namespace {

StoredCalibration stored_calibration(const status_report::CalibrationReport& report,
                                     std::int64_t now) {
  return {
      .model_id = std::string(report.model_id),
      .version = report.version,
      .state = report.state,
      .generation = report.generation,
      .windows_done = report.windows_done,
      .windows_total = report.windows_total,
      .threshold = static_cast<double>(report.threshold),
      .clamp = report.clamp,
      .normalization = Bytes(report.normalization.begin(), report.normalization.end()),
      .updated_ms = now,
  };
}

std::string number_text(double value) {
  std::ostringstream out;
  out << value;  // 6 significant digits: a float32 threshold as the node sent it
  return out.str();
}

// "vib-ae v4: calibrated (generation 1, 600/600 windows, threshold 0.8125, clamp none)".
std::string calibration_detail(const StoredCalibration& c) {
  return c.model_id + " v" + std::to_string(c.version) + ": " +
         status_report::calibration_state_name(c.state) + " (generation " +
         std::to_string(c.generation) + ", " + std::to_string(c.windows_done) + "/" +
         std::to_string(c.windows_total) + " windows, threshold " + number_text(c.threshold) +
         ", clamp " + status_report::threshold_clamp_name(c.clamp) + ")";
}

// Whether a report starts a new chapter for operators: another state, model, version or
// calibration generation. Progress within a state is kept without an event.
bool calibration_moved(const std::optional<StoredCalibration>& before,
                       const StoredCalibration& after) {
  return !before || before->state != after.state || before->model_id != after.model_id ||
         before->version != after.version || before->generation != after.generation;
}

StoredShadowReport stored_shadow(const status_report::ShadowReport& r, std::int64_t now) {
  StoredShadowReport out;
  out.model_id = std::string(r.model_id);
  out.version = r.version;
  out.scored = r.scored;
  out.compared = r.compared;
  out.agreed = r.agreed;
  out.active_anomalies = r.active_anomalies;
  out.shadow_anomalies = r.shadow_anomalies;
  out.active_histogram = r.active_histogram;
  out.shadow_histogram = r.shadow_histogram;
  out.latency_mean_us = r.latency_mean_us;
  out.latency_max_us = r.latency_max_us;
  out.calibration = r.calibration;
  out.arena_high_water = r.arena_high_water;
  out.updated_ms = now;
  return out;
}

// "vib-ae v5 in shadow: 940 of 1000 compared windows agree (active 3 anomalies, shadow 61),
// calibration calibrated".
std::string shadow_detail(const StoredShadowReport& s) {
  return s.model_id + " v" + std::to_string(s.version) + " in shadow: " + std::to_string(s.agreed) +
         " of " + std::to_string(s.compared) + " compared windows agree (active " +
         std::to_string(s.active_anomalies) + " anomalies, shadow " +
         std::to_string(s.shadow_anomalies) + "), calibration " +
         status_report::calibration_state_name(s.calibration);
}

}  // namespace

void CoapServer::Impl::store_shadow(const DeviceRecord& device, coap_session_t* session,
                                    const coap_pdu_t* request, coap_pdu_t* response,
                                    const status_report::ShadowReport& report) {
  const StoredShadowReport shadow = stored_shadow(report, now_ms());
  write_then_reply(
      CoapResource::kStatus, session, request, response,
      [id = device.id, shadow](Store& store) {
        const auto before = store.get_shadow_report(id);
        if (!before.ok() && before.status() != Status(Error::kNotFound)) return before.status();
        SPINDLE_TRY(store.save_shadow_report(id, shadow));
        const bool moved = !before.ok() || before->model_id != shadow.model_id ||
                           before->version != shadow.version ||
                           before->calibration != shadow.calibration;
        if (!moved) return Status(kOk);
        return store.append_event(id, "shadow", shadow_detail(shadow), shadow.updated_ms).status();
      },
      [](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        reply.code = COAP_RESPONSE_CODE_CHANGED;
      });
}

void CoapServer::Impl::store_calibration(const DeviceRecord& device, coap_session_t* session,
                                         const coap_pdu_t* request, coap_pdu_t* response,
                                         const status_report::CalibrationReport& report) {
  const std::int64_t now = now_ms();
  const StoredCalibration calibration = stored_calibration(report, now);
  // The state before this report, read inside the write so that reports committing in one
  // group see each other.
  auto before = std::make_shared<std::optional<status_report::CalibrationState>>();
  auto answered = std::make_shared<bool>(false);  // it ended the device's calibration reset
  write_then_reply(
      CoapResource::kStatus, session, request, response,
      [id = device.id, calibration, before, answered](Store& store) {
        SPINDLE_TRY_ASSIGN(const StoredDevice stored, store.get_device(id));
        if (stored.calibration) *before = stored.calibration->state;
        SPINDLE_TRY(store.save_calibration(id, calibration));
        if (stored.recalibration && recalibration_answered(*stored.recalibration, calibration)) {
          SPINDLE_TRY(store.clear_recalibration(id));
          *answered = true;
        }
        if (!calibration_moved(stored.calibration, calibration)) return Status(kOk);
        return store
            .append_event(id, "calibration", calibration_detail(calibration),
                          calibration.updated_ms)
            .status();
      },
      [this, id = device.id, before, answered, calibration](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        metrics_.count_calibration_change(*before, calibration.state);
        // A reset stored after this report committed stays (it does not answer that one).
        const auto reset = recalibrations_.find(id);
        if (*answered && reset != recalibrations_.end() &&
            recalibration_answered(reset->second, calibration)) {
          spdlog::info("coap: {} began calibration generation {}: reset answered", id,
                       calibration.generation);
          recalibrations_.erase(reset);
        }
        reply.code = COAP_RESPONSE_CODE_CHANGED;
      });
}

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
  if (report->kind == status_report::Kind::kCalibration) {
    store_calibration(device, session, request, response, report->calibration);
    return;
  }
  if (report->kind == status_report::Kind::kShadow) {
    store_shadow(device, session, request, response, report->shadow);
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
      // A promoted shadow is the model the node runs now.
      if (state == DeploymentState::kActivated || state == DeploymentState::kConfirmed) {
        device.active_digest = device.model_digest;
      }
    }
  } else {
    const auto& answer = report->attestation;
    const auto keys = keys_.device_keys(device.id);
    verdict = keys.ok() ? judge_attestation(keys->attestation, device.id, answer,
                                            challenges_.outstanding(device.id, now), now,
                                            device.active_digest)
                        : Verdict::kMacInvalid;
    // Consumed now, not after the commit: a second answer to the same nonce is stale.
    consumed = challenges_.consume(device.id, *verdict);
    attestation = StoredAttestation{
        .verdict = *verdict,
        .time_ms = now,
        .nonce = host::to_hex(answer.nonce),
        .active_digest = host::to_hex(answer.active_digest),
        .firmware = std::string(answer.firmware_version),
        .expected_digest = device.active_digest,
    };
    kind = verdict_event_kind(*verdict);
    detail = std::string(attestation_verdict_name(*verdict)) + ": nonce " + attestation->nonce +
             ", firmware " + attestation->firmware + ", active " + attestation->active_digest +
             ", deployed " +
             (device.active_digest.empty() ? std::string("nothing") : device.active_digest);
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
        return store.append_event(id, kind, detail, now).status();
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
