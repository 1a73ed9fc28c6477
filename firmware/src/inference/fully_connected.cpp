#include "spindle/inference/fully_connected.hpp"

#include <limits>

namespace spindle::inference {
namespace {

std::uint32_t output_depth_of(const container::Tensor& weights) {
  return weights.dims[0];
}

std::uint32_t input_depth_of(const container::Tensor& weights) {
  return weights.dims[1];
}

std::span<const std::int8_t> weight_row(const container::Tensor& weights, std::uint32_t channel) {
  const std::uint32_t depth = input_depth_of(weights);
  return {reinterpret_cast<const std::int8_t*>(weights.data.data()) + channel * depth, depth};
}

}  // namespace

std::size_t fully_connected_persistent_bytes(const container::Tensor& weights) {
  const std::size_t channels = output_depth_of(weights);
  return Arena::aligned_size(sizeof(FullyConnectedData)) +
         Arena::aligned_size(channels * sizeof(std::int32_t)) +
         Arena::aligned_size(channels * sizeof(QuantizedMultiplier));
}

Result<FullyConnectedData*> init_fully_connected(const container::Tensor& weights, Arena& arena) {
  const std::size_t channels = output_depth_of(weights);
  SPINDLE_TRY_ASSIGN(FullyConnectedData * data, arena.create_persistent<FullyConnectedData>());
  SPINDLE_TRY_ASSIGN(data->folded_bias, arena.create_persistent_array<std::int32_t>(channels));
  SPINDLE_TRY_ASSIGN(data->multipliers,
                     arena.create_persistent_array<QuantizedMultiplier>(channels));
  return data;
}

Status prepare_fully_connected(const container::Tensor& input, const container::Tensor& weights,
                               const container::Tensor& bias, const container::Tensor& output,
                               std::int32_t clamp_min, std::int32_t clamp_max,
                               FullyConnectedData& data) {
  const std::uint32_t depth = input_depth_of(weights);
  data.input_depth = depth;
  data.output_depth = output_depth_of(weights);
  data.batches = input.element_count() / depth;
  data.output_zero_point = output.zero_point;
  data.activation_min = clamp_min;
  data.activation_max = clamp_max;
  data.weights = reinterpret_cast<const std::int8_t*>(weights.data.data());

  constexpr std::int64_t kAccumulatorMax = std::numeric_limits<std::int32_t>::max();
  for (std::uint32_t c = 0; c < data.output_depth; ++c) {
    std::int64_t row_sum = 0;
    std::int64_t row_magnitude = 0;
    for (const std::int8_t w : weight_row(weights, c)) {
      row_sum += w;
      row_magnitude += w < 0 ? -w : w;
    }
    const std::int64_t folded = std::int64_t{load_int32(bias.data, c)} - input.zero_point * row_sum;
    // |x| <= 128 for every int8 input, so this bounds |acc| over all inputs.
    const std::int64_t bound = (folded < 0 ? -folded : folded) + 128 * row_magnitude;
    if (bound > kAccumulatorMax) return Error::kInvalidValue;
    data.folded_bias[c] = static_cast<std::int32_t>(folded);
    data.multipliers[c] = quantize_multiplier(static_cast<double>(input.scale) *
                                              static_cast<double>(weights.channel_scale(c)) /
                                              static_cast<double>(output.scale));
  }
  return kOk;
}

namespace {

std::int8_t requantize(const FullyConnectedData& data, std::uint32_t channel, std::int32_t acc) {
  const std::int32_t scaled =
      multiply_by_quantized_multiplier(acc, data.multipliers[channel]) + data.output_zero_point;
  return saturate_to_int8(scaled, data.activation_min, data.activation_max);
}

}  // namespace

void eval_fully_connected(const FullyConnectedData& data, std::span<const std::int8_t> input,
                          std::span<std::int8_t> output) {
  const std::uint32_t depth = data.input_depth;
  const std::uint32_t channels = data.output_depth;
  for (std::uint32_t b = 0; b < data.batches; ++b) {
    const std::int8_t* x = input.data() + b * depth;
    std::int8_t* y = output.data() + b * channels;
    // Four output channels per pass: each input element is loaded once for four weight
    // rows, the register blocking CMSIS-NN's vector-matrix kernels use.
    std::uint32_t c = 0;
    for (; c + 4 <= channels; c += 4) {
      const std::int8_t* w0 = data.weights + std::size_t{c} * depth;
      const std::int8_t* w1 = w0 + depth;
      const std::int8_t* w2 = w1 + depth;
      const std::int8_t* w3 = w2 + depth;
      std::int32_t acc0 = data.folded_bias[c];
      std::int32_t acc1 = data.folded_bias[c + 1];
      std::int32_t acc2 = data.folded_bias[c + 2];
      std::int32_t acc3 = data.folded_bias[c + 3];
      for (std::uint32_t i = 0; i < depth; ++i) {
        const std::int32_t xi = x[i];
        acc0 += xi * w0[i];
        acc1 += xi * w1[i];
        acc2 += xi * w2[i];
        acc3 += xi * w3[i];
      }
      y[c] = requantize(data, c, acc0);
      y[c + 1] = requantize(data, c + 1, acc1);
      y[c + 2] = requantize(data, c + 2, acc2);
      y[c + 3] = requantize(data, c + 3, acc3);
    }
    for (; c < channels; ++c) {
      const std::int8_t* w = data.weights + std::size_t{c} * depth;
      std::int32_t acc = data.folded_bias[c];
      for (std::uint32_t i = 0; i < depth; ++i)
        acc += std::int32_t{x[i]} * std::int32_t{w[i]};
      y[c] = requantize(data, c, acc);
    }
  }
}

void reference_fully_connected(const container::Tensor& input, const container::Tensor& weights,
                               const container::Tensor& bias, const container::Tensor& output,
                               std::int32_t clamp_min, std::int32_t clamp_max,
                               FloatValues input_values, std::span<float> output_values) {
  const std::uint32_t depth = input_depth_of(weights);
  const std::uint32_t channels = output_depth_of(weights);
  const std::uint32_t batches = input.element_count() / depth;
  const RealRange range =
      representable_range(output.scale, output.zero_point, clamp_min, clamp_max);
  for (std::uint32_t b = 0; b < batches; ++b) {
    for (std::uint32_t c = 0; c < channels; ++c) {
      const float weight_scale = weights.channel_scale(c);
      float sum = static_cast<float>(load_int32(bias.data, c)) * input.scale * weight_scale;
      const std::span<const std::int8_t> row = weight_row(weights, c);
      for (std::uint32_t i = 0; i < depth; ++i) {
        sum += input_values[b * depth + i] * (static_cast<float>(row[i]) * weight_scale);
      }
      output_values[b * channels + c] =
          sum < range.min ? range.min : (sum > range.max ? range.max : sum);
    }
  }
}

namespace {

std::size_t persistent_bytes(const OpTensors& t) {
  return fully_connected_persistent_bytes(t.inputs[1]);
}

Result<void*> init(const OpTensors& t, Arena& arena) {
  SPINDLE_TRY_ASSIGN(FullyConnectedData * data, init_fully_connected(t.inputs[1], arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_fully_connected(t.inputs[0], t.inputs[1], t.inputs[2], t.output, t.op.params[0],
                                 t.op.params[1], *static_cast<FullyConnectedData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  eval_fully_connected(*static_cast<const FullyConnectedData*>(op_data), b.inputs[0].int8(),
                       b.output.int8());
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  reference_fully_connected(t.inputs[0], t.inputs[1], t.inputs[2], t.output, t.op.params[0],
                            t.op.params[1], b.inputs[0], b.output);
}

}  // namespace

const KernelRegistration kFullyConnectedKernel = {persistent_bytes, init, prepare, eval, reference};

}  // namespace spindle::inference
