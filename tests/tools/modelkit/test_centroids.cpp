// spindle::modelkit centroid models: a packed centroid model is a container the node's
// runtime accepts, scores like the float model, and bad models are refused.
#include "spindle/modelkit/centroids.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::modelkit {
namespace {

FloatCentroids model(std::size_t count, std::size_t depth, std::uint32_t seed) {
  FloatCentroids m;
  m.depth = depth;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  m.centroids.resize(count * depth);
  for (float& c : m.centroids)
    c = normal(rng);
  for (std::size_t d = 0; d < depth; ++d) {
    m.standardization.mean.push_back(50.0f * static_cast<float>(d));
    m.standardization.inv_std.push_back(1.0f / (1.0f + static_cast<float>(d)));
  }
  return m;
}

TEST(ModelkitCentroids, PackedModelScoresLikeTheFloatModelWithinQuantization) {
  const FloatCentroids m = model(6, 45, 3);
  const auto packed = pack_centroids(m, 8.0f);
  ASSERT_TRUE(packed.ok()) << packed.status().name();
  const auto view = container::parse_container(packed->container);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->header().model_kind, container::ModelKind::kCentroid);
  std::vector<std::uint8_t> arena(packed->arena_bytes + inference::Arena::kAlignment);
  inference::Interpreter interpreter;
  ASSERT_EQ(interpreter.load(packed->container, arena), kOk);

  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int w = 0; w < 50; ++w) {
    std::vector<float> x(45);
    for (std::size_t d = 0; d < 45; ++d)  // raw units around the training mean
      x[d] = normal(rng) / m.standardization.inv_std[d] + m.standardization.mean[d];
    float int8 = 0.0f;
    ASSERT_EQ(interpreter.invoke(x, &int8), kOk);
    const float real = *nearest_distance(packed->dequantized, x);
    // Only x is rounded (half a step of 8/127 per element): the distance moves by at most
    // that vector's norm, sqrt(45) * 4/127, on its square root.
    EXPECT_NEAR(std::sqrt(int8), std::sqrt(real), std::sqrt(45.0f) * 4.0f / 127.0f + 1e-4f) << w;
  }
}

TEST(ModelkitCentroids, ZeroAtACentroidAndTheSquaredDistanceElsewhere) {
  FloatCentroids m;
  m.depth = 2;
  m.centroids = {0.0f, 0.0f, 3.0f, 4.0f};
  EXPECT_FLOAT_EQ(*nearest_distance(m, std::vector<float>{3.0f, 4.0f}), 0.0f);
  EXPECT_FLOAT_EQ(*nearest_distance(m, std::vector<float>{0.0f, 1.0f}), 1.0f);
  EXPECT_EQ(nearest_distance(m, std::vector<float>{0.0f}).status(), Error::kSizeMismatch);
}

TEST(ModelkitCentroids, RefusesModelsThatAreNotCentroids) {
  FloatCentroids m = model(2, 3, 1);
  EXPECT_EQ(pack_centroids(m, 0.0f).status(), Error::kInvalidValue);
  EXPECT_EQ(pack_centroids(m, NAN).status(), Error::kInvalidValue);
  m.centroids.pop_back();  // not a multiple of depth
  EXPECT_EQ(pack_centroids(m, 1.0f).status(), Error::kInvalidValue);
  FloatCentroids empty;
  empty.depth = 3;
  EXPECT_EQ(pack_centroids(empty, 1.0f).status(), Error::kInvalidValue);
  FloatCentroids nan = model(2, 3, 1);
  nan.centroids[1] = NAN;
  EXPECT_EQ(pack_centroids(nan, 1.0f).status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::modelkit
