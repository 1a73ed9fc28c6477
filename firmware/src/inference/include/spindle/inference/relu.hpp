// ReLU, int8 (container opcode 2): real_y = max(0, real_x), requantized to y's parameters
// with TensorFlow Lite Micro's ReluQuantized arithmetic:
//
//   y = clamp(y.zp + MultiplyByQuantizedMultiplier(x − x.zp, M), y.zp, 127),  M = x.scale / y.scale
//
// When x and y share their parameters (what converters emit for a standalone ReLU) this is
// exactly max(x, zp), and eval takes that shortcut. (A 256-entry table would make every case
// a lookup, but costs 256 arena bytes per ReLU against 16; on the node, RAM is scarcer than
// the few cycles per element.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/inference/quantization.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct ReluData {
  QuantizedMultiplier multiplier;  // x.scale / y.scale
  std::int32_t input_zero_point = 0;
  std::int32_t output_zero_point = 0;
  bool same_parameters = false;  // y = max(x, zp)
};

std::size_t relu_persistent_bytes();
// Errors: kDoesNotFit.
Result<ReluData*> init_relu(Arena& arena);
// Errors: kMalformed for a per-channel quantized input (only a constant can be one, and
// the parser accepts it; the kernel's arithmetic is per tensor).
Status prepare_relu(const container::Tensor& input, const container::Tensor& output,
                    ReluData& data);
void eval_relu(const ReluData& data, std::span<const std::int8_t> input,
               std::span<std::int8_t> output);
// The float reference: y = min(max(x, 0), real_y(127)). `input_values` are the input's real
// values (empty when the input is a constant, which is then read from the container).
void reference_relu(const container::Tensor& input, const container::Tensor& output,
                    FloatValues input_values, std::span<float> output_values);

extern const KernelRegistration kReluKernel;

}  // namespace spindle::inference
