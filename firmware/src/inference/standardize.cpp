#include "spindle/inference/standardize.hpp"

#include <cmath>

namespace spindle::inference {

std::size_t standardize_persistent_bytes() {
  return Arena::aligned_size(sizeof(StandardizeData));
}

Result<StandardizeData*> init_standardize(Arena& arena) {
  return arena.create_persistent<StandardizeData>();
}

Status prepare_standardize(const container::Tensor& params, StandardizeData& data) {
  const std::size_t depth = params.dims[1];
  const FloatValues mean(params.data.data(), depth);
  const FloatValues inv_std(params.data.data() + depth * sizeof(float), depth);
  for (std::size_t d = 0; d < depth; ++d) {
    if (!std::isfinite(mean[d]) || !std::isfinite(inv_std[d]) || !(inv_std[d] > 0.0f)) {
      return Error::kInvalidValue;
    }
  }
  data.mean = mean;
  data.inv_std = inv_std;
  return kOk;
}

void eval_standardize(const StandardizeData& data, FloatValues input, std::span<float> output) {
  for (std::size_t d = 0; d < output.size(); ++d)
    output[d] = (input[d] - data.mean[d]) * data.inv_std[d];
}

float unstandardize(const StandardizeData& data, std::size_t index, float y) {
  return y / data.inv_std[index] + data.mean[index];
}

namespace {

std::size_t persistent_bytes(const OpTensors&) {
  return standardize_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(StandardizeData * data, init_standardize(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_standardize(t.inputs[1], *static_cast<StandardizeData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  eval_standardize(*static_cast<const StandardizeData*>(op_data), b.inputs[0].float32(),
                   b.output.float32());
}

// Float in, float out: the reference is the same arithmetic. The reference path has no
// prepared data, so it reads the constant again.
void reference(const OpTensors& t, const ReferenceBuffers& b) {
  StandardizeData data;
  (void)prepare_standardize(t.inputs[1], data);  // load() prepared the same constant
  eval_standardize(data, b.inputs[0], b.output);
}

}  // namespace

const KernelRegistration kStandardizeKernel = {persistent_bytes, init, prepare, eval, reference};

}  // namespace spindle::inference
