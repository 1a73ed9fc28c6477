// Fixed-point requantization and the scalar quantize/dequantize rules, with TensorFlow Lite
// Micro's reference semantics (gemmlowp's SaturatingRoundingDoublingHighMul and
// RoundingDivideByPOT, TFLite's QuantizeMultiplier), so int8 results match what a TFLite
// toolchain's own interpreter would produce for the same parameters.
//
// A real multiplier M > 0 is stored as a Q31 mantissa m in [2^30, 2^31) and a power-of-two
// exponent e with M ≈ m · 2^(e − 31). Applying it to an int32 x is then one 32x32→64-bit
// multiply, a rounding high half and a rounding shift: no floating point per element.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace spindle::inference {

struct QuantizedMultiplier {
  std::int32_t mantissa = 0;  // Q31, in [2^30, 2^31) unless the multiplier is 0
  std::int32_t shift = 0;     // > 0: left shift; < 0: right shift (TFLite's convention)

  friend bool operator==(const QuantizedMultiplier&, const QuantizedMultiplier&) = default;
};

// TFLite's QuantizeMultiplier: frexp into a mantissa in [0.5, 1) and an exponent, the
// mantissa rounded to Q31 (half away from zero). Multipliers too small for the int32 range
// (exponent below −31) become 0; too large ones (exponent above 30) saturate to the largest
// representable value. Zero, negative and non-finite inputs yield the zero multiplier:
// container scales are finite and positive, so these only arise from caller bugs.
QuantizedMultiplier quantize_multiplier(double real_multiplier);

// The real value a QuantizedMultiplier stands for (for tests and documentation).
double dequantize_multiplier(QuantizedMultiplier multiplier);

// gemmlowp::SaturatingRoundingDoublingHighMul: the high 32 bits of 2·a·b, rounded to
// nearest with exact ties rounded up (−50.5 → −50, 50.5 → 51: gemmlowp's nudge followed by
// a truncating division); the one overflowing case (both INT32_MIN) saturates.
constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a, std::int32_t b) {
  if (a == std::numeric_limits<std::int32_t>::min() && a == b) {
    return std::numeric_limits<std::int32_t>::max();
  }
  const std::int64_t ab = static_cast<std::int64_t>(a) * static_cast<std::int64_t>(b);
  const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : (1 - (std::int64_t{1} << 30));
  return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));
}

// gemmlowp::RoundingDivideByPOT: x / 2^exponent rounded half away from zero, exponent 0..31.
constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, std::int32_t exponent) {
  const std::int32_t mask = static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1);
  const std::int32_t remainder = x & mask;
  const std::int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// TFLite's MultiplyByQuantizedMultiplier: x · M rounded to nearest through the two roundings
// above (so within 1 of round(x · M), and equal to it except near ties). A left shift that
// would overflow int32 saturates (TFLite leaves it undefined), so an unrepresentable result
// keeps its sign and a magnitude of at least 2^30, which any int8 clamp then saturates.
constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x, QuantizedMultiplier m) {
  std::int32_t shifted = x;
  if (m.shift > 0) {
    const std::int64_t wide = static_cast<std::int64_t>(x) * (std::int64_t{1} << m.shift);
    constexpr std::int64_t kMax = std::numeric_limits<std::int32_t>::max();
    constexpr std::int64_t kMin = std::numeric_limits<std::int32_t>::min();
    shifted = static_cast<std::int32_t>(wide > kMax ? kMax : (wide < kMin ? kMin : wide));
  }
  const std::int32_t right_shift = m.shift > 0 ? 0 : -m.shift;
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m.mantissa),
                                right_shift);
}

constexpr std::int8_t saturate_to_int8(std::int32_t value, std::int32_t min = -128,
                                       std::int32_t max = 127) {
  return static_cast<std::int8_t>(value < min ? min : (value > max ? max : value));
}

// TFLite's AffineQuantize for one value: round(real / scale) (half away from zero) plus the
// zero point, saturated to int8. NaN quantizes to the zero point (real 0); ±infinity
// saturates. The clamp happens in float, so no out-of-range float reaches an integer cast.
inline std::int8_t quantize_value(float real, float scale, std::int32_t zero_point) {
  const float q = std::round(real / scale) + static_cast<float>(zero_point);
  if (std::isnan(q)) return saturate_to_int8(zero_point);
  if (q <= -128.0f) return -128;
  if (q >= 127.0f) return 127;
  return static_cast<std::int8_t>(q);
}

// real = scale · (q − zero_point).
constexpr float dequantize_value(std::int32_t q, float scale, std::int32_t zero_point) {
  return scale * static_cast<float>(q - zero_point);
}

// The real interval an int8 tensor with these parameters can represent, narrowed to the
// int8 range [q_min, q_max] (a fused activation clamp): what the float reference path clamps
// to where the int8 path saturates.
struct RealRange {
  float min = 0.0f;
  float max = 0.0f;
};
constexpr RealRange representable_range(float scale, std::int32_t zero_point,
                                        std::int32_t q_min = -128, std::int32_t q_max = 127) {
  return {dequantize_value(q_min, scale, zero_point), dequantize_value(q_max, scale, zero_point)};
}

}  // namespace spindle::inference
