#include "spindle/features/running_stats.hpp"

#include <algorithm>
#include <cmath>

namespace spindle::features {

Result<RunningStats> RunningStats::create(std::size_t features) {
  if (features > kMaxFeatures) return Error::kInvalidValue;
  RunningStats stats;
  stats.features_ = features;
  return stats;
}

Status RunningStats::add(std::span<const float> features) {
  if (features.size() != features_) return Error::kSizeMismatch;
  for (const float v : features) {
    if (!std::isfinite(v)) return Error::kInvalidValue;
  }
  ++count_;
  const auto n = static_cast<double>(count_);
  for (std::size_t i = 0; i < features_; ++i) {
    const auto v = static_cast<double>(features[i]);
    const double delta = v - mean_[i];
    mean_[i] += delta / n;
    m2_[i] += delta * (v - mean_[i]);
    min_[i] = count_ == 1 ? features[i] : std::min(min_[i], features[i]);
    max_[i] = count_ == 1 ? features[i] : std::max(max_[i], features[i]);
  }
  return kOk;
}

Status RunningStats::merge(const RunningStats& other) {
  if (other.features_ != features_) return Error::kSizeMismatch;
  if (other.count_ == 0) return kOk;
  if (count_ == 0) {
    *this = other;
    return kOk;
  }
  const auto na = static_cast<double>(count_);
  const auto nb = static_cast<double>(other.count_);
  const double n = na + nb;
  for (std::size_t i = 0; i < features_; ++i) {
    const double delta = other.mean_[i] - mean_[i];
    mean_[i] += delta * nb / n;
    m2_[i] += other.m2_[i] + delta * delta * na * nb / n;
    min_[i] = std::min(min_[i], other.min_[i]);
    max_[i] = std::max(max_[i], other.max_[i]);
  }
  count_ += other.count_;
  return kOk;
}

void RunningStats::clear() {
  const std::size_t features = features_;
  *this = RunningStats{};
  features_ = features;
}

float RunningStats::mean(std::size_t i) const {
  return i < features_ ? static_cast<float>(mean_[i]) : 0.0F;
}

float RunningStats::variance(std::size_t i) const {
  if (i >= features_ || count_ == 0) return 0.0F;
  return static_cast<float>(m2_[i] / static_cast<double>(count_));
}

float RunningStats::stddev(std::size_t i) const {
  return std::sqrt(variance(i));
}

float RunningStats::min(std::size_t i) const {
  return i < features_ ? min_[i] : 0.0F;
}

float RunningStats::max(std::size_t i) const {
  return i < features_ ? max_[i] : 0.0F;
}

}  // namespace spindle::features
