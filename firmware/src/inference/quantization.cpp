#include "spindle/inference/quantization.hpp"

namespace spindle::inference {

QuantizedMultiplier quantize_multiplier(double real_multiplier) {
  if (!(real_multiplier > 0.0) || !std::isfinite(real_multiplier)) return {};
  int exponent = 0;
  const double fraction = std::frexp(real_multiplier, &exponent);  // in [0.5, 1)
  auto mantissa = static_cast<std::int64_t>(std::round(fraction * 2147483648.0));
  if (mantissa == (std::int64_t{1} << 31)) {  // the fraction rounded up to 1.0
    mantissa /= 2;
    ++exponent;
  }
  if (exponent < -31) return {};  // below the smallest non-zero Q31 multiplier
  if (exponent > 30) return {std::numeric_limits<std::int32_t>::max(), 30};
  return {static_cast<std::int32_t>(mantissa), exponent};
}

double dequantize_multiplier(QuantizedMultiplier multiplier) {
  return std::ldexp(static_cast<double>(multiplier.mantissa), multiplier.shift - 31);
}

}  // namespace spindle::inference
