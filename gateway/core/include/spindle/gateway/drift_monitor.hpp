// Drift monitoring against the store (docs/gateway/drift.md): finds a device's drift
// references where the gateway keeps them and steps its stored drift state
// (gateway/core/drift.hpp) with the feature summaries of a telemetry batch. It runs inside
// the writer's transaction, so the telemetry, the new state and its events commit together
// and the state survives a restart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "spindle/gateway/capture_policy.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/gateway/store.hpp"

namespace spindle::gateway {

// The feature summaries of a resolved batch: every "feature_stats" data record, with the
// "feature_windows" of the same seq and time (0 when absent). A record whose bytes are not
// (mean, stddev) float32 pairs is left out (it is still stored as telemetry).
std::vector<drift::Summary> feature_summaries(std::span<const TelemetryRecord> records);

// A device's references as the store holds them.
//   - Active model: the newest of its deployments the node reported activated or confirmed;
//     failing that, the model in the active slot of its last registration.
//   - Baseline: that model's training baseline, from the manifest of the device's
//     deployment of it (none when that manifest carries no baseline).
//   - Calibration: the device's latest calibration report when it is for the active model,
//     thresholding or calibrated, with its normalization.
struct DriftReferences {
  drift::Reference calibration;
  drift::Reference baseline;
};
// Errors: kNotFound (no such device), kIoError.
Result<DriftReferences> drift_references(Store& store, std::string_view device_id);

// What stepping a batch's summaries did.
struct DriftOutcome {
  std::size_t stepped = 0;  // summaries newer than the last one stepped
  std::size_t started = 0;  // "drift" events appended
  std::size_t cleared = 0;  // "drift-cleared" events appended
  bool was_drifting = false;
  bool drifting = false;
  // The drift capture policy's work (capture_policy.hpp): captures opened (state kRequested,
  // to be asked of the node once committed), and drift starts it skipped.
  std::vector<StoredCapture> captures;
  std::size_t skipped_open = 0;
  std::size_t skipped_cap = 0;
};

// Loads the device's drift state (a fresh one before the first summary, or when the stored
// bytes no longer decode: logged), steps it with each summary in order, appends its events
// and saves it. Nothing is written when no summary is newer than the state's last.
// Each "drift" event (the device starts drifting) is put to decide_drift_capture: under
// policy kCapture the capture it allows is added (features, origin kDrift, origin_event the
// drift event's id, labelled drift_capture_label) with a "drift-capture" event, a capture
// it refuses leaves a "drift-capture-skipped" event. All of it is written in the caller's
// transaction, so a restart neither loses nor repeats a capture.
// Errors: the store's (kNotFound for an unknown device, kIoError).
Result<DriftOutcome> observe_summaries(Store& store, std::string_view device_id,
                                       std::span<const drift::Summary> summaries,
                                       const drift::Options& options, std::int64_t now_ms,
                                       const DriftCaptureOptions& captures = {});

// The stored drift state of a device. Errors: kNotFound (none yet), kIoError (also when
// the stored bytes do not decode).
Result<drift::State> load_drift_state(Store& store, std::string_view device_id);

}  // namespace spindle::gateway
