#include "spindle/calibration/normalization.hpp"

#include <algorithm>
#include <cmath>

#include "spindle/protocol/feature_pairs.hpp"

namespace spindle::calibration {

float floored_stddev(float mean, float stddev) {
  return std::max({stddev, kRelativeStddevFloor * std::abs(mean), kAbsoluteStddevFloor});
}

Result<Normalization> Normalization::from_baseline(
    std::span<const manifest::FeatureBaseline> baseline) {
  if (baseline.empty()) return Error::kInvalidValue;
  if (baseline.size() > kMaxFeatures) return Error::kOversize;
  Normalization n;
  n.count = baseline.size();
  for (std::size_t i = 0; i < n.count; ++i) {
    const manifest::FeatureBaseline& b = baseline[i];
    if (!std::isfinite(b.mean) || !std::isfinite(b.stddev) || b.stddev < 0.0F) {
      return Error::kInvalidValue;
    }
    n.mean[i] = b.mean;
    n.stddev[i] = b.stddev;
  }
  return n;
}

Result<Normalization> Normalization::from_stats(const features::RunningStats& stats) {
  if (stats.count() == 0 || stats.features() == 0) return Error::kInvalidValue;
  Normalization n;
  n.count = stats.features();
  for (std::size_t i = 0; i < n.count; ++i) {
    n.mean[i] = stats.mean(i);
    n.stddev[i] = stats.stddev(i);
  }
  return n;
}

Status Normalization::apply(std::span<const float> in, std::span<float> out) const {
  if (in.size() != count || out.size() != count) return Error::kSizeMismatch;
  for (std::size_t i = 0; i < count; ++i)
    out[i] = (in[i] - mean[i]) / floored_stddev(mean[i], stddev[i]);
  return kOk;
}

Result<std::span<const std::uint8_t>> Normalization::pack(std::span<std::uint8_t> out) const {
  return feature_pairs::pack({mean.data(), count}, {stddev.data(), count}, out);
}

}  // namespace spindle::calibration
