#include "spindle/modelkit/centroids.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "graph_private.hpp"

namespace spindle::modelkit {
namespace {

using container::ElementType;

Status check(const FloatCentroids& model) {
  if (model.depth == 0 || model.depth > kMaxWidth || model.centroids.empty() ||
      model.centroids.size() % model.depth != 0 || model.count() > kMaxCentroids ||
      !detail::finite(model.centroids)) {
    return Error::kInvalidValue;
  }
  return check_standardization(model.standardization, model.depth);
}

}  // namespace

Result<float> nearest_distance(const FloatCentroids& model, std::span<const float> x) {
  SPINDLE_TRY(check(model));
  if (x.size() != model.depth) return Error::kSizeMismatch;
  const std::vector<float> z = standardized(model.standardization, x);
  float best = std::numeric_limits<float>::infinity();
  for (std::size_t k = 0; k < model.count(); ++k) {
    const float* c = model.centroids.data() + k * model.depth;
    float sum = 0.0f;
    for (std::size_t d = 0; d < model.depth; ++d)
      sum += (z[d] - c[d]) * (z[d] - c[d]);
    best = std::min(best, sum);
  }
  return best;
}

Result<PackedCentroids> pack_centroids(const FloatCentroids& model, float input_max_abs) {
  SPINDLE_TRY(check(model));
  if (!std::isfinite(input_max_abs) || !(input_max_abs > 0.0f)) return Error::kInvalidValue;
  const std::size_t count = model.count();
  const std::size_t depth = model.depth;

  PackedCentroids packed;
  packed.dequantized = model;
  detail::Graph graph;
  graph.bytes.reserve(2);
  graph.scales.reserve(1);
  const std::uint8_t input_float = detail::add_input(graph, model.standardization, depth);
  const detail::QuantParams input_q{input_max_abs / 127.0f, 0};
  const std::uint8_t input_int8 = graph.add({ElementType::kInt8,
                                             1,
                                             {detail::dim(depth), 0, 0, 0},
                                             input_q.zero_point,
                                             input_q.scale,
                                             {},
                                             {}});
  graph.add(container::quantize(input_float, input_int8));

  std::vector<float>& scales = graph.scales.emplace_back(count);
  std::vector<std::uint8_t>& codes = graph.bytes.emplace_back(count * depth);
  for (std::size_t k = 0; k < count; ++k) {
    float* row = packed.dequantized.centroids.data() + k * depth;
    float row_max = 1e-12f;  // keeps a centroid at the origin's scale positive
    for (std::size_t d = 0; d < depth; ++d)
      row_max = std::max(row_max, std::abs(row[d]));
    scales[k] = row_max / 127.0f;
    for (std::size_t d = 0; d < depth; ++d) {
      const float q = std::round(row[d] / scales[k]);
      codes[k * depth + d] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
      row[d] = q * scales[k];
    }
  }
  const std::uint8_t centroids = graph.add({ElementType::kInt8,
                                            2,
                                            {detail::dim(count), detail::dim(depth), 0, 0},
                                            0,
                                            0.0f,
                                            codes,
                                            scales});
  graph.score = graph.add({ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}});
  graph.add(container::nearest_centroid(input_int8, centroids, graph.score,
                                        container::DistanceMetric::kSquaredEuclidean));

  SPINDLE_TRY_ASSIGN(detail::Written written,
                     detail::write_checked(graph, container::ModelKind::kCentroid));
  packed.container = std::move(written.container);
  packed.arena_bytes = written.arena_bytes;
  return packed;
}

}  // namespace spindle::modelkit
