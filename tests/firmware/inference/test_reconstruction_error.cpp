#include "spindle/inference/reconstruction_error.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using container::ReconstructionMetric;
using test::ArenaBuffer;
using test::TestTensor;

constexpr auto kMse = ReconstructionMetric::kMeanSquaredError;
constexpr auto kMae = ReconstructionMetric::kMeanAbsoluteError;

TensorData int8_data(const std::vector<std::int8_t>& values) {
  return {ElementType::kInt8, static_cast<std::uint32_t>(values.size()),
          reinterpret_cast<const std::uint8_t*>(values.data())};
}

TensorData float_data(const std::vector<float>& values) {
  return {ElementType::kFloat32, static_cast<std::uint32_t>(values.size()),
          reinterpret_cast<const std::uint8_t*>(values.data())};
}

float error(const container::Tensor& a, const container::Tensor& b, ReconstructionMetric metric,
            const TensorData& a_data, const TensorData& b_data) {
  ArenaBuffer buffer(reconstruction_error_persistent_bytes());
  Arena arena(buffer.span());
  ReconstructionErrorData* data = *init_reconstruction_error(arena);
  EXPECT_TRUE(prepare_reconstruction_error(a, b, metric, *data).ok());
  return eval_reconstruction_error(*data, a_data, b_data);
}

TEST(ReconstructionError, Int8WithEqualScalesMatchesGoldenValues) {
  // a: zero point -3, real (0.5, 1, 1.5, 2); b: zero point 2, real (0.5, -0.5, 2.5, 2).
  // Differences 0, 1.5, -1, 0: MSE (2.25 + 1) / 4, MAE 2.5 / 4, both exact in float.
  TestTensor a(ElementType::kInt8, {4}, 0.5f, -3);
  TestTensor b(ElementType::kInt8, {1, 4}, 0.5f, 2);
  const std::vector<std::int8_t> qa = {-2, -1, 0, 1};
  const std::vector<std::int8_t> qb = {3, 1, 7, 6};
  EXPECT_EQ(error(a, b, kMse, int8_data(qa), int8_data(qb)), 0.8125f);
  EXPECT_EQ(error(a, b, kMae, int8_data(qa), int8_data(qb)), 0.625f);
}

TEST(ReconstructionError, Int8WithDifferentScalesDequantizesEachElement) {
  TestTensor a(ElementType::kInt8, {2}, 0.5f, 0);   // real (1, 2)
  TestTensor b(ElementType::kInt8, {2}, 0.25f, 0);  // real (1, 1)
  const std::vector<std::int8_t> qa = {2, 4};
  const std::vector<std::int8_t> qb = {4, 4};
  EXPECT_EQ(error(a, b, kMse, int8_data(qa), int8_data(qb)), 0.5f);
  EXPECT_EQ(error(a, b, kMae, int8_data(qa), int8_data(qb)), 0.5f);
}

TEST(ReconstructionError, MixesInt8AndFloatOperands) {
  TestTensor a(ElementType::kInt8, {2}, 0.5f, 1);  // real (1, -1)
  TestTensor b(ElementType::kFloat32, {2});
  const std::vector<std::int8_t> qa = {3, -1};
  const std::vector<float> fb = {0.25f, -1.5f};
  // (0.75² + 0.5²) / 2 and (0.75 + 0.5) / 2
  EXPECT_EQ(error(a, b, kMse, int8_data(qa), float_data(fb)), 0.40625f);
  EXPECT_EQ(error(a, b, kMae, int8_data(qa), float_data(fb)), 0.625f);
  EXPECT_EQ(error(b, b, kMse, float_data(fb), float_data(fb)), 0.0f);
}

TEST(ReconstructionError, PerfectReconstructionScoresExactlyZero) {
  std::mt19937 rng(5);
  std::vector<std::int8_t> q(36);
  for (auto& v : q)
    v = static_cast<std::int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  TestTensor a(ElementType::kInt8, {36}, 0.0123f, -9);
  EXPECT_EQ(error(a, a, kMse, int8_data(q), int8_data(q)), 0.0f);
  EXPECT_EQ(error(a, a, kMae, int8_data(q), int8_data(q)), 0.0f);
}

TEST(ReconstructionError, ExtremeDifferencesDoNotOverflow) {
  TestTensor a(ElementType::kInt8, {4096}, 1.0f, 0);
  const std::vector<std::int8_t> low(4096, -128);
  const std::vector<std::int8_t> high(4096, 127);
  EXPECT_EQ(error(a, a, kMse, int8_data(low), int8_data(high)), 65025.0f);
  EXPECT_EQ(error(a, a, kMae, int8_data(low), int8_data(high)), 255.0f);
}

TEST(ReconstructionError, Int8PathAgreesWithTheFloatReference) {
  std::mt19937 rng(9);
  std::vector<std::int8_t> qa(64), qb(64);
  for (std::size_t i = 0; i < qa.size(); ++i) {
    qa[i] = static_cast<std::int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    qb[i] = static_cast<std::int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  }
  TestTensor a(ElementType::kInt8, {64}, 0.07f, 4);
  TestTensor b(ElementType::kInt8, {64}, 0.07f, -20);
  std::vector<float> ra, rb;
  for (std::size_t i = 0; i < qa.size(); ++i) {
    ra.push_back(0.07f * static_cast<float>(qa[i] - 4));
    rb.push_back(0.07f * static_cast<float>(qb[i] + 20));
  }
  for (const ReconstructionMetric metric : {kMse, kMae}) {
    const float int8 = error(a, b, metric, int8_data(qa), int8_data(qb));
    const float reference =
        reference_reconstruction_error(a, b, metric, FloatValues(ra), FloatValues(rb));
    EXPECT_NEAR(int8, reference, 1e-5f * reference);
  }
}

}  // namespace
}  // namespace spindle::inference
