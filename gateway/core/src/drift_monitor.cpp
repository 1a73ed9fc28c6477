#include "spindle/gateway/drift_monitor.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::gateway {
namespace {

constexpr std::string_view kStatsName = "feature_stats";
constexpr std::string_view kWindowsName = "feature_windows";

struct ActiveModel {
  std::string model_id;
  std::uint64_t version = 0;
};

bool running(DeploymentState state) {
  return state == DeploymentState::kActivated || state == DeploymentState::kConfirmed;
}

std::optional<ActiveModel> registered_active_model(const StoredDevice& device) {
  if (device.registration.empty()) return std::nullopt;
  const auto decoded = registration::decode(device.registration);
  if (!decoded.ok() || decoded->active_slot == registration::kNoActiveSlot) return std::nullopt;
  const auto& slot = decoded->slots[static_cast<std::size_t>(decoded->active_slot)];
  return ActiveModel{std::string(slot.model_id), slot.version};
}

// The training baseline in a deployment's signed manifest (stored after its signature was
// checked, so it is only decoded here).
drift::Reference baseline_of(const StoredDeployment& deployment) {
  drift::Reference reference;
  const auto sign1 = cose::decode(deployment.manifest);
  if (!sign1.ok()) return reference;
  const auto decoded = manifest::decode(sign1->payload);
  if (!decoded.ok() || decoded->baseline_count == 0) return reference;
  reference.kind = drift::ReferenceKind::kBaseline;
  reference.model_id = deployment.model_id;
  reference.version = deployment.version;
  reference.per_machine = decoded->has_calibration;
  for (std::size_t i = 0; i < decoded->baseline_count; ++i) {
    reference.features.push_back({decoded->baseline[i].mean, decoded->baseline[i].stddev});
  }
  return reference;
}

}  // namespace

