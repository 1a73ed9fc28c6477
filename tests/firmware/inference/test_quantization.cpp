#include "spindle/inference/quantization.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

constexpr std::int32_t kInt32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int32_t kInt32Min = std::numeric_limits<std::int32_t>::min();

TEST(QuantizeMultiplier, RepresentsRealMultipliersToQ31RelativePrecision) {
  // 4000 multipliers spread log-uniformly over 13 decades, the range requantization meets
  // (x.scale · w.scale / y.scale for real models is typically 1e-5..1).
  for (int i = 0; i <= 4000; ++i) {
    const double real = std::pow(10.0, -9.0 + 13.0 * i / 4000.0);
    const QuantizedMultiplier q = quantize_multiplier(real);
    SCOPED_TRACE(real);
    ASSERT_GE(q.mantissa, std::int32_t{1} << 30);  // normalised: full 31-bit precision
    ASSERT_LE(q.mantissa, kInt32Max);
    // Rounding the mantissa to an integer in [2^30, 2^31) costs at most 2^-31 relative.
    EXPECT_LE(std::abs(dequantize_multiplier(q) - real) / real, std::ldexp(1.0, -31));
  }
}

TEST(QuantizeMultiplier, MatchesTfliteOnGoldenValues) {
  // Computed with an independent Python model of TFLite's QuantizeMultiplier.
  EXPECT_EQ(quantize_multiplier(0.5), (QuantizedMultiplier{1073741824, 0}));
  EXPECT_EQ(quantize_multiplier(1.0), (QuantizedMultiplier{1073741824, 1}));
  EXPECT_EQ(quantize_multiplier(3.0), (QuantizedMultiplier{1610612736, 2}));
  const double fc_channel =
      static_cast<double>(0.05f) * static_cast<double>(0.0004f) / static_cast<double>(0.02f);
  EXPECT_EQ(quantize_multiplier(fc_channel), (QuantizedMultiplier{1099511641, -9}));
}

TEST(QuantizeMultiplier, MantissaThatRoundsUpToOneMovesToTheNextExponent) {
  const double just_below_one = 1.0 - std::ldexp(1.0, -40);
  EXPECT_EQ(quantize_multiplier(just_below_one), (QuantizedMultiplier{1073741824, 1}));
}

TEST(QuantizeMultiplier, OutOfRangeMultipliersFlushOrSaturate) {
  EXPECT_EQ(quantize_multiplier(1e-10), (QuantizedMultiplier{0, 0}));  // below 2^-32
  EXPECT_EQ(quantize_multiplier(std::ldexp(1.0, 31)), (QuantizedMultiplier{kInt32Max, 30}));
  EXPECT_EQ(quantize_multiplier(0.0), (QuantizedMultiplier{}));
  EXPECT_EQ(quantize_multiplier(-1.0), (QuantizedMultiplier{}));
  EXPECT_EQ(quantize_multiplier(std::numeric_limits<double>::quiet_NaN()), (QuantizedMultiplier{}));
  EXPECT_EQ(quantize_multiplier(std::numeric_limits<double>::infinity()), (QuantizedMultiplier{}));
}

TEST(MultiplyByQuantizedMultiplier, StaysWithinOneOfTheRoundedRealProduct) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> value(-(1 << 24), 1 << 24);
  std::uniform_real_distribution<double> exponent(-12.0, 1.5);
  int exact = 0;
  constexpr int kTrials = 20000;
  for (int trial = 0; trial < kTrials; ++trial) {
    const double real = std::pow(10.0, exponent(rng));
    const std::int32_t x = value(rng);
    const QuantizedMultiplier q = quantize_multiplier(real);
    const double expected = std::round(static_cast<double>(x) * dequantize_multiplier(q));
    const std::int32_t got = multiply_by_quantized_multiplier(x, q);
    ASSERT_LE(std::abs(static_cast<double>(got) - expected), 1.0) << x << " * " << real;
    exact += static_cast<double>(got) == expected;
  }
  EXPECT_GT(exact, kTrials * 98 / 100);  // off by one only next to ties (double rounding)
}

