// Per-feature running mean, standard deviation, minimum and maximum over the windows of a
// telemetry period, for drift checks against the model's training baseline (manifest key
// 10: mean and population standard deviation per feature; telemetry f<i>_mean, f<i>_std).
// Welford's update, and Chan et al.'s pairwise combination so that statistics kept apart
// (per thread, per period) can be merged exactly. Accumulates in double: on a Cortex-M4F
// that is software floating point, but only once per feature per window.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::features {

class RunningStats {
 public:
  RunningStats() = default;  // zero features

  // Errors: kInvalidValue for more than kMaxFeatures features.
  static Result<RunningStats> create(std::size_t features);

  // Adds one feature vector. Nothing is added on an error.
  // Errors: kSizeMismatch (features.size() != features()), kInvalidValue (not finite).
  Status add(std::span<const float> features);

  // Folds `other` in, as if its vectors had been added here.
  // Errors: kSizeMismatch (a different number of features).
  Status merge(const RunningStats& other);

  // Forgets every vector (a new telemetry period); keeps the number of features.
  void clear();

  std::size_t features() const { return features_; }
  std::uint64_t count() const { return count_; }
  // Statistics of feature i (i < features()); 0 when nothing has been added.
  float mean(std::size_t i) const;
  float variance(std::size_t i) const;  // population variance, sum (x - mean)^2 / count
  float stddev(std::size_t i) const;
  float min(std::size_t i) const;
  float max(std::size_t i) const;

 private:
  std::size_t features_ = 0;
  std::uint64_t count_ = 0;
  std::array<double, kMaxFeatures> mean_{};
  std::array<double, kMaxFeatures> m2_{};  // sum of squared deviations from the mean
  std::array<float, kMaxFeatures> min_{};
  std::array<float, kMaxFeatures> max_{};
};

}  // namespace spindle::features
