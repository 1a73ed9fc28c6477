// Quantize, float32 → int8 (container opcode 3), TFLite's AffineQuantize:
//   y = clamp(round(x / y.scale) + y.zp, −128, 127), rounding half away from zero.
// NaN becomes the zero point; the interpreter refuses non-finite features before this runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct QuantizeData {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
};

std::size_t quantize_persistent_bytes();
// Errors: kDoesNotFit.
Result<QuantizeData*> init_quantize(Arena& arena);
// Never fails; returns a Status for the uniform kernel interface.
Status prepare_quantize(const container::Tensor& output, QuantizeData& data);
void eval_quantize(const QuantizeData& data, FloatValues input, std::span<std::int8_t> output);
// The float reference: x clamped to y's representable range, not rounded.
void reference_quantize(const container::Tensor& input, const container::Tensor& output,
                        FloatValues input_values, std::span<float> output_values);

extern const KernelRegistration kQuantizeKernel;

}  // namespace spindle::inference
