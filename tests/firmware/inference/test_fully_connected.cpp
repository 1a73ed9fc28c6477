#include "spindle/inference/fully_connected.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

// Runs init, prepare and eval on one set of operands.
struct FullyConnected {
  FullyConnected(const container::Tensor& x, const container::Tensor& w, const container::Tensor& b,
                 const container::Tensor& y, std::int32_t clamp_min = -128,
                 std::int32_t clamp_max = 127)
      : buffer(fully_connected_persistent_bytes(w)), arena(buffer.span()) {
    const auto init = init_fully_connected(w, arena);
    EXPECT_TRUE(init.ok());
    data = init.ok() ? *init : nullptr;
    prepared = data != nullptr ? prepare_fully_connected(x, w, b, y, clamp_min, clamp_max, *data)
                               : Status(Error::kDoesNotFit);
  }
  std::vector<std::int8_t> run(const std::vector<std::int8_t>& input, std::size_t outputs) {
    std::vector<std::int8_t> out(outputs);
    eval_fully_connected(*data, input, out);
    return out;
  }

  ArenaBuffer buffer;
  Arena arena;
  FullyConnectedData* data = nullptr;
  Status prepared;
};

// The golden case: two batches of five inputs with a negative zero point, four output
// channels whose weight scales span three orders of magnitude, an output with a negative
// zero point, results that saturate at both ends and one exact tie (34.5 → 35).
struct Golden {
  std::vector<std::int8_t> x = {-128, -3, 0, 50, 127, 10, -100, 77, -3, 5};
  std::array<std::int8_t, 20> w = {127, -128, 5, 60, -1, -20, 33, -128, 127, 64,
                                   1,   2,    3, -4, 5,  -7,  0,  7,    -1,  1};
  std::array<std::int32_t, 4> bias = {1000, -5000, 123, -2};
  std::vector<float> scales = {0.0004f, 0.004f, 0.04f, 0.4f};
  TestTensor input{ElementType::kInt8, {2, 5}, 0.05f, -3};
  TestTensor weights{ElementType::kInt8, {4, 5}};
  TestTensor bias_tensor{ElementType::kInt32, {4}, 1.0f};
  TestTensor output{ElementType::kInt8, {2, 4}, 0.02f, -10};

  Golden() {
    weights.constant(test::int8_bytes(w)).per_channel(scales);
    bias_tensor.constant(test::int32_bytes(bias));
  }
};

TEST(FullyConnected, MatchesGoldenArrayWithPerChannelScalesAndNegativeZeroPoints) {
  Golden g;
  FullyConnected fc(g.input, g.weights, g.bias_tensor, g.output);
  ASSERT_TRUE(fc.prepared.ok());
  // Computed with an independent Python model of TFLite's integer FC arithmetic; the real
  // values before rounding are -21.81 111.67 34.5 961 | 5.459 -191.89 12.2 465.
  const std::vector<std::int8_t> expected = {-22, 112, 35, 127, 5, -128, 12, 127};
  EXPECT_EQ(fc.run(g.x, 8), expected);
}

TEST(FullyConnected, FusedActivationClampsInTheOutputDomain) {
  Golden g;
  // A fused ReLU6-like clamp: real 0 is the zero point -10, 60 is real 1.4.
  FullyConnected fc(g.input, g.weights, g.bias_tensor, g.output, -10, 60);
  ASSERT_TRUE(fc.prepared.ok());
  const std::vector<std::int8_t> expected = {-10, 60, 35, 60, 5, -10, 12, 60};
  EXPECT_EQ(fc.run(g.x, 8), expected);
}

TEST(FullyConnected, BatchesAreIndependentRowsOfTheSameLayer) {
  Golden g;
  FullyConnected fc(g.input, g.weights, g.bias_tensor, g.output);
  const std::vector<std::int8_t> both = fc.run(g.x, 8);
  std::vector<std::int8_t> second_first(g.x.begin() + 5, g.x.end());
  second_first.insert(second_first.end(), g.x.begin(), g.x.begin() + 5);
  const std::vector<std::int8_t> swapped = fc.run(second_first, 8);
  EXPECT_TRUE(std::equal(both.begin(), both.begin() + 4, swapped.begin() + 4));
  EXPECT_TRUE(std::equal(both.begin() + 4, both.end(), swapped.begin()));
}

