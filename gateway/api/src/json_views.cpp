#include "json_views_private.hpp"

#include "spindle/host/text.hpp"
#include "spindle/protocol/feature_names.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::gateway::api {
namespace {

using nlohmann::json;

const char* slot_state_name(registration::SlotState state) {
  switch (state) {
    case registration::SlotState::kEmpty:
      return "empty";
    case registration::SlotState::kDownloading:
      return "downloading";
    case registration::SlotState::kDownloaded:
      return "downloaded";
    case registration::SlotState::kVerified:
      return "verified";
    case registration::SlotState::kActive:
      return "active";
    case registration::SlotState::kPending:
      return "pending";
    case registration::SlotState::kFailed:
      return "failed";
  }
  return "unknown";
}

json registration_view(const registration::Registration& reg) {
  json slots = json::array();
  for (const auto& slot : reg.slots) {
    slots.push_back({
        {"state", slot_state_name(slot.state)},
        {"model_id", std::string(slot.model_id)},
        {"version", slot.version},
        {"digest", slot.digest.empty() ? json(nullptr) : json(to_hex(slot.digest))},
    });
  }
  return {
      {"board", std::string(reg.board)},
      {"firmware_version", std::string(reg.firmware_version)},
      {"active_slot",
       reg.active_slot == registration::kNoActiveSlot ? json(nullptr) : json(reg.active_slot)},
      {"slots", std::move(slots)},
      {"budgets",
       {
           {"sram_bytes", reg.budgets.sram_bytes},
           {"arena_bytes", reg.budgets.arena_bytes},
           {"model_flash_bytes", reg.budgets.model_flash_bytes},
           {"op_set", reg.budgets.op_set},
       }},
  };
}

json attestation_view(const StoredAttestation& attestation) {
  return {
      {"verdict", attestation_verdict_name(attestation.verdict)},
      {"time_ms", attestation.time_ms},
      {"nonce", attestation.nonce},
      {"active_digest", attestation.active_digest},
      {"firmware", attestation.firmware},
      {"expected_digest",
       attestation.expected_digest.empty() ? json(nullptr) : json(attestation.expected_digest)},
  };
}

json recalibration_view(const StoredRecalibration& recalibration) {
  return {
      {"after_generation", recalibration.after_generation},
      {"next_generation", std::uint64_t{recalibration.after_generation} + 1},
      {"requested_ms", recalibration.requested_ms},
  };
}

json calibration_view(const StoredCalibration& calibration) {
  return {
      {"model_id", calibration.model_id},
      {"version", calibration.version},
      {"state", status_report::calibration_state_name(calibration.state)},
      {"generation", calibration.generation},
      {"windows_done", calibration.windows_done},
      {"windows_total", calibration.windows_total},
      {"threshold", calibration.threshold},
      {"clamp", status_report::threshold_clamp_name(calibration.clamp)},
      {"updated_ms", calibration.updated_ms},
  };
}

json number_or_null(bool present, double value) {
  return present ? json(value) : json(nullptr);
}

std::string feature_label(std::size_t index) {
  const std::string_view name = feature_names::name(index);
  return name.empty() ? "feature_" + std::to_string(index) : std::string(name);
}

// The comparison with one reference; a kNone tracker renders as the "none" reference.
json tracker_view(const drift::Tracker& tracker) {
  const bool compared = tracker.kind != drift::ReferenceKind::kNone;
  json features = json::array();
  for (std::size_t i = 0; i < tracker.features.size(); ++i) {
    const drift::FeatureScore& f = tracker.features[i];
    features.push_back({
        {"name", feature_label(i)},
        {"mean_shift", number_or_null(f.compared, f.mean_shift)},
        {"log_variance_ratio", number_or_null(f.compared, f.log_variance_ratio)},
        {"score", number_or_null(f.compared, f.score)},
        {"drifting", f.drifting},
    });
  }
  return {
      {"reference", drift::reference_name(tracker.kind)},
      {"model_id", compared ? json(tracker.model_id) : json(nullptr)},
      {"version", compared ? json(tracker.version) : json(nullptr)},
      {"generation", tracker.kind == drift::ReferenceKind::kCalibration ? json(tracker.generation)
                                                                        : json(nullptr)},
      {"score", number_or_null(compared && tracker.summaries > 0, tracker.score)},
      {"drifting", tracker.drifting},
      {"since_ms", tracker.drifting ? json(tracker.since_ms) : json(nullptr)},
      {"summaries", tracker.summaries},
      {"features", std::move(features)},
  };
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  return host::to_hex(bytes);
}

json shadow_report_view(const StoredShadowReport& r) {
  return {
      {"model_id", r.model_id},
      {"version", r.version},
      {"scored", r.scored},
      {"compared", r.compared},
      {"agreed", r.agreed},
      {"agreement", r.compared == 0
                        ? json(nullptr)
                        : json(static_cast<double>(r.agreed) / static_cast<double>(r.compared))},
      {"active_anomalies", r.active_anomalies},
      {"shadow_anomalies", r.shadow_anomalies},
      {"active_histogram", r.active_histogram},
      {"shadow_histogram", r.shadow_histogram},
      {"latency_mean_us", r.latency_mean_us},
      {"latency_max_us", r.latency_max_us},
      {"calibration", status_report::calibration_state_name(r.calibration)},
      {"arena_high_water", r.arena_high_water},
      {"updated_ms", r.updated_ms},
  };
}

std::map<std::string, std::string> effective_tags(const StoredDevice& device) {
  std::map<std::string, std::string> tags = device.tags;
  if (!tags.contains("board") && !device.registration.empty()) {
    const auto decoded = registration::decode(device.registration);
    if (decoded.ok()) tags.emplace("board", std::string(decoded->board));
  }
  return tags;
}

json device_view(const StoredDevice& device) {
  json view = {
      {"id", device.id},
      {"tags", device.tags},
      {"created_ms", device.created_ms},
      {"online", device.online},
      {"last_seen_ms", device.last_seen_ms},
      {"lifetime_s", device.lifetime_s},
      {"location", device.location},
      {"registration", nullptr},
      {"attestation", device.attestation ? attestation_view(*device.attestation) : json(nullptr)},
      {"calibration", device.calibration ? calibration_view(*device.calibration) : json(nullptr)},
      {"calibration_reset",
       device.recalibration ? recalibration_view(*device.recalibration) : json(nullptr)},
  };
  if (!device.registration.empty()) {
    const auto decoded = registration::decode(device.registration);
    if (decoded.ok()) {
      view["registration"] = registration_view(*decoded);
    } else {
      // Stored by an older build or damaged: say so rather than hide the device.
      view["registration_error"] = decoded.status().name();
    }
  }
  return view;
}

json keys_view(const DeviceKeys& keys) {
  return {
      {"psk", to_hex(keys.psk)},
      {"model_kek", to_hex(keys.model_kek)},
      {"attestation_key", to_hex(keys.attestation)},
  };
}

json model_view(const StoredModel& model) {
  return {
      {"digest", model.digest},
      {"size", model.size},
      {"model_id", model.model_id},
      {"created_ms", model.created_ms},
  };
}

json deployment_view(const StoredDeployment& deployment) {
  return {
      {"id", deployment.id},
      {"device", deployment.device_id},
      {"model_id", deployment.model_id},
      {"version", deployment.version},
      {"model_digest", deployment.model_digest},
      {"role", deployment_role_name(deployment.role)},
      {"state", deployment_state_name(deployment.state)},
      {"reason", deployment.reason},
      {"created_ms", deployment.created_ms},
      {"updated_ms", deployment.updated_ms},
  };
}

json telemetry_view(const TelemetryRecord& record) {
  json value;
  switch (record.kind) {
    case senml::ValueKind::kNumber:
      value = record.number;
      break;
    case senml::ValueKind::kString:
      value = record.text;
      break;
    case senml::ValueKind::kBool:
      value = record.boolean;
      break;
    case senml::ValueKind::kData:
      value = {{"hex", to_hex(record.data)}};
      break;
    case senml::ValueKind::kNone:
      value = nullptr;
      break;
  }
  return {
      {"id", record.id},           {"device", record.device_id}, {"seq", record.seq},
      {"name", record.name},       {"time", record.time},        {"unit", record.unit},
      {"value", std::move(value)},
  };
}

json event_view(const StoredEvent& event) {
  return {
      {"id", event.id},     {"time_ms", event.time_ms}, {"device", event.device_id},
      {"kind", event.kind}, {"detail", event.detail},
  };
}

json capture_view(const StoredCapture& capture) {
  json view = {
      {"id", capture.id},
      {"device", capture.device_id},
      {"kind", capture.kind},
      {"label", capture.label},
      {"origin", capture_origin_name(capture.origin)},
      {"origin_event", capture.origin_event == 0 ? json(nullptr) : json(capture.origin_event)},
      {"state", capture_state_name(capture.state)},
      {"windows_requested", capture.windows_requested},
      {"windows_received", capture.windows_received},
      {"chunks_received", capture.chunks_received},
      {"created_ms", capture.created_ms},
      {"completed_ms", capture.completed_ms == 0 ? json(nullptr) : json(capture.completed_ms)},
      {"reason", capture.reason},
  };
  if (capture.board.empty()) {
    view["shape"] = nullptr;
  } else {
    view["shape"] = {
        {"board", capture.board},
        {"sample_rate_hz", capture.sample_rate_hz},
        {"window_length", capture.window_length},
        {"axes", capture.axes},
        {"feature_count", capture.feature_count},
    };
  }
  return view;
}

json drift_view(const std::string& device_id, const drift::State& state, std::int64_t updated_ms) {
  json view = tracker_view(state.primary_tracker());
  view["device"] = device_id;
  view["summaries_received"] = state.summaries;
  view["updated_ms"] = updated_ms == 0 ? json(nullptr) : json(updated_ms);
  view["baseline"] = state.baseline.kind == drift::ReferenceKind::kNone
                         ? json(nullptr)
                         : tracker_view(state.baseline);
  if (state.primary == drift::ReferenceKind::kNone) {
    view["reason"] =
        state.summaries == 0
            ? "no feature summary received yet (a node sends one every stats_every windows)"
            : "nothing to compare with: the device's active model has no training baseline "
              "and no calibration for it was reported (or their feature count differs from the "
              "summaries')";
  }
  return view;
}

}  // namespace spindle::gateway::api
