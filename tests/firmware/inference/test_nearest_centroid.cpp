#include "spindle/inference/nearest_centroid.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::DistanceMetric;
using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

float distance(const container::Tensor& x, const container::Tensor& centroids,
               DistanceMetric metric, const TensorData& x_data) {
  ArenaBuffer buffer(nearest_centroid_persistent_bytes());
  Arena arena(buffer.span());
  NearestCentroidData* data = *init_nearest_centroid(arena);
  EXPECT_TRUE(prepare_nearest_centroid(x, centroids, metric, *data).ok());
  return eval_nearest_centroid(*data, x_data);
}

TensorData float_data(const std::vector<float>& values) {
  return {ElementType::kFloat32, static_cast<std::uint32_t>(values.size()),
          reinterpret_cast<const std::uint8_t*>(values.data())};
}

TEST(NearestCentroid, MatchesTheContainerDocumentsGoldenModel) {
  // docs/protocol/container.md: one int8 centroid (5, -10), zero point -3, per-channel scale
  // 0.25, i.e. real (2, -1.75). From x = (1, 1): 1² + 2.75² = 8.5625.
  TestTensor x(ElementType::kFloat32, {2});
  TestTensor centroids(ElementType::kInt8, {1, 2}, 0.0f, -3);
  centroids.constant({5, static_cast<std::uint8_t>(-10)}).per_channel({0.25f});
  const std::vector<float> values = {1.0f, 1.0f};
  EXPECT_EQ(distance(x, centroids, DistanceMetric::kSquaredEuclidean, float_data(values)), 8.5625f);
  EXPECT_FLOAT_EQ(distance(x, centroids, DistanceMetric::kEuclidean, float_data(values)),
                  std::sqrt(8.5625f));
}

TEST(NearestCentroid, PicksTheNearestOfSeveralFloatCentroids) {
  TestTensor x(ElementType::kFloat32, {2});
  TestTensor centroids(ElementType::kFloat32, {3, 2});
  centroids.constant(test::float_bytes(std::vector<float>{0, 0, 3, 4, -1, -1}));
  EXPECT_FLOAT_EQ(
      distance(x, centroids, DistanceMetric::kSquaredEuclidean, float_data({3.5f, 4.0f})), 0.25f);
  EXPECT_FLOAT_EQ(distance(x, centroids, DistanceMetric::kEuclidean, float_data({-1.0f, -4.0f})),
                  3.0f);
  EXPECT_FLOAT_EQ(
      distance(x, centroids, DistanceMetric::kSquaredEuclidean, float_data({0.0f, 0.0f})), 0.0f);
}

TEST(NearestCentroid, Int8InputAgainstPerCentroidScalesOrdersOfMagnitudeApart) {
  // Centroid 0 at scale 0.01 (real (0.5, -0.5)), centroid 1 at scale 1 (real (50, -50)).
  TestTensor x(ElementType::kInt8, {2}, 0.5f, 10);
  TestTensor centroids(ElementType::kInt8, {2, 2}, 0.0f, 0);
  centroids.constant({50, static_cast<std::uint8_t>(-50), 50, static_cast<std::uint8_t>(-50)})
      .per_channel({0.01f, 1.0f});
  // x real (40, -40): nearest is centroid 1, squared distance 2 · 10².
  const std::vector<std::int8_t> far = {90, -70};
  const TensorData far_data{ElementType::kInt8, 2,
                            reinterpret_cast<const std::uint8_t*>(far.data())};
  EXPECT_FLOAT_EQ(distance(x, centroids, DistanceMetric::kSquaredEuclidean, far_data), 200.0f);
  // x real (1, -1): nearest is centroid 0, squared distance 2 · 0.5².
  const std::vector<std::int8_t> near = {12, 8};
  const TensorData near_data{ElementType::kInt8, 2,
                             reinterpret_cast<const std::uint8_t*>(near.data())};
  EXPECT_FLOAT_EQ(distance(x, centroids, DistanceMetric::kSquaredEuclidean, near_data), 0.5f);
}

TEST(NearestCentroid, ReferenceEqualsEvalOnTheSameRealValues) {
  TestTensor x(ElementType::kFloat32, {3});
  TestTensor centroids(ElementType::kInt8, {2, 3}, 0.2f, 4);
  centroids.constant({1, 2, 3, static_cast<std::uint8_t>(-4), static_cast<std::uint8_t>(-5), 6});
  const std::vector<float> values = {0.1f, -2.0f, 0.7f};
  for (const DistanceMetric metric :
       {DistanceMetric::kSquaredEuclidean, DistanceMetric::kEuclidean}) {
    EXPECT_EQ(distance(x, centroids, metric, float_data(values)),
              reference_nearest_centroid(x, centroids, metric, FloatValues(values)));
  }
}

}  // namespace
}  // namespace spindle::inference
