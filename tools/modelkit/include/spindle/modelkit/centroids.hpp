// spindle::modelkit — the centroid model (k-means, container model kind 2) in float, and its
// int8 container:
//
//   raw features -> [standardize] -> quantize -> nearest_centroid (squared Euclidean) -> score
//
// The score is the squared distance, in standardized units, from the window to the nearest
// centroid of the healthy data. Centroids are int8 with one scale per centroid (its largest
// |coordinate| / 127); the input is int8, symmetric, scale input_max_abs / 127.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/status.hpp"

namespace spindle::modelkit {

// The most centroids a container takes: a tensor dimension is a u16.
inline constexpr std::size_t kMaxCentroids = 0xffff;

struct FloatCentroids {
  Standardization standardization;
  std::size_t depth = 0;         // features per window
  std::vector<float> centroids;  // count x depth, row-major, standardized units
  std::size_t count() const { return depth == 0 ? 0 : centroids.size() / depth; }
};

// Squared Euclidean distance from standardized x to the nearest centroid.
// Errors: kInvalidValue (depth 0 or over kMaxWidth, no centroids, more than kMaxCentroids,
// a size that is not a multiple of depth, a non-finite centroid, a bad standardization),
// kSizeMismatch (x.size() != depth).
Result<float> nearest_distance(const FloatCentroids& model, std::span<const float> x);

struct PackedCentroids {
  std::vector<std::uint8_t> container;  // canonical, header arena_bytes filled in
  FloatCentroids dequantized;           // centroids replaced by what their int8 codes stand for
  std::uint32_t arena_bytes = 0;
};

// input_max_abs: the largest |standardized feature| the int8 input must represent (from the
// training windows). Errors: nearest_distance's kInvalidValue cases, an input_max_abs that is
// not finite and > 0, and the builder's, planner's and runtime's (see pack_autoencoder).
Result<PackedCentroids> pack_centroids(const FloatCentroids& model, float input_max_abs);

}  // namespace spindle::modelkit
