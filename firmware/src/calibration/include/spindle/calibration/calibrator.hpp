// A calibration of one model on one machine, as a pure step function over explicit state
// (docs/firmware/calibration.md): every window goes through add(), which learns the
// machine's feature statistics for the manifest's normalization_windows, then collects the
// scores the model gives with that normalization for threshold_windows and sets the
// threshold from them. The caller persists progress() whenever add() says the phase moved.
//
// Memory: a features::RunningStats (about 1.3 KB for 64 features) and the highest
// kMaxCalibrationTail scores (256 B); nothing else, so any board can calibrate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/calibration/normalization.hpp"
#include "spindle/features/running_stats.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::calibration {

using Phase = status_report::CalibrationState;
using status_report::ThresholdClamp;

// What survives a reset: where the calibration stands and what it learned so far. A phase
// in progress restarts from its beginning after a reset (its windows are not kept).
struct Progress {
  Phase phase = Phase::kNormalizing;
  std::uint32_t generation = 1;    // calibrations of this model on this machine, 1 = first
  std::uint32_t windows_done = 0;  // windows of completed phases
  Normalization normalization;     // learned; valid from kThresholding on
  float threshold = 0.0F;          // set when kCalibrated
  ThresholdClamp clamp = ThresholdClamp::kNone;
};

class Calibrator {
 public:
  Calibrator() = default;

  // A new calibration (generation `generation`) for a model with `feature_count` inputs.
  // Errors: kInvalidValue (feature_count 0 or above kMaxFeatures, generation 0, parameters
  // the manifest decoder would refuse).
  static Result<Calibrator> begin(const manifest::Calibration& params, std::size_t feature_count,
                                  std::uint32_t generation);
  // Continues from persisted progress. Errors: as begin(), and kInvalidValue when the
  // progress does not fit the parameters (feature count, windows).
  static Result<Calibrator> resume(const manifest::Calibration& params, std::size_t feature_count,
                                   const Progress& progress);

  // One window: its raw features and the score the model gave it after normalization()
  // (ignored while normalizing). Returns true when the phase moved on (persist progress()).
  // Errors: kInvalidState (already calibrated), kSizeMismatch (feature count),
  // kInvalidValue (a feature or score that is not finite; nothing is added).
  Result<bool> add(std::span<const float> features, float score);

  const Progress& progress() const { return progress_; }
  Phase phase() const { return progress_.phase; }
  bool calibrated() const { return progress_.phase == Phase::kCalibrated; }
  // Windows of this calibration so far, and in all.
  std::uint32_t windows_done() const;
  std::uint32_t windows_total() const;

 private:
  Status enter_thresholding();
  void finish_threshold();

  manifest::Calibration params_{};
  std::size_t feature_count_ = 0;
  Progress progress_{};
  features::RunningStats stats_;  // while normalizing
  std::uint32_t phase_windows_ = 0;
  std::size_t tail_capacity_ = 0;  // manifest::calibration_tail()
  std::size_t tail_size_ = 0;
  std::array<float, manifest::kMaxCalibrationTail> tail_{};  // highest scores, ascending
};

// The quantile the calibrator computes from the highest scores it kept: `tail` ascending,
// the top calibration_tail(windows, q) of `windows` scores. Linear interpolation between
// order statistics at q * (windows - 1), as the trainer's quantile(). Exposed for tests.
float tail_quantile(std::span<const float> tail, std::uint32_t windows, float q);

}  // namespace spindle::calibration
