// ReLU, int8 (container opcode 2): real_y = max(0, real_x), requantized to y's parameters
// with TFLite Micro's ReluQuantized arithmetic:
//
//   y = clamp(y.zp + MultiplyByQuantizedMultiplier(x − x.zp, M), y.zp, 127),  M = x.scale / y.scale
//
// An int8 input has only 256 values, so prepare() evaluates that expression once for each
// into a table and eval() is one lookup per element (bit-identical to computing it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct ReluData {
  std::array<std::int8_t, 256> table{};  // indexed by x + 128
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
