// Per-feature (mean, stddev) pairs as two messages carry them: telemetry's feature_stats
// (telemetry.cddl) and the calibration report's normalization (status_report.cddl).
// float32 little-endian, mean then stddev, in feature order; the byte order is stated
// here once, whatever the CPU's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/status.hpp"

namespace spindle::feature_pairs {

inline constexpr std::size_t kPairBytes = 8;

// Packs mean[i], stddev[i] for every feature into `out`. Errors: kSizeMismatch (the spans
// differ in length), kBufferTooSmall.
Result<std::span<const std::uint8_t>> pack(std::span<const float> mean,
                                           std::span<const float> stddev,
                                           std::span<std::uint8_t> out);

// Reads the pairs of `bytes` into mean and stddev and returns how many there were.
// Errors: kInvalidValue (not a whole number of pairs), kOversize (more pairs than the
// spans hold, or spans of different lengths hold).
Result<std::size_t> unpack(std::span<const std::uint8_t> bytes, std::span<float> mean,
                           std::span<float> stddev);

}  // namespace spindle::feature_pairs
