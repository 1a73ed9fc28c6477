// Drift scoring (docs/gateway/drift.md): how far a device's feature statistics have moved
// from a reference, as a pure step function over the device's explicit drift state.
//
// Every feature summary a node sends (telemetry "feature_windows" + "feature_stats": the
// per-feature mean and standard deviation over its last windows) is compared, feature by
// feature, with two references when they exist:
//   - the device's own calibration: the (mean, stddev) the node learned on its machine,
//     from its calibration report (thresholding or calibrated) for its active model;
//   - the active model's training baseline: the manifest's per-feature (mean, stddev).
// The primary reference (calibration when there is one, else the baseline) decides whether
// the device is drifting and raises the events; the other is tracked and reported only,
// since a model calibrated to its machine is expected to differ from the fleet's training
// data.
//
// Per feature, with sd' = max(sd_ref, relative_sd_floor * |mean_ref|, absolute_sd_floor):
//   mean_shift         z = (mean_t - mean_ref) / sd'
//   log_variance_ratio r = ln(max(sd_t, floor) / sd')
//   score              s = max(|z|, |r| / variance_scale)
// The device's score is its largest feature score. A feature starts drifting after
// raise_after consecutive summaries scoring above raise_score, and clears after
// clear_after consecutive summaries below clear_score (a summary in between resets both
// streaks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/gateway/store.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway::drift {

// The gateway's drift settings (spindle-gateway --drift-*; defaults in docs/gateway/drift.md).
struct Options {
  double raise_score = 3.0;         // a feature scoring above this counts toward drifting ...
  double clear_score = 1.5;         // ... below this toward clearing; in between, neither
  std::uint32_t raise_after = 3;    // consecutive summaries above raise_score
  std::uint32_t clear_after = 3;    // consecutive summaries below clear_score
  double variance_scale = 0.25;     // |ln(sd_t / sd_ref)| / variance_scale is the spread's score
  double relative_sd_floor = 0.02;  // sd_ref is at least this fraction of |mean_ref| ...
  double absolute_sd_floor = 1e-6;  // ... and at least this
};

// Errors: kInvalidValue (a score threshold not finite and positive, clear_score above
// raise_score, a streak of 0, a floor negative or not finite, a variance scale <= 0).
Status validate(const Options& options);

enum class ReferenceKind : std::uint8_t { kNone = 0, kCalibration = 1, kBaseline = 2 };
// "none", "calibration", "baseline".
const char* reference_name(ReferenceKind kind);

struct FeatureStats {
  double mean = 0.0;
  double stddev = 0.0;
};

// Per-feature (mean, stddev) from float32 little-endian pairs (the packing of telemetry's
// feature_stats and of a calibration's normalization). Errors: kInvalidValue (not a whole
// number of pairs, or none), kOversize (more than kMaxFeatures).
Result<std::vector<FeatureStats>> unpack_pairs(std::span<const std::uint8_t> bytes);

// What summaries are compared with, and where it came from.
struct Reference {
  ReferenceKind kind = ReferenceKind::kNone;
  std::string model_id;
  std::uint64_t version = 0;
  std::uint32_t generation = 0;  // the calibration's; 0 for a baseline
  std::vector<FeatureStats> features;
  // A baseline of a model that adapts per machine (its manifest carries a calibration): each
  // machine is expected to differ from the fleet's statistics, so this baseline is scored
  // and reported but never becomes the reference that raises drift events.
  bool per_machine = false;
};

// One feature summary of a node: over `windows` windows ending at reading time `time`.
struct Summary {
  std::uint64_t seq = 0;
  double time = 0.0;  // Unix seconds, the node's
  std::uint32_t windows = 0;
  std::vector<FeatureStats> features;
};

struct FeatureScore {
  bool compared = false;  // the last summary gave this feature a finite score
  double mean_shift = 0.0;
  double log_variance_ratio = 0.0;
  double score = 0.0;
  std::uint32_t above = 0;  // consecutive summaries above raise_score
  std::uint32_t below = 0;  // consecutive summaries below clear_score
  bool drifting = false;
};

// One feature compared with its reference (the formula above); `compared` false, and
// nothing else set, when an input is not finite.
FeatureScore score_feature(const FeatureStats& reference, const FeatureStats& observed,
                           const Options& options);

// The comparison of a device's summaries with one reference, since that reference appeared.
struct Tracker {
  ReferenceKind kind = ReferenceKind::kNone;  // kNone: no such reference (yet)
  std::string model_id;
  std::uint64_t version = 0;
  std::uint32_t generation = 0;
  std::uint64_t summaries = 0;  // compared with this reference
  double score = 0.0;           // of the last summary: its largest feature score
  bool drifting = false;        // some feature is drifting
  std::int64_t since_ms = 0;    // gateway time it started drifting; 0 when not drifting
  std::vector<FeatureScore> features;

  // Whether the tracker follows `reference` (same kind, model, version and generation).
  bool follows(const Reference& reference) const;
};

struct State {
  Tracker calibration;                           // against the device's calibration
  Tracker baseline;                              // against the active model's training baseline
  ReferenceKind primary = ReferenceKind::kNone;  // the tracker that decides and raises events
  std::uint64_t summaries = 0;                   // every summary stepped, whatever the reference
  // The newest summary stepped, (reading time, seq): an older or equal one (a retransmission)
  // is not stepped again.
  double last_time = 0.0;
  std::uint64_t last_seq = 0;

  // The primary tracker; a tracker of kind kNone when the primary is kNone.
  const Tracker& primary_tracker() const;
  bool drifting() const { return primary_tracker().drifting; }
};

// An event for the store's log: kind "drift" or "drift-cleared", and its detail.
struct Event {
  std::string kind;
  std::string detail;
};

struct StepResult {
  State state;
  bool stepped = false;  // false: the summary was not newer than the last one (state as given)
  std::vector<Event> events;
};

// Steps `state` with one summary against the references given (a reference of kind kNone,
// or one whose feature count differs from the summary's, is not compared with). A tracker
// whose reference changed (another model, version or calibration generation) starts over.
// Events: "drift" when the device (its primary tracker) starts drifting, "drift-cleared"
// when it stops or its primary reference changes while it was drifting.
StepResult step(const State& state, const Reference& calibration, const Reference& baseline,
                const Summary& summary, const Options& options, std::int64_t now_ms);

// The state as bytes for the store (StoredDriftState::state), versioned; and back.
// Errors (decode): kUnsupportedVersion, kTruncated, kTrailingBytes, kOversize, kInvalidValue.
Bytes encode_state(const State& state);
Result<State> decode_state(std::span<const std::uint8_t> bytes);

}  // namespace spindle::gateway::drift
