#include "spindle/app/idle_detector.hpp"

#include <cmath>

#include "spindle/features/feature_extractor.hpp"

namespace spindle::app {

void IdleDetector::configure(std::uint32_t level_mg, std::uint32_t windows) {
  level_g_ = static_cast<float>(level_mg) / 1000.0F;
  windows_ = windows == 0 ? 1 : windows;
  quiet_ = 0;
  idle_ = false;
}

float IdleDetector::overall_rms(std::span<const float> features, std::size_t axes) {
  float mean_square = 0.0F;
  for (std::size_t axis = 0; axis < axes; ++axis) {
    const float rms = features[features::feature_index(axis, features::AxisFeature::kRms)];
    mean_square += rms * rms;
  }
  return std::sqrt(mean_square);
}

void IdleDetector::observe(std::span<const float> features, std::size_t axes) {
  const bool whole =
      axes >= 1 && axes <= features::kMaxAxes && features.size() >= features::feature_count(axes);
  // NaN (a window the extractor could not make sense of) is not quiet either.
  const bool quiet = whole && overall_rms(features, axes) < level_g_;
  if (!quiet) {
    quiet_ = 0;
    idle_.store(false, std::memory_order_relaxed);
    return;
  }
  if (quiet_ < windows_) ++quiet_;
  if (quiet_ >= windows_) idle_.store(true, std::memory_order_relaxed);
}

}  // namespace spindle::app
