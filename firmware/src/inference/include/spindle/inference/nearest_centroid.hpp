// Nearest centroid (container opcode 6), the centroid model's score: the distance from x
// (D elements, int8 or float32) to the nearest of K centroids (a [K, D] int8 or float32
// constant, int8 per tensor or per centroid), squared Euclidean (params[0] = 0) or
// Euclidean (1):  min_k Σ_d (real_x[d] − real_c[k][d])²  (square-rooted for Euclidean).
// The distance is taken in float on dequantized values: x's and the centroids' scales
// generally differ, so there is no exact integer form, and K·D is small.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct NearestCentroidData {
  container::DistanceMetric metric{};
  std::uint32_t centroid_count = 0;  // K
  std::uint32_t depth = 0;           // D
  container::Tensor x;
  container::Tensor centroids;
};

std::size_t nearest_centroid_persistent_bytes();
// Errors: kDoesNotFit.
Result<NearestCentroidData*> init_nearest_centroid(Arena& arena);
// Never fails (the parser checked types, shapes and the metric); returns a Status for the
// uniform kernel interface.
Status prepare_nearest_centroid(const container::Tensor& x, const container::Tensor& centroids,
                                container::DistanceMetric metric, NearestCentroidData& data);
float eval_nearest_centroid(const NearestCentroidData& data, const TensorData& x);
// The float reference on real values (empty FloatValues for a constant x).
float reference_nearest_centroid(const container::Tensor& x, const container::Tensor& centroids,
                                 container::DistanceMetric metric, FloatValues x_values);

extern const KernelRegistration kNearestCentroidKernel;

}  // namespace spindle::inference
