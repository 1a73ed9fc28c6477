#include "spindle/inference/dequantize.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

struct Dequantize {
  explicit Dequantize(const container::Tensor& x)
      : buffer(dequantize_persistent_bytes()), arena(buffer.span()) {
    data = *init_dequantize(arena);
    prepared = prepare_dequantize(x, *data);
  }
  std::vector<float> run(const std::vector<std::int8_t>& input) const {
    std::vector<float> out(input.size());
    eval_dequantize(*data, input, out);
    return out;
  }
  ArenaBuffer buffer;
  Arena arena;
  DequantizeData* data = nullptr;
  Status prepared;
};

TEST(Dequantize, MatchesGoldenArray) {
  // Scales that are powers of two make every product exact.
  Dequantize dequantize(TestTensor(ElementType::kInt8, {5}, 0.5f, -7));
  ASSERT_TRUE(dequantize.prepared.ok());
  EXPECT_EQ(dequantize.run({-128, -7, 0, 1, 127}),
            (std::vector<float>{-60.5f, 0.0f, 3.5f, 4.0f, 67.0f}));
}

TEST(Dequantize, InvertsQuantizeWithinHalfAnLsb) {
  Dequantize dequantize(TestTensor(ElementType::kInt8, {256}, 0.037f, 12));
  std::vector<std::int8_t> all;
  for (int v = -128; v <= 127; ++v)
    all.push_back(static_cast<std::int8_t>(v));
  const std::vector<float> real = dequantize.run(all);
  for (std::size_t i = 0; i < all.size(); ++i)
    EXPECT_NEAR(real[i], 0.037 * (all[i] - 12), 1e-5);
}

TEST(Dequantize, RefusesAPerChannelQuantizedInput) {
  TestTensor input(ElementType::kInt8, {2});
  input.constant({1, 2}).per_channel({0.1f, 0.2f});
  EXPECT_EQ(Dequantize(input).prepared, Error::kMalformed);
}

TEST(Dequantize, ReferenceReadsAConstantFromTheContainer) {
  TestTensor input(ElementType::kInt8, {3}, 0.25f, 1);
  input.constant({static_cast<std::uint8_t>(-3), 1, 9});
  std::vector<float> y(3);
  reference_dequantize(input, FloatValues(), y);
  EXPECT_EQ(y, (std::vector<float>{-1.0f, 0.0f, 2.0f}));
}

}  // namespace
}  // namespace spindle::inference
