// Dequantize, int8 → float32 (container opcode 4): y = x.scale · (x − x.zp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct DequantizeData {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
};

std::size_t dequantize_persistent_bytes();
// Errors: kDoesNotFit.
Result<DequantizeData*> init_dequantize(Arena& arena);
// Errors: kMalformed for a per-channel quantized input (only a constant can be one, and
// the parser accepts it; the kernel's arithmetic is per tensor).
Status prepare_dequantize(const container::Tensor& input, DequantizeData& data);
void eval_dequantize(const DequantizeData& data, std::span<const std::int8_t> input,
                     std::span<float> output);
// The float reference: the identity on real values.
void reference_dequantize(const container::Tensor& input, FloatValues input_values,
                          std::span<float> output_values);

extern const KernelRegistration kDequantizeKernel;

}  // namespace spindle::inference
