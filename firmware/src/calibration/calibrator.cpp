#include "spindle/calibration/calibrator.hpp"

#include <algorithm>
#include <cmath>

namespace spindle::calibration {

float tail_quantile(std::span<const float> tail, std::uint32_t windows, float q) {
  if (tail.empty() || windows == 0) return 0.0F;
  const double at = static_cast<double>(q) * static_cast<double>(windows - 1);
  const double frac = at - std::floor(at);
  const float lower = tail[0];
  const float upper = tail.size() > 1 ? tail[1] : tail[0];
  return lower + static_cast<float>(frac) * (upper - lower);
}

Result<Calibrator> Calibrator::begin(const manifest::Calibration& params, std::size_t feature_count,
                                     std::uint32_t generation) {
  if (feature_count == 0 || feature_count > kMaxFeatures || generation == 0) {
    return Error::kInvalidValue;
  }
  SPINDLE_TRY(manifest::check_calibration(params));
  Calibrator c;
  c.params_ = params;
  c.feature_count_ = feature_count;
  c.progress_.generation = generation;
  c.tail_capacity_ =
      manifest::calibration_tail(params.threshold_windows, params.threshold_quantile);
  SPINDLE_TRY_ASSIGN(c.stats_, features::RunningStats::create(feature_count));
  return c;
}

Result<Calibrator> Calibrator::resume(const manifest::Calibration& params,
                                      std::size_t feature_count, const Progress& progress) {
  SPINDLE_TRY_ASSIGN(Calibrator c, begin(params, feature_count, progress.generation));
  const std::uint32_t all = params.normalization_windows + params.threshold_windows;
  switch (progress.phase) {
    case Phase::kNormalizing:
      if (progress.windows_done != 0) return Error::kInvalidValue;
      break;
    case Phase::kThresholding:
      if (progress.windows_done != params.normalization_windows ||
          progress.normalization.count != feature_count) {
        return Error::kInvalidValue;
      }
      break;
    case Phase::kCalibrated:
      if (progress.windows_done != all || progress.normalization.count != feature_count ||
          !(progress.threshold >= params.threshold_min) ||
          !(progress.threshold <= params.threshold_max)) {
        return Error::kInvalidValue;
      }
      break;
    case Phase::kNone:
      return Error::kInvalidValue;
  }
  c.progress_ = progress;
  return c;
}

std::uint32_t Calibrator::windows_done() const {
  return progress_.phase == Phase::kCalibrated ? progress_.windows_done
                                               : progress_.windows_done + phase_windows_;
}

std::uint32_t Calibrator::windows_total() const {
  return params_.normalization_windows + params_.threshold_windows;
}

Result<bool> Calibrator::add(std::span<const float> features, float score) {
  if (progress_.phase == Phase::kCalibrated || progress_.phase == Phase::kNone) {
    return Error::kInvalidState;
  }
  if (features.size() != feature_count_) return Error::kSizeMismatch;
  if (progress_.phase == Phase::kNormalizing) {
    SPINDLE_TRY(stats_.add(features));
    if (++phase_windows_ < params_.normalization_windows) return false;
    SPINDLE_TRY(enter_thresholding());
    return true;
  }
  if (!std::isfinite(score)) return Error::kInvalidValue;
  // Keep the tail_capacity_ highest scores so far, ascending.
  if (tail_size_ < tail_capacity_) {
    std::size_t at = tail_size_++;
    while (at > 0 && tail_[at - 1] > score) {
      tail_[at] = tail_[at - 1];
      --at;
    }
    tail_[at] = score;
  } else if (score > tail_[0]) {
    std::size_t at = 0;  // tail_[0], the lowest, drops out
    while (at + 1 < tail_size_ && tail_[at + 1] < score) {
      tail_[at] = tail_[at + 1];
      ++at;
    }
    tail_[at] = score;
  }
  if (++phase_windows_ < params_.threshold_windows) return false;
  finish_threshold();
  return true;
}

Status Calibrator::enter_thresholding() {
  SPINDLE_TRY_ASSIGN(progress_.normalization, Normalization::from_stats(stats_));
  progress_.phase = Phase::kThresholding;
  progress_.windows_done = params_.normalization_windows;
  phase_windows_ = 0;
  tail_size_ = 0;
  return kOk;
}

void Calibrator::finish_threshold() {
  const float q = tail_quantile({tail_.data(), tail_size_}, params_.threshold_windows,
                                params_.threshold_quantile);
  float threshold = q * params_.threshold_margin;
  progress_.clamp = ThresholdClamp::kNone;
  if (!(threshold >= params_.threshold_min)) {  // also for NaN
    threshold = params_.threshold_min;
    progress_.clamp = ThresholdClamp::kLower;
  } else if (threshold > params_.threshold_max) {
    threshold = params_.threshold_max;
    progress_.clamp = ThresholdClamp::kUpper;
  }
  progress_.threshold = threshold;
  progress_.phase = Phase::kCalibrated;
  progress_.windows_done = params_.normalization_windows + params_.threshold_windows;
  phase_windows_ = 0;
}

}  // namespace spindle::calibration