TEST(FullyConnected, StaysWithinOneLsbOfFloatThenQuantize) {
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> int8(-128, 127);
  std::uniform_int_distribution<int> zero_point(-128, 127);
  int saturated = 0;
  std::uniform_real_distribution<double> log_scale(-4.0, 1.0);
  int exact = 0;
  int total = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::uint16_t depth = static_cast<std::uint16_t>(1 + trial % 40);
    const std::uint16_t channels = static_cast<std::uint16_t>(1 + trial % 7);
    std::vector<std::int8_t> x(depth), w(std::size_t{depth} * channels);
    std::vector<std::int32_t> bias(channels);
    std::vector<float> scales(channels);
    for (auto& v : x)
      v = static_cast<std::int8_t>(int8(rng));
    for (auto& v : w)
      v = static_cast<std::int8_t>(int8(rng));
    for (auto& v : bias)
      v = std::uniform_int_distribution<std::int32_t>(-100000, 100000)(rng);
    for (auto& s : scales)  // per-channel scales up to five decades apart
      s = static_cast<float>(std::pow(10.0, log_scale(rng)));
    const float x_scale = static_cast<float>(std::pow(10.0, log_scale(rng) / 2));
    const int x_zp = zero_point(rng);
    std::vector<double> real(channels);
    double largest = 1e-30;
    for (std::uint16_t c = 0; c < channels; ++c) {
      double acc = bias[c];
      for (std::uint16_t i = 0; i < depth; ++i)
        acc += (x[i] - x_zp) * w[std::size_t{c} * depth + i];
      real[c] = acc * static_cast<double>(x_scale) * static_cast<double>(scales[c]);
      largest = std::max(largest, std::abs(real[c]));
    }
    // An output scale that puts the largest channel anywhere from mid-range to saturation.
    const float y_scale =
        static_cast<float>(largest / std::uniform_real_distribution<double>(50.0, 200.0)(rng));
    const int y_zp = std::uniform_int_distribution<int>(-60, 60)(rng);

    TestTensor input(ElementType::kInt8, {depth}, x_scale, x_zp);
    TestTensor weights(ElementType::kInt8, {channels, depth});
    weights.constant(test::int8_bytes(w)).per_channel(scales);
    TestTensor bias_tensor(ElementType::kInt32, {channels}, 1.0f);
    bias_tensor.constant(test::int32_bytes(bias));
    TestTensor output(ElementType::kInt8, {channels}, y_scale, y_zp);
    FullyConnected fc(input, weights, bias_tensor, output);
    ASSERT_TRUE(fc.prepared.ok());
    const std::vector<std::int8_t> got = fc.run(x, channels);

    for (std::uint16_t c = 0; c < channels; ++c) {
      const int expected = test::quantize_reference(real[c], y_scale, y_zp);
      ASSERT_LE(std::abs(got[c] - expected), 1) << "trial " << trial << " channel " << c;
      exact += got[c] == expected;
      saturated += expected == -128 || expected == 127;
      ++total;
    }
  }
  EXPECT_GT(exact, total * 95 / 100);
  EXPECT_GT(saturated, 0);  // the sweep reaches the limits too
  EXPECT_LT(saturated, total / 2);
}

TEST(FullyConnected, RefusesLayersWhoseAccumulatorCouldOverflow) {
  const std::array<std::int8_t, 4> w = {127, 127, 127, 127};
  const std::array<std::int32_t, 1> bias = {2147483647 - 1000};
  TestTensor input(ElementType::kInt8, {4}, 1.0f, 0);
  TestTensor weights(ElementType::kInt8, {1, 4}, 1.0f);
  weights.constant(test::int8_bytes(w));
  TestTensor bias_tensor(ElementType::kInt32, {1}, 1.0f);
  bias_tensor.constant(test::int32_bytes(bias));
  TestTensor output(ElementType::kInt8, {1}, 1.0f, 0);
  EXPECT_EQ(FullyConnected(input, weights, bias_tensor, output).prepared, Error::kInvalidValue);

  // The same layer with a bias that leaves room for any input is accepted.
  const std::array<std::int32_t, 1> small_bias = {2147483647 - 4 * 127 * 128};
  TestTensor ok_bias(ElementType::kInt32, {1}, 1.0f);
  ok_bias.constant(test::int32_bytes(small_bias));
  FullyConnected fc(input, weights, ok_bias, output);
  EXPECT_TRUE(fc.prepared.ok());
  EXPECT_EQ(fc.run({-128, -128, -128, -128}, 1), std::vector<std::int8_t>{127});
}

TEST(FullyConnected, InitTakesExactlyThePersistentBytesItAnnounces) {
  Golden g;
  ArenaBuffer buffer(4096);
  Arena arena(buffer.span());
  ASSERT_TRUE(init_fully_connected(g.weights, arena).ok());
  EXPECT_EQ(arena.used_bytes(), fully_connected_persistent_bytes(g.weights));
  ArenaBuffer small(16);
  Arena tiny(small.span());
  EXPECT_EQ(init_fully_connected(g.weights, tiny).status(), Error::kDoesNotFit);
}

TEST(FullyConnected, ReferenceIsTheRealArithmeticClampedToTheOutputRange) {
  Golden g;
  std::vector<float> real_x;
  for (const std::int8_t q : g.x)
    real_x.push_back(0.05f * static_cast<float>(q + 3));
  std::vector<float> y(8);
  reference_fully_connected(g.input, g.weights, g.bias_tensor, g.output, -128, 127,
                            FloatValues(real_x), y);
  // Real values before rounding (see the golden test), clamped to [0.02·(−118), 0.02·137].
  const std::array<double, 8> expected = {0.02 * (-21.81 + 10), 0.02 * (111.67 + 10),
                                          0.02 * (34.5 + 10),   2.74,
                                          0.02 * (5.459 + 10),  -2.36,
                                          0.02 * (12.2 + 10),   2.74};
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y[i], expected[i], 1e-4) << i;

  reference_fully_connected(g.input, g.weights, g.bias_tensor, g.output, -10, 60,
                            FloatValues(real_x), y);
  EXPECT_FLOAT_EQ(y[0], 0.0f);
  EXPECT_NEAR(y[3], 1.4, 1e-6);
}

}  // namespace
}  // namespace spindle::inference
