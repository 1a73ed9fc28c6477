#include "spindle/inference/dequantize.hpp"

#include "spindle/inference/quantization.hpp"

namespace spindle::inference {

std::size_t dequantize_persistent_bytes() {
  return Arena::aligned_size(sizeof(DequantizeData));
}

Result<DequantizeData*> init_dequantize(Arena& arena) {
  return arena.create_persistent<DequantizeData>();
}

Status prepare_dequantize(const container::Tensor& input, DequantizeData& data) {
  if (input.per_channel()) return Error::kMalformed;
  data.scale = input.scale;
  data.zero_point = input.zero_point;
  return kOk;
}

void eval_dequantize(const DequantizeData& data, std::span<const std::int8_t> input,
                     std::span<float> output) {
  for (std::size_t i = 0; i < input.size(); ++i)
    output[i] = dequantize_value(input[i], data.scale, data.zero_point);
}

void reference_dequantize(const container::Tensor& input, FloatValues input_values,
                          std::span<float> output_values) {
  for (std::size_t i = 0; i < output_values.size(); ++i)
    output_values[i] = real_value(input, input_values, i);
}

namespace {

std::size_t persistent_bytes(const OpTensors&) {
  return dequantize_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(DequantizeData * data, init_dequantize(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_dequantize(t.inputs[0], *static_cast<DequantizeData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  eval_dequantize(*static_cast<const DequantizeData*>(op_data), b.inputs[0].int8(),
                  b.output.float32());
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  reference_dequantize(t.inputs[0], b.inputs[0], b.output);
}

}  // namespace

const KernelRegistration kDequantizeKernel = {persistent_bytes, init, prepare, eval, reference};

}  // namespace spindle::inference