TEST(MultiplyByQuantizedMultiplier, RoundsTiesTheWayTfliteDoes) {
  const QuantizedMultiplier half = quantize_multiplier(0.5);
  EXPECT_EQ(multiply_by_quantized_multiplier(100, half), 50);
  EXPECT_EQ(multiply_by_quantized_multiplier(101, half), 51);
  EXPECT_EQ(multiply_by_quantized_multiplier(-100, half), -50);
  // gemmlowp's doubling high multiply rounds an exact negative tie up.
  EXPECT_EQ(multiply_by_quantized_multiplier(-101, half), -50);
  EXPECT_EQ(multiply_by_quantized_multiplier(-3, half), -1);
  // Through the rounding right shift, ties round away from zero.
  const QuantizedMultiplier quarter = quantize_multiplier(0.25);
  EXPECT_EQ(multiply_by_quantized_multiplier(6, quarter), 2);
  EXPECT_EQ(multiply_by_quantized_multiplier(-6, quarter), -2);
}

TEST(MultiplyByQuantizedMultiplier, SaturatesInsteadOfOverflowing) {
  // The left shift saturates, so a result that cannot be represented keeps its sign and a
  // magnitude of at least 2^30 (far outside int8) instead of wrapping.
  const QuantizedMultiplier big = quantize_multiplier(1000.0);
  EXPECT_GE(multiply_by_quantized_multiplier(kInt32Max / 10, big), 1 << 30);
  EXPECT_LE(multiply_by_quantized_multiplier(kInt32Min / 10, big), -(1 << 30));
  EXPECT_EQ(multiply_by_quantized_multiplier(1000, big), 1000000);
  EXPECT_EQ(saturating_rounding_doubling_high_mul(kInt32Min, kInt32Min), kInt32Max);
}

TEST(RoundingDivideByPot, RoundsHalfAwayFromZero) {
  EXPECT_EQ(rounding_divide_by_pot(5, 1), 3);
  EXPECT_EQ(rounding_divide_by_pot(-5, 1), -3);
  EXPECT_EQ(rounding_divide_by_pot(7, 2), 2);
  EXPECT_EQ(rounding_divide_by_pot(-7, 2), -2);
  EXPECT_EQ(rounding_divide_by_pot(kInt32Min, 31), -1);
  EXPECT_EQ(rounding_divide_by_pot(kInt32Max, 31), 1);
  EXPECT_EQ(rounding_divide_by_pot(-42, 0), -42);
}

TEST(QuantizeValue, RoundsHalfAwayFromZeroAndSaturates) {
  // Golden values from an independent Python model of TFLite's AffineQuantize.
  const float inputs[] = {-1000.0f, -0.75f, -0.25f, -0.2f, 0.0f, 0.2f,
                          0.25f,    0.75f,  1.25f,  60.0f, 1e30f};
  const int expected[] = {-128, -9, -8, -7, -7, -7, -6, -5, -4, 113, 127};
  for (std::size_t i = 0; i < std::size(inputs); ++i)
    EXPECT_EQ(quantize_value(inputs[i], 0.5f, -7), expected[i]) << inputs[i];
}

TEST(QuantizeValue, MapsNanToTheZeroPointAndInfinitiesToTheLimits) {
  EXPECT_EQ(quantize_value(std::numeric_limits<float>::quiet_NaN(), 0.1f, 9), 9);
  EXPECT_EQ(quantize_value(std::numeric_limits<float>::infinity(), 0.1f, 9), 127);
  EXPECT_EQ(quantize_value(-std::numeric_limits<float>::infinity(), 0.1f, 9), -128);
}

TEST(DequantizeValue, IsScaleTimesOffsetFromZeroPoint) {
  EXPECT_EQ(dequantize_value(-128, 0.5f, -7), -60.5f);
  EXPECT_EQ(dequantize_value(127, 0.5f, -7), 67.0f);
  EXPECT_EQ(dequantize_value(-7, 0.5f, -7), 0.0f);
}

TEST(RepresentableRange, NarrowsToAFusedClamp) {
  const RealRange full = representable_range(0.5f, -28);
  EXPECT_EQ(full.min, -50.0f);
  EXPECT_EQ(full.max, 77.5f);
  const RealRange relu = representable_range(0.5f, -28, -28, 127);
  EXPECT_EQ(relu.min, 0.0f);
}

}  // namespace
}  // namespace spindle::inference
