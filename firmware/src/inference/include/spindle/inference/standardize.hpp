// Standardize, float32 → float32 (container opcode 7): y[d] = (x[d] − mean[d]) · inv_std[d],
// with mean = params[0] and inv_std = params[1] (a constant [2, D] float32 tensor). The
// trainer folds the per-feature centring and scaling it trained with into the model, so the
// node feeds raw features and the quantize op after this one sees values of similar range
// (a kurtosis near 3 beside a centroid near 500 Hz would otherwise share one int8 scale).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct StandardizeData {
  FloatValues mean;
  FloatValues inv_std;
};

std::size_t standardize_persistent_bytes();
// Errors: kDoesNotFit.
Result<StandardizeData*> init_standardize(Arena& arena);
// Errors: kInvalidValue when a mean is not finite or an inverse stddev is not finite and
// > 0 (the parser checks shapes, not constant values).
Status prepare_standardize(const container::Tensor& params, StandardizeData& data);
void eval_standardize(const StandardizeData& data, FloatValues input, std::span<float> output);
// x for a standardized value y: what the graph input held when the standardized tensor
// holds y (the interpreter writes it back when a caller enters the graph past this op).
float unstandardize(const StandardizeData& data, std::size_t index, float y);

extern const KernelRegistration kStandardizeKernel;

}  // namespace spindle::inference
