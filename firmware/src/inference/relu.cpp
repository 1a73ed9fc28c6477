#include "spindle/inference/relu.hpp"

namespace spindle::inference {

std::size_t relu_persistent_bytes() {
  return Arena::aligned_size(sizeof(ReluData));
}

Result<ReluData*> init_relu(Arena& arena) {
  return arena.create_persistent<ReluData>();
}

Status prepare_relu(const container::Tensor& input, const container::Tensor& output,
                    ReluData& data) {
  if (input.per_channel()) return Error::kMalformed;
  data.multiplier =
      quantize_multiplier(static_cast<double>(input.scale) / static_cast<double>(output.scale));
  data.input_zero_point = input.zero_point;
  data.output_zero_point = output.zero_point;
  data.same_parameters = input.scale == output.scale && input.zero_point == output.zero_point;
  return kOk;
}

void eval_relu(const ReluData& data, std::span<const std::int8_t> input,
               std::span<std::int8_t> output) {
  // TFLite: quantized_activation_min = max(-128, y.zp + round(0 / y.scale)) = y.zp.
  const std::int32_t zero = data.output_zero_point;
  if (data.same_parameters) {
    const auto floor = static_cast<std::int8_t>(zero);
    for (std::size_t i = 0; i < input.size(); ++i)
      output[i] = input[i] < floor ? floor : input[i];
    return;
  }
  for (std::size_t i = 0; i < input.size(); ++i) {
    const std::int32_t y =
        zero + multiply_by_quantized_multiplier(input[i] - data.input_zero_point, data.multiplier);
    output[i] = saturate_to_int8(y, zero, 127);
  }
}

void reference_relu(const container::Tensor& input, const container::Tensor& output,
                    FloatValues input_values, std::span<float> output_values) {
  const float max = representable_range(output.scale, output.zero_point).max;
  for (std::size_t i = 0; i < output_values.size(); ++i) {
    const float x = real_value(input, input_values, i);
    output_values[i] = x < 0.0f ? 0.0f : (x > max ? max : x);
  }
}

namespace {

std::size_t persistent_bytes(const OpTensors&) {
  return relu_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(ReluData * data, init_relu(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_relu(t.inputs[0], t.output, *static_cast<ReluData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  eval_relu(*static_cast<const ReluData*>(op_data), b.inputs[0].int8(), b.output.int8());
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  reference_relu(t.inputs[0], t.output, b.inputs[0], b.output);
}

}  // namespace

const KernelRegistration kReluKernel = {persistent_bytes, init, prepare, eval, reference};

}  // namespace spindle::inference
