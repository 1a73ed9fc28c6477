#include "spindle/inference/kernel.hpp"

#include "spindle/inference/dequantize.hpp"
#include "spindle/inference/fully_connected.hpp"
#include "spindle/inference/nearest_centroid.hpp"
#include "spindle/inference/quantization.hpp"
#include "spindle/inference/quantize.hpp"
#include "spindle/inference/reconstruction_error.hpp"
#include "spindle/inference/relu.hpp"
#include "spindle/inference/standardize.hpp"

namespace spindle::inference {

float real_value(const container::Tensor& tensor, const TensorData& data, std::size_t index) {
  if (tensor.type == container::ElementType::kFloat32) return data.float32()[index];
  const std::int8_t q = data.int8()[index];
  if (!tensor.per_channel()) return dequantize_value(q, tensor.scale, tensor.zero_point);
  // Per-channel scales run along axis 0: element `index` belongs to channel index / inner.
  const std::size_t inner = tensor.element_count() / tensor.dims[0];
  return dequantize_value(q, tensor.channel_scale(index / inner), tensor.zero_point);
}

float real_value(const container::Tensor& tensor, FloatValues values, std::size_t index) {
  if (!tensor.constant) return values[index];
  return real_value(tensor, TensorData{tensor.type, tensor.element_count(), tensor.data.data()},
                    index);
}

const KernelRegistration* find_kernel(container::OpCode code) {
  switch (code) {
    case container::OpCode::kFullyConnected:
      return &kFullyConnectedKernel;
    case container::OpCode::kRelu:
      return &kReluKernel;
    case container::OpCode::kQuantize:
      return &kQuantizeKernel;
    case container::OpCode::kDequantize:
      return &kDequantizeKernel;
    case container::OpCode::kReconstructionError:
      return &kReconstructionErrorKernel;
    case container::OpCode::kNearestCentroid:
      return &kNearestCentroidKernel;
    case container::OpCode::kStandardize:
      return &kStandardizeKernel;
  }
  return nullptr;
}

std::uint32_t runtime_op_set() {
  std::uint32_t op_set = 0;
  for (auto code = static_cast<std::uint32_t>(container::OpCode::kFullyConnected);
       code <= static_cast<std::uint32_t>(container::kLastOpCode); ++code) {
    if (find_kernel(static_cast<container::OpCode>(code)) != nullptr) op_set |= 1U << code;
  }
  return op_set;
}

}  // namespace spindle::inference
