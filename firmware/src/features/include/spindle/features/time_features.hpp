// Time-domain statistics of one axis' window, about its mean (the accelerometer's DC
// offset and gravity carry no information about the machine).
#pragma once

#include <span>

#include "spindle/status.hpp"

namespace spindle::features {

// Below this variance (g^2; an RMS of 1 micro-g, far under any MEMS noise floor) a window is
// constant and its shape factors (crest, kurtosis, skewness) are reported as 0.
inline constexpr float kConstantVariance = 1e-12F;

struct TimeFeatures {
  float mean = 0.0F;      // g
  float rms = 0.0F;       // sqrt(m2), g
  float peak = 0.0F;      // max |x - mean|, g
  float crest = 0.0F;     // peak / rms
  float kurtosis = 0.0F;  // m4 / m2^2 (3 for Gaussian noise, 1.5 for a sine)
  float skewness = 0.0F;  // m3 / m2^1.5
};                        // mk = (1/N) sum (x - mean)^k

// Errors: kInvalidValue for an empty window or a sample that is not finite.
Result<TimeFeatures> time_features(std::span<const float> samples);

}  // namespace spindle::features
