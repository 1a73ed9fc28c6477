#include "spindle/inference/quantize.hpp"

#include "spindle/inference/quantization.hpp"

namespace spindle::inference {

std::size_t quantize_persistent_bytes() {
  return Arena::aligned_size(sizeof(QuantizeData));
}

Result<QuantizeData*> init_quantize(Arena& arena) {
  return arena.create_persistent<QuantizeData>();
}

Status prepare_quantize(const container::Tensor& output, QuantizeData& data) {
  data.scale = output.scale;
  data.zero_point = output.zero_point;
  return kOk;
}

void eval_quantize(const QuantizeData& data, FloatValues input, std::span<std::int8_t> output) {
  for (std::size_t i = 0; i < output.size(); ++i)
    output[i] = quantize_value(input[i], data.scale, data.zero_point);
}

void reference_quantize(const container::Tensor& input, const container::Tensor& output,
                        FloatValues input_values, std::span<float> output_values) {
  const RealRange range = representable_range(output.scale, output.zero_point);
  for (std::size_t i = 0; i < output_values.size(); ++i) {
    const float x = real_value(input, input_values, i);
    output_values[i] = x < range.min ? range.min : (x > range.max ? range.max : x);
  }
}

namespace {

std::size_t persistent_bytes(const OpTensors&) {
  return quantize_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(QuantizeData * data, init_quantize(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_quantize(t.output, *static_cast<QuantizeData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  eval_quantize(*static_cast<const QuantizeData*>(op_data), b.inputs[0].float32(), b.output.int8());
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  reference_quantize(t.inputs[0], t.output, b.inputs[0], b.output);
}

}  // namespace

const KernelRegistration kQuantizeKernel = {persistent_bytes, init, prepare, eval, reference};

}  // namespace spindle::inference
