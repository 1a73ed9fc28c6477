// Reconstruction error (container opcode 5), the autoencoder's score: the mean over
// elements of (real_a − real_b)² (params[0] = 0, MSE) or |real_a − real_b| (1, MAE), where
// a and b are int8 or float32.
//
// When a and b are both int8 with the same per-tensor scale s (an autoencoder whose output
// is quantized like its quantized input, the usual case), the sum runs in integers on
// d = (a − a.zp) − (b − b.zp) and is scaled once at the end: MSE = s² · Σd² / n,
// MAE = s · Σ|d| / n. It is then exact up to that final float multiply, and a perfect
// reconstruction scores exactly 0. Otherwise each element is dequantized and the sum is
// taken in float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference {

struct ReconstructionErrorData {
  container::ReconstructionMetric metric{};
  bool integer_path = false;  // both int8, equal per-tensor scales
  std::uint32_t count = 0;
  container::Tensor a;  // descriptions for dequantizing on the float path
  container::Tensor b;
};

std::size_t reconstruction_error_persistent_bytes();
// Errors: kDoesNotFit.
Result<ReconstructionErrorData*> init_reconstruction_error(Arena& arena);
// Never fails (the parser checked types, counts and the metric); returns a Status for the
// uniform kernel interface.
Status prepare_reconstruction_error(const container::Tensor& a, const container::Tensor& b,
                                    container::ReconstructionMetric metric,
                                    ReconstructionErrorData& data);
float eval_reconstruction_error(const ReconstructionErrorData& data, const TensorData& a,
                                const TensorData& b);
// The float reference on real values (empty FloatValues for a constant operand).
float reference_reconstruction_error(const container::Tensor& a, const container::Tensor& b,
                                     container::ReconstructionMetric metric, FloatValues a_values,
                                     FloatValues b_values);

extern const KernelRegistration kReconstructionErrorKernel;

}  // namespace spindle::inference
