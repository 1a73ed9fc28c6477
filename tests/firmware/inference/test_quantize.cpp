#include "spindle/inference/quantize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

std::vector<std::int8_t> quantize(const std::vector<float>& x, float scale, int zero_point) {
  ArenaBuffer buffer(quantize_persistent_bytes());
  Arena arena(buffer.span());
  QuantizeData* data = *init_quantize(arena);
  EXPECT_TRUE(prepare_quantize(TestTensor(ElementType::kInt8, {1}, scale, zero_point), *data).ok());
  std::vector<std::int8_t> out(x.size());
  eval_quantize(*data, FloatValues(x), out);
  return out;
}

TEST(Quantize, MatchesGoldenArrayWithTiesAndSaturation) {
  // From an independent Python model of TFLite's AffineQuantize: ties (±0.25, 0.75, 1.25 at
  // scale 0.5) round away from zero; -1000 and 1e30 saturate.
  const std::vector<float> x = {-1000.0f, -0.75f, -0.25f, -0.2f, 0.0f, 0.2f,
                                0.25f,    0.75f,  1.25f,  60.0f, 1e30f};
  const std::vector<std::int8_t> expected = {-128, -9, -8, -7, -7, -7, -6, -5, -4, 113, 127};
  EXPECT_EQ(quantize(x, 0.5f, -7), expected);
  EXPECT_EQ(quantize({0.1f, -0.1f, 3.3f, -3.3f, 12.7f, -12.8f}, 0.1f, 0),
            (std::vector<std::int8_t>{1, -1, 33, -33, 127, -128}));
}

TEST(Quantize, StaysWithinOneLsbOfTheDoubleComputation) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-20.0f, 20.0f);
  std::vector<float> x(5000);
  for (float& v : x)
    v = value(rng);
  const std::vector<std::int8_t> q = quantize(x, 0.13f, -11);
  int exact = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const int expected = test::quantize_reference(x[i], 0.13f, -11);
    ASSERT_LE(std::abs(q[i] - expected), 1) << x[i];
    exact += q[i] == expected;
  }
  EXPECT_GT(exact, 4990);  // float vs double division differ only right at ties
}

TEST(Quantize, NanBecomesTheZeroPoint) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(quantize({nan}, 0.1f, 17), std::vector<std::int8_t>{17});
}

TEST(Quantize, ReferenceClampsToTheRepresentableRangeWithoutRounding) {
  TestTensor input(ElementType::kFloat32, {3});
  TestTensor output(ElementType::kInt8, {3}, 0.5f, -28);  // range [-50, 77.5]
  const std::vector<float> x = {-100.0f, 0.3f, 100.0f};
  std::vector<float> y(3);
  reference_quantize(input, output, FloatValues(x), y);
  EXPECT_EQ(y, (std::vector<float>{-50.0f, 0.3f, 77.5f}));
}

TEST(Quantize, ReadsAFloatConstantInputInPlaceAtAnyAlignment) {
  // A constant input sits in the container at whatever alignment the caller's buffer has.
  const std::vector<float> values = {1.0f, -2.0f};
  const test::Bytes bytes = test::float_bytes(values);
  std::vector<std::uint8_t> shifted(bytes.size() + 1);
  std::copy(bytes.begin(), bytes.end(), shifted.begin() + 1);
  ArenaBuffer buffer(quantize_persistent_bytes());
  Arena arena(buffer.span());
  QuantizeData* data = *init_quantize(arena);
  ASSERT_TRUE(prepare_quantize(TestTensor(ElementType::kInt8, {2}, 0.5f, 0), *data).ok());
  std::vector<std::int8_t> out(2);
  eval_quantize(*data, FloatValues(shifted.data() + 1, 2), out);
  EXPECT_EQ(out, (std::vector<std::int8_t>{2, -4}));
}

}  // namespace
}  // namespace spindle::inference
