// Fully connected, int8 (container opcode 1), with TFLite Micro's integer arithmetic:
//
//   acc[c] = bias[c] + Σ_i (x[i] − x.zp) · w[c][i]                        int32
//   y[c]   = clamp(MultiplyByQuantizedMultiplier(acc[c], M[c]) + y.zp, min, max)
//   M[c]   = x.scale · w.scale[c] / y.scale                                per output channel
//
// Weights are symmetric int8 (zero point 0), per tensor or per output channel; the bias is
// int32 in the accumulator's scale x.scale · w.scale[c] (its own stored scale is not used,
// as in TFLite). prepare() folds the input zero point into the bias (CMSIS-NN's "kernel
// sum": bias[c] − x.zp · Σ_i w[c][i]) so the inner loop is a plain int8 dot product, and
// checks that no accumulator can overflow int32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/inference/quantization.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct FullyConnectedData {
  std::uint32_t batches = 0;       // product of the input's leading dims
  std::uint32_t input_depth = 0;   // the input's last dim
  std::uint32_t output_depth = 0;  // weights dims[0]
  std::int32_t output_zero_point = 0;
  std::int32_t activation_min = -128;  // op params, in the output's int8 domain
  std::int32_t activation_max = 127;
  const std::int8_t* weights = nullptr;        // [output_depth][input_depth], in place
  std::span<std::int32_t> folded_bias;         // [output_depth], in the arena
  std::span<QuantizedMultiplier> multipliers;  // [output_depth], in the arena
};

// Persistent bytes init_fully_connected() takes for these weights.
std::size_t fully_connected_persistent_bytes(const container::Tensor& weights);

// Allocates the op data and its per-channel arrays. Errors: kDoesNotFit.
Result<FullyConnectedData*> init_fully_connected(const container::Tensor& weights, Arena& arena);

// Computes the per-channel multipliers and folded biases. `clamp_min`/`clamp_max` are the
// op's params (a fused activation in the output's int8 domain). Errors: kInvalidValue when
// some output channel's accumulator could leave the int32 range for some int8 input (a
// bias or a weight row too large), rather than wrap silently at run time.
Status prepare_fully_connected(const container::Tensor& input, const container::Tensor& weights,
                               const container::Tensor& bias, const container::Tensor& output,
                               std::int32_t clamp_min, std::int32_t clamp_max,
                               FullyConnectedData& data);

// y = FC(x). `input` holds batches × input_depth elements, `output` batches × output_depth.
void eval_fully_connected(const FullyConnectedData& data, std::span<const std::int8_t> input,
                          std::span<std::int8_t> output);

// The float reference: y = clamp(Σ_i x[i] · w[c][i] · w.scale[c] + bias[c] · x.scale ·
// w.scale[c], real(min), real(max)) on real values, where real(q) = y.scale · (q − y.zp).
// `input` are the real input values.
void reference_fully_connected(const container::Tensor& input, const container::Tensor& weights,
                               const container::Tensor& bias, const container::Tensor& output,
                               std::int32_t clamp_min, std::int32_t clamp_max,
                               FloatValues input_values, std::span<float> output_values);

extern const KernelRegistration kFullyConnectedKernel;

}  // namespace spindle::inference
