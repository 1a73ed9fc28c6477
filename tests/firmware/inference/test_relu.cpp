#include "spindle/inference/relu.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

const std::vector<std::int8_t> kInputs = {-128, -20, 4, 5, 6, 7, 50, 100, 127};

struct Relu {
  Relu(const container::Tensor& x, const container::Tensor& y)
      : buffer(relu_persistent_bytes()), arena(buffer.span()) {
    const auto init = init_relu(arena);
    EXPECT_TRUE(init.ok());
    data = *init;
    prepared = prepare_relu(x, y, *data);
  }
  std::vector<std::int8_t> run(const std::vector<std::int8_t>& input) const {
    std::vector<std::int8_t> out(input.size());
    eval_relu(*data, input, out);
    return out;
  }
  ArenaBuffer buffer;
  Arena arena;
  ReluData* data = nullptr;
  Status prepared;
};

// Golden arrays from an independent Python model of TFLite's ReluQuantized.
TEST(Relu, RequantizesToANarrowerOutputScale) {
  // Input zero point 5 (real 0), output zero point -128: everything at or below 5 maps to
  // -128, and the output scale is half the input's.
  Relu relu(TestTensor(ElementType::kInt8, {9}, 0.1f, 5),
            TestTensor(ElementType::kInt8, {9}, 0.05f, -128));
  ASSERT_TRUE(relu.prepared.ok());
  const std::vector<std::int8_t> expected = {-128, -128, -128, -128, -126, -124, -38, 62, 116};
  EXPECT_EQ(relu.run(kInputs), expected);
}

TEST(Relu, RequantizesToAWiderScaleAndSaturates) {
  // Multiplier 3 (a left shift), negative input zero point.
  Relu relu(TestTensor(ElementType::kInt8, {9}, 0.3f, -2),
            TestTensor(ElementType::kInt8, {9}, 0.1f, 3));
  ASSERT_TRUE(relu.prepared.ok());
  const std::vector<std::int8_t> expected = {3, 3, 21, 24, 27, 30, 127, 127, 127};
  EXPECT_EQ(relu.run(kInputs), expected);
}

TEST(Relu, WithEqualParametersIsMaxWithZeroPoint) {
  Relu relu(TestTensor(ElementType::kInt8, {256}, 0.02f, -17),
            TestTensor(ElementType::kInt8, {256}, 0.02f, -17));
  std::vector<std::int8_t> all;
  for (int v = -128; v <= 127; ++v)
    all.push_back(static_cast<std::int8_t>(v));
  const std::vector<std::int8_t> out = relu.run(all);
  for (std::size_t i = 0; i < all.size(); ++i)
    EXPECT_EQ(out[i], std::max<std::int8_t>(all[i], -17));
}

TEST(Relu, StaysWithinOneLsbOfFloatThenQuantize) {
  const float scales[] = {0.001f, 0.013f, 0.1f, 0.7f, 5.0f};
  const int zero_points[] = {-128, -40, 0, 33, 127};
  std::vector<std::int8_t> all;
  for (int v = -128; v <= 127; ++v)
    all.push_back(static_cast<std::int8_t>(v));
  for (const float xs : scales)
    for (const float ys : scales)
      for (const int xz : zero_points)
        for (const int yz : zero_points) {
          Relu relu(TestTensor(ElementType::kInt8, {256}, xs, xz),
                    TestTensor(ElementType::kInt8, {256}, ys, yz));
          const std::vector<std::int8_t> out = relu.run(all);
          for (std::size_t i = 0; i < all.size(); ++i) {
            const double real = std::max(0.0, static_cast<double>(xs) * (all[i] - xz));
            const int expected = test::quantize_reference(real, ys, yz, yz, 127);
            ASSERT_LE(std::abs(out[i] - expected), 1) << xs << " " << ys << " " << xz << " " << yz;
          }
        }
}

TEST(Relu, RefusesAPerChannelQuantizedInput) {
  TestTensor input(ElementType::kInt8, {2});
  input.constant({1, 2}).per_channel({0.1f, 0.2f});
  Relu relu(input, TestTensor(ElementType::kInt8, {2}, 0.1f, 0));
  EXPECT_EQ(relu.prepared, Error::kMalformed);
}

TEST(Relu, ReferenceClampsToZeroAndTheOutputMaximum) {
  TestTensor input(ElementType::kInt8, {4}, 0.1f, 0);
  TestTensor output(ElementType::kInt8, {4}, 0.01f, -28);  // max 1.55
  const std::vector<float> x = {-3.0f, 0.25f, 1.5f, 9.0f};
  std::vector<float> y(4);
  reference_relu(input, output, FloatValues(x), y);
  EXPECT_EQ(y, (std::vector<float>{0.0f, 0.25f, 1.5f, 1.55f}));
}

}  // namespace
}  // namespace spindle::inference