std::vector<drift::Summary> feature_summaries(std::span<const TelemetryRecord> records) {
  std::vector<drift::Summary> summaries;
  for (const TelemetryRecord& record : records) {
    if (record.name != kStatsName || record.kind != senml::ValueKind::kData) continue;
    const auto pairs = drift::unpack_pairs(record.data);
    if (!pairs.ok()) continue;
    drift::Summary summary{record.seq, record.time, 0, *pairs};
    for (const TelemetryRecord& other : records) {
      if (other.name == kWindowsName && other.seq == record.seq && other.time == record.time &&
          other.kind == senml::ValueKind::kNumber && other.number >= 0 &&
          other.number < 4294967296.0) {
        summary.windows = static_cast<std::uint32_t>(other.number);
      }
    }
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

Result<DriftReferences> drift_references(Store& store, std::string_view device_id) {
  SPINDLE_TRY_ASSIGN(const StoredDevice device, store.get_device(device_id));
  SPINDLE_TRY_ASSIGN(const std::vector<StoredDeployment> deployments,
                     store.device_deployments(device_id));  // newest first
  std::optional<ActiveModel> active;
  const StoredDeployment* active_deployment = nullptr;
  for (const StoredDeployment& deployment : deployments) {
    if (running(deployment.state)) {
      active = ActiveModel{deployment.model_id, deployment.version};
      active_deployment = &deployment;
      break;
    }
  }
  if (!active) {
    active = registered_active_model(device);
    if (active) {
      for (const StoredDeployment& deployment : deployments) {
        if (deployment.model_id == active->model_id && deployment.version == active->version) {
          active_deployment = &deployment;
          break;
        }
      }
    }
  }
  DriftReferences references;
  if (active_deployment != nullptr) references.baseline = baseline_of(*active_deployment);
  if (active && device.calibration) {
    const StoredCalibration& c = *device.calibration;
    const bool learned = c.state == status_report::CalibrationState::kThresholding ||
                         c.state == status_report::CalibrationState::kCalibrated;
    const auto pairs = drift::unpack_pairs(c.normalization);
    if (learned && pairs.ok() && c.model_id == active->model_id && c.version == active->version) {
      references.calibration = {drift::ReferenceKind::kCalibration, c.model_id, c.version,
                                c.generation, *pairs};
    }
  }
  return references;
}

Result<drift::State> load_drift_state(Store& store, std::string_view device_id) {
  SPINDLE_TRY_ASSIGN(const StoredDriftState stored, store.get_drift_state(device_id));
  auto state = drift::decode_state(stored.state);
  if (!state.ok()) {
    spdlog::error("drift: the stored drift state of {} does not decode ({})", device_id,
                  state.status().name());
    return Error::kIoError;
  }
  return state;
}

namespace {

// The policy's answer to a device that started drifting with event `drift_event`.
Status act_on_drift(Store& store, std::string_view device_id, const drift::State& state,
                    std::int64_t drift_event, const DriftCaptureOptions& options,
                    std::int64_t now_ms, DriftOutcome& outcome) {
  if (options.policy != DriftPolicy::kCapture) return kOk;
  SPINDLE_TRY_ASSIGN(const std::vector<StoredCapture> captures,
                     store.list_captures(device_id, false));
  const DriftCaptureDecision decision = decide_drift_capture(options, captures, now_ms);
  const std::string cause = "drift event " + std::to_string(drift_event);
  switch (decision.outcome) {
    case DriftCaptureOutcome::kNoAction:
      return kOk;
    case DriftCaptureOutcome::kSkippedOpen:
    case DriftCaptureOutcome::kSkippedCap:
      (decision.outcome == DriftCaptureOutcome::kSkippedOpen ? outcome.skipped_open
                                                             : outcome.skipped_cap) += 1;
      return store
          .append_event(device_id, "drift-capture-skipped",
                        "no capture for " + cause + ": " + decision.reason, now_ms)
          .status();
    case DriftCaptureOutcome::kOpen:
      break;
  }
  StoredCapture capture;
  capture.device_id = std::string(device_id);
  capture.kind = capture::kind_name(capture::Kind::kFeatures);
  capture.label = drift_capture_label(state.primary_tracker());
  capture.windows_requested = options.windows;
  capture.origin = CaptureOrigin::kDrift;
  capture.origin_event = drift_event;
  capture.created_ms = now_ms;
  SPINDLE_TRY_ASSIGN(capture, store.add_capture(capture));
  SPINDLE_TRY(store.append_event(
      device_id, "drift-capture",
      "capture " + std::to_string(capture.id) + ": " + std::to_string(capture.windows_requested) +
          " " + capture.kind + " windows, label \"" + capture.label + "\", for " + cause + " (" +
          std::to_string(decision.recent + 1) + " of " + std::to_string(options.daily_cap) +
          " automatic captures in 24 h)",
      now_ms));
  outcome.captures.push_back(std::move(capture));
  return kOk;
}

}  // namespace

Result<DriftOutcome> observe_summaries(Store& store, std::string_view device_id,
                                       std::span<const drift::Summary> summaries,
                                       const drift::Options& options, std::int64_t now_ms,
                                       const DriftCaptureOptions& captures) {
  DriftOutcome outcome;
  if (summaries.empty()) return outcome;
  drift::State state;
  const auto stored = store.get_drift_state(device_id);
  if (stored.ok()) {
    // As the fleet's counts had it (StoredDriftState::drifting), even if the bytes are lost.
    outcome.was_drifting = stored->drifting;
    auto decoded = drift::decode_state(stored->state);
    if (decoded.ok()) {
      state = std::move(decoded).value();
    } else {
      // Bytes of another build, or damaged: starting over loses the streaks, not telemetry.
      spdlog::warn("drift: the stored drift state of {} does not decode ({}): starting over",
                   device_id, decoded.status().name());
    }
  } else if (stored.status() != Status(Error::kNotFound)) {
    return stored.status();
  }
  SPINDLE_TRY_ASSIGN(const DriftReferences references, drift_references(store, device_id));
  for (const drift::Summary& summary : summaries) {
    drift::StepResult result =
        drift::step(state, references.calibration, references.baseline, summary, options, now_ms);
    if (!result.stepped) continue;
    outcome.stepped += 1;
    for (const drift::Event& event : result.events) {
      SPINDLE_TRY_ASSIGN(const std::int64_t event_id,
                         store.append_event(device_id, event.kind, event.detail, now_ms));
      if (event.kind == "drift") {
        outcome.started += 1;
        SPINDLE_TRY(
            act_on_drift(store, device_id, result.state, event_id, captures, now_ms, outcome));
      } else {
        outcome.cleared += 1;
      }
    }
    state = std::move(result.state);
  }
  outcome.drifting = state.drifting();
  if (outcome.stepped == 0) return outcome;
  SPINDLE_TRY(store.save_drift_state(
      {std::string(device_id), state.drifting(), drift::encode_state(state), now_ms}));
  return outcome;
}

}  // namespace spindle::gateway
