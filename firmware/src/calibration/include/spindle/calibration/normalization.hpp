// The per-feature affine map from what the node measures into the standardized space a
// per-machine model was trained in: z = (x - mean) / stddev. Before a node has calibrated,
// mean and stddev are the manifest's training baseline (the fleet's statistics); after, its
// own machine's (docs/firmware/calibration.md).
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "spindle/features/running_stats.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/status.hpp"

namespace spindle::calibration {

// A feature that barely moves on a healthy machine would get an enormous 1/stddev, and any
// change in it within sensor noise would look like a fault. So the stddev a normalization
// divides by is at least kRelativeStddevFloor of the feature's magnitude and never below
// kAbsoluteStddevFloor. The trainer standardizes its per-machine training data with the
// same rule, so a model sees the same numbers on the node as in training.
inline constexpr float kRelativeStddevFloor = 0.05F;
inline constexpr float kAbsoluteStddevFloor = 1e-6F;
float floored_stddev(float mean, float stddev);

struct Normalization {
  std::size_t count = 0;
  std::array<float, kMaxFeatures> mean{};
  std::array<float, kMaxFeatures> stddev{};  // as measured (the floor applies in apply())

  // Errors: kInvalidValue (no features, a value that is not finite, a negative stddev),
  // kOversize (more than kMaxFeatures).
  static Result<Normalization> from_baseline(std::span<const manifest::FeatureBaseline> baseline);
  // Errors: kInvalidValue (nothing added to `stats`, or no features).
  static Result<Normalization> from_stats(const features::RunningStats& stats);

  // out[i] = (in[i] - mean[i]) / floored_stddev(mean[i], stddev[i]). `out` may be `in`.
  // Errors: kSizeMismatch (in or out not count() long).
  Status apply(std::span<const float> in, std::span<float> out) const;

  // float32 little-endian (mean, stddev) pairs, the packing of telemetry's feature_stats
  // and of the calibration report. Errors: kBufferTooSmall (out shorter than count * 8).
  Result<std::span<const std::uint8_t>> pack(std::span<std::uint8_t> out) const;
};

}  // namespace spindle::calibration
