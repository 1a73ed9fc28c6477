#include "spindle/features/time_features.hpp"

#include <algorithm>
#include <cmath>

namespace spindle::features {

Result<TimeFeatures> time_features(std::span<const float> samples) {
  if (samples.empty()) return Error::kInvalidValue;
  // Summing deviations from the first sample keeps a large offset (gravity on a MEMS axis)
  // out of the float sum: a constant window then has exactly its value as mean.
  const float shift = samples[0];
  float sum = 0.0F;
  for (const float v : samples) {
    if (!std::isfinite(v)) return Error::kInvalidValue;
    sum += v - shift;
  }
  const float count = static_cast<float>(samples.size());
  TimeFeatures f;
  f.mean = shift + sum / count;

  // Two passes: central moments of the deviations, which stays accurate in float.
  float m2 = 0.0F;
  float m3 = 0.0F;
  float m4 = 0.0F;
  for (const float v : samples) {
    const float d = v - f.mean;
    const float d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
    f.peak = std::max(f.peak, std::fabs(d));
  }
  m2 /= count;
  m3 /= count;
  m4 /= count;
  f.rms = std::sqrt(m2);
  if (m2 > kConstantVariance) {
    f.crest = f.peak / f.rms;
    f.kurtosis = m4 / (m2 * m2);
    f.skewness = m3 / (m2 * f.rms);
  }
  return f;
}

}  // namespace spindle::features
