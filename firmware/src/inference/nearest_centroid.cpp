#include "spindle/inference/nearest_centroid.hpp"

#include <cmath>
#include <limits>

namespace spindle::inference {
namespace {

using container::DistanceMetric;

// Shared by eval and the reference; `real_x(d)` gives x's real values.
template <typename RealX>
float nearest_distance(const container::Tensor& centroids, DistanceMetric metric, RealX real_x) {
  const std::uint32_t count = centroids.dims[0];
  const std::uint32_t depth = centroids.dims[1];
  const TensorData c{centroids.type, centroids.element_count(), centroids.data.data()};
  float best = std::numeric_limits<float>::infinity();
  for (std::uint32_t k = 0; k < count; ++k) {
    float sum = 0.0f;
    for (std::uint32_t d = 0; d < depth; ++d) {
      const float diff = real_x(d) - real_value(centroids, c, std::size_t{k} * depth + d);
      sum += diff * diff;
    }
    if (sum < best) best = sum;
  }
  return metric == DistanceMetric::kEuclidean ? std::sqrt(best) : best;
}

}  // namespace

std::size_t nearest_centroid_persistent_bytes() {
  return Arena::aligned_size(sizeof(NearestCentroidData));
}

Result<NearestCentroidData*> init_nearest_centroid(Arena& arena) {
  return arena.create_persistent<NearestCentroidData>();
}

Status prepare_nearest_centroid(const container::Tensor& x, const container::Tensor& centroids,
                                DistanceMetric metric, NearestCentroidData& data) {
  data.metric = metric;
  data.centroid_count = centroids.dims[0];
  data.depth = centroids.dims[1];
  data.x = x;
  data.centroids = centroids;
  return kOk;
}

float eval_nearest_centroid(const NearestCentroidData& data, const TensorData& x) {
  return nearest_distance(data.centroids, data.metric,
                          [&](std::uint32_t d) { return real_value(data.x, x, d); });
}

float reference_nearest_centroid(const container::Tensor& x, const container::Tensor& centroids,
                                 DistanceMetric metric, FloatValues x_values) {
  return nearest_distance(centroids, metric,
                          [&](std::uint32_t d) { return real_value(x, x_values, d); });
}

namespace {

DistanceMetric metric_of(const OpTensors& t) {
  return static_cast<DistanceMetric>(t.op.params[0]);
}

std::size_t persistent_bytes(const OpTensors&) {
  return nearest_centroid_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(NearestCentroidData * data, init_nearest_centroid(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_nearest_centroid(t.inputs[0], t.inputs[1], metric_of(t),
                                  *static_cast<NearestCentroidData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  b.output.float32()[0] =
      eval_nearest_centroid(*static_cast<const NearestCentroidData*>(op_data), b.inputs[0]);
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  b.output[0] = reference_nearest_centroid(t.inputs[0], t.inputs[1], metric_of(t), b.inputs[0]);
}

}  // namespace

const KernelRegistration kNearestCentroidKernel = {persistent_bytes, init, prepare, eval,
                                                   reference};

}  // namespace spindle::inference
