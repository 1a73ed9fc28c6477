#include "spindle/inference/reconstruction_error.hpp"

namespace spindle::inference {
namespace {

using container::ReconstructionMetric;

float mean_error(float sum, std::uint32_t count) {
  return count == 0 ? 0.0f : sum / static_cast<float>(count);
}

// The float path shared by eval (int8 or float operands) and the reference: `real_a(i)`,
// `real_b(i)` give the real values.
template <typename RealA, typename RealB>
float float_error(ReconstructionMetric metric, std::uint32_t count, RealA real_a, RealB real_b) {
  float sum = 0.0f;
  for (std::uint32_t i = 0; i < count; ++i) {
    const float d = real_a(i) - real_b(i);
    sum += metric == ReconstructionMetric::kMeanSquaredError ? d * d : (d < 0.0f ? -d : d);
  }
  return mean_error(sum, count);
}

}  // namespace

std::size_t reconstruction_error_persistent_bytes() {
  return Arena::aligned_size(sizeof(ReconstructionErrorData));
}

Result<ReconstructionErrorData*> init_reconstruction_error(Arena& arena) {
  return arena.create_persistent<ReconstructionErrorData>();
}

Status prepare_reconstruction_error(const container::Tensor& a, const container::Tensor& b,
                                    ReconstructionMetric metric, ReconstructionErrorData& data) {
  data.metric = metric;
  data.count = a.element_count();
  data.a = a;
  data.b = b;
  data.integer_path = a.type == container::ElementType::kInt8 &&
                      b.type == container::ElementType::kInt8 && !a.per_channel() &&
                      !b.per_channel() && a.scale == b.scale;
  return kOk;
}

float eval_reconstruction_error(const ReconstructionErrorData& data, const TensorData& a,
                                const TensorData& b) {
  if (data.integer_path) {
    const std::span<const std::int8_t> qa = a.int8();
    const std::span<const std::int8_t> qb = b.int8();
    // Folding both zero points into one offset keeps the loop to a subtract per element;
    // |d| <= 255 + 255, so d² sums of up to 2^32 elements stay far inside int64.
    const std::int32_t offset = data.b.zero_point - data.a.zero_point;
    std::int64_t sum = 0;
    for (std::uint32_t i = 0; i < data.count; ++i) {
      const std::int32_t d = std::int32_t{qa[i]} - std::int32_t{qb[i]} + offset;
      sum += data.metric == ReconstructionMetric::kMeanSquaredError ? std::int64_t{d} * d
                                                                    : (d < 0 ? -d : d);
    }
    const float scale = data.a.scale;
    const float unit =
        data.metric == ReconstructionMetric::kMeanSquaredError ? scale * scale : scale;
    return mean_error(static_cast<float>(sum), data.count) * unit;
  }
  return float_error(
      data.metric, data.count, [&](std::uint32_t i) { return real_value(data.a, a, i); },
      [&](std::uint32_t i) { return real_value(data.b, b, i); });
}

float reference_reconstruction_error(const container::Tensor& a, const container::Tensor& b,
                                     ReconstructionMetric metric, FloatValues a_values,
                                     FloatValues b_values) {
  return float_error(
      metric, a.element_count(), [&](std::uint32_t i) { return real_value(a, a_values, i); },
      [&](std::uint32_t i) { return real_value(b, b_values, i); });
}

namespace {

ReconstructionMetric metric_of(const OpTensors& t) {
  return static_cast<ReconstructionMetric>(t.op.params[0]);
}

std::size_t persistent_bytes(const OpTensors&) {
  return reconstruction_error_persistent_bytes();
}

Result<void*> init(const OpTensors&, Arena& arena) {
  SPINDLE_TRY_ASSIGN(ReconstructionErrorData * data, init_reconstruction_error(arena));
  return static_cast<void*>(data);
}

Status prepare(const OpTensors& t, void* op_data) {
  return prepare_reconstruction_error(t.inputs[0], t.inputs[1], metric_of(t),
                                      *static_cast<ReconstructionErrorData*>(op_data));
}

void eval(const void* op_data, const OpBuffers& b) {
  b.output.float32()[0] = eval_reconstruction_error(
      *static_cast<const ReconstructionErrorData*>(op_data), b.inputs[0], b.inputs[1]);
}

void reference(const OpTensors& t, const ReferenceBuffers& b) {
  b.output[0] = reference_reconstruction_error(t.inputs[0], t.inputs[1], metric_of(t), b.inputs[0],
                                               b.inputs[1]);
}

}  // namespace

const KernelRegistration kReconstructionErrorKernel = {persistent_bytes, init, prepare, eval,
                                                       reference};

}  // namespace spindle::inference
