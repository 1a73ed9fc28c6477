#include "spindle/inference/interpreter.hpp"

#include <cmath>
#include <cstring>

#include "spindle/inference/memory_planner.hpp"
#include "spindle/inference/quantization.hpp"
#include "spindle/inference/standardize.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using container::OpCode;

constexpr std::uint8_t kNone = Interpreter::kNoTensor;
constexpr std::uint64_t kSizeMax = static_cast<std::size_t>(-1);

std::uint32_t bit(std::uint8_t tensor) {
  return tensor == kNone ? 0u : 1u << tensor;
}

// Which tensors the caller reads and writes around the op table.
struct Topology {
  std::uint8_t int8_entry = kNone;
  std::uint8_t entry_op = kNone;
  std::uint8_t standardize_op = kNone;  // the standardize op in front of entry_op, if any
  std::uint8_t int8_output = kNone;
  std::uint32_t alive_from_start = 0;
  std::uint32_t keep_until_end = 0;
};

Result<OpTensors> op_tensors(const container::ContainerView& model, std::size_t index) {
  OpTensors t;
  SPINDLE_TRY_ASSIGN(t.op, model.op(index));
  for (std::size_t k = 0; k < t.op.input_count; ++k) {
    SPINDLE_TRY_ASSIGN(t.inputs[k], model.tensor(t.op.inputs[k]));
  }
  SPINDLE_TRY_ASSIGN(t.output, model.tensor(t.op.outputs[0]));
  return t;
}

// Errors: kMalformed for a graph input the runtime cannot write (int32).
Result<Topology> analyse(const container::ContainerView& model, Arithmetic arithmetic) {
  const container::Header& h = model.header();
  SPINDLE_TRY_ASSIGN(const container::Tensor input, model.tensor(h.input_tensor));
  if (input.type == ElementType::kInt32) return Error::kMalformed;

  Topology topology;
  std::array<std::uint8_t, container::kMaxTensors> producer{};
  producer.fill(kNone);
  if (input.type == ElementType::kInt8) topology.int8_entry = h.input_tensor;
  // The int8 entry is the quantized graph input, or the quantized standardized input: a
  // caller of invoke_int8() enters past both ops.
  std::uint8_t standardized = kNone;
  std::uint8_t standardize_op = kNone;
  for (std::uint8_t i = 0; i < h.op_count; ++i) {
    SPINDLE_TRY_ASSIGN(const container::Op op, model.op(i));
    producer[op.outputs[0]] = i;
    if (standardized == kNone && op.code == OpCode::kStandardize &&
        op.inputs[0] == h.input_tensor) {
      standardized = op.outputs[0];
      standardize_op = i;
    }
    const bool from_input = op.inputs[0] == h.input_tensor;
    const bool from_standardized = standardized != kNone && op.inputs[0] == standardized;
    if (topology.int8_entry == kNone && op.code == OpCode::kQuantize &&
        (from_input || from_standardized)) {
      topology.int8_entry = op.outputs[0];
      topology.entry_op = i;
      if (from_standardized) topology.standardize_op = standardize_op;
    }
  }

  // The tensor the scoring op scores, traced back through a dequantize op.
  SPINDLE_TRY_ASSIGN(const container::Op scoring, model.op(producer[h.output_tensor]));
  std::uint8_t scored =
      h.model_kind == container::ModelKind::kAutoencoder ? scoring.inputs[1] : scoring.inputs[0];
  if (producer[scored] != kNone) {
    SPINDLE_TRY_ASSIGN(const container::Op op, model.op(producer[scored]));
    if (op.code == OpCode::kDequantize) scored = op.inputs[0];
  }
  SPINDLE_TRY_ASSIGN(const container::Tensor scored_tensor, model.tensor(scored));
  if (scored_tensor.type == ElementType::kInt8 && !scored_tensor.constant) {
    topology.int8_output = scored;
  }

  if (arithmetic == Arithmetic::kFloatReference) {
    // No reuse: every activation stays readable after invoke (reference_values()).
    topology.alive_from_start = 0xffffffffu;
    topology.keep_until_end = 0xffffffffu;
  } else {
    // invoke_int8() writes the input and the standardized input back before any op runs.
    topology.alive_from_start = bit(h.input_tensor) | bit(topology.int8_entry);
    if (topology.standardize_op != kNone) {
      SPINDLE_TRY_ASSIGN(const container::Op op, model.op(topology.standardize_op));
      topology.alive_from_start |= bit(op.outputs[0]);
    }
    // int8_input() shows the entry after invoke: kept, like the output, to the end.
    topology.keep_until_end =
        bit(h.output_tensor) | bit(topology.int8_output) | bit(topology.int8_entry);
  }
  return topology;
}

// Everything load() allocates, before allocating anything.
struct Requirements {
  Topology topology;
  ActivationPlan plan;
  std::uint64_t persistent_bytes = 0;
  std::uint64_t total() const { return plan.total_bytes + persistent_bytes; }
};

Result<Requirements> requirements(const container::ContainerView& model, Arithmetic arithmetic) {
  Requirements r;
  SPINDLE_TRY_ASSIGN(r.topology, analyse(model, arithmetic));
  const container::Header& h = model.header();
  std::array<std::uint64_t, container::kMaxTensors> bytes{};
  for (std::size_t t = 0; t < h.tensor_count; ++t) {
    SPINDLE_TRY_ASSIGN(const container::Tensor tensor, model.tensor(t));
    bytes[t] = arithmetic == Arithmetic::kFloatReference
                   ? std::uint64_t{tensor.element_count()} * sizeof(float)
                   : std::uint64_t{tensor.byte_size()};
  }
  SPINDLE_TRY_ASSIGN(r.plan, plan_activations(model, bytes, r.topology.alive_from_start,
                                              r.topology.keep_until_end));
  for (std::size_t i = 0; i < h.op_count; ++i) {
    SPINDLE_TRY_ASSIGN(const OpTensors t, op_tensors(model, i));
    const KernelRegistration* kernel = find_kernel(t.op.code);
    if (kernel == nullptr) return Error::kMalformed;
    r.persistent_bytes += kernel->persistent_bytes(t);
  }
  return r;
}

std::size_t saturate(std::uint64_t bytes) {
  return bytes > kSizeMax ? static_cast<std::size_t>(kSizeMax) : static_cast<std::size_t>(bytes);
}

}  // namespace

Result<std::size_t> required_arena_bytes(std::span<const std::uint8_t> container_bytes,
                                         Arithmetic arithmetic) {
  SPINDLE_TRY_ASSIGN(const container::ContainerView model,
                     container::parse_container(container_bytes));
  SPINDLE_TRY_ASSIGN(const Requirements r, requirements(model, arithmetic));
  return saturate(r.total());
}

Status Interpreter::load(std::span<const std::uint8_t> container_bytes,
                         std::span<std::uint8_t> arena, Arithmetic arithmetic) {
  unload();
  const Status status = load_model(container_bytes, arena, arithmetic);
  if (!status.ok()) {
    const std::size_t required = required_arena_bytes_;
    unload();  // no half-prepared state survives a failure
    required_arena_bytes_ = required;
  }
  return status;
}

Status Interpreter::load_model(std::span<const std::uint8_t> container_bytes,
                               std::span<std::uint8_t> arena, Arithmetic arithmetic) {
  SPINDLE_TRY_ASSIGN(const container::ContainerView model,
                     container::parse_container(container_bytes));
  SPINDLE_TRY_ASSIGN(const Requirements r, requirements(model, arithmetic));
  required_arena_bytes_ = Arena::required_bytes(arena.data(), saturate(r.total()));
  if (arena.size() < required_arena_bytes_) return Error::kDoesNotFit;

  arena_ = Arena(arena);
  SPINDLE_TRY_ASSIGN(const std::span<std::uint8_t> activations,
                     arena_.allocate_scratch(static_cast<std::size_t>(r.plan.total_bytes)));
  const container::Header& h = model.header();
  for (std::size_t t = 0; t < h.tensor_count; ++t) {
    SPINDLE_TRY_ASSIGN(const container::Tensor tensor, model.tensor(t));
    RuntimeTensor& rt = tensors_[t];
    rt.type = tensor.type;
    rt.count = tensor.element_count();
    if (tensor.constant) {
      rt.constant = tensor.data.data();
    } else if (r.plan.offsets[t] != kNotPlanned) {
      rt.activation = activations.data() + r.plan.offsets[t];
    }
  }
  for (std::size_t i = 0; i < h.op_count; ++i) {
    SPINDLE_TRY_ASSIGN(const OpTensors t, op_tensors(model, i));
    PreparedOp& op = ops_[i];
    op.op = t.op;
    op.kernel = find_kernel(t.op.code);
    SPINDLE_TRY_ASSIGN(op.data, op.kernel->init(t, arena_));
    SPINDLE_TRY(op.kernel->prepare(t, op.data));
  }

  model_ = model;
  arithmetic_ = arithmetic;
  int8_entry_ = r.topology.int8_entry;
  entry_op_ = r.topology.entry_op;
  standardize_op_ = r.topology.standardize_op;
  int8_output_ = r.topology.int8_output;
  loaded_ = true;
  return kOk;
}

void Interpreter::unload() {
  loaded_ = false;
  required_arena_bytes_ = 0;
  model_ = {};
  arena_ = Arena();
  int8_entry_ = kNone;
  entry_op_ = kNone;
  standardize_op_ = kNone;
  int8_output_ = kNone;
  tensors_ = {};
  ops_ = {};
}

std::size_t Interpreter::input_size() const {
  return loaded_ ? tensors_[model_.header().input_tensor].count : 0;
}

std::size_t Interpreter::int8_input_size() const {
  const bool usable = loaded_ && arithmetic_ == Arithmetic::kInt8 && int8_entry_ != kNone;
  return usable ? tensors_[int8_entry_].count : 0;
}

std::size_t Interpreter::int8_output_size() const {
  return int8_output().size();
}

Status Interpreter::invoke(std::span<const float> features, float* score) {
  if (!loaded_) return Error::kInvalidState;
  if (score == nullptr) return Error::kInvalidValue;
  if (features.size() != input_size()) return Error::kSizeMismatch;
  for (const float f : features) {
    if (!std::isfinite(f)) return Error::kInvalidValue;
  }
  const container::Tensor input = *model_.tensor(model_.header().input_tensor);
  RuntimeTensor& rt = tensors_[model_.header().input_tensor];
  const OutputData out{rt.count, rt.activation};
  if (input.type == ElementType::kFloat32) {
    std::memcpy(rt.activation, features.data(), features.size_bytes());
  } else if (arithmetic_ == Arithmetic::kInt8) {
    const std::span<std::int8_t> q = out.int8();
    for (std::size_t i = 0; i < features.size(); ++i)
      q[i] = quantize_value(features[i], input.scale, input.zero_point);
  } else {  // an int8 input on the reference path: real values, saturated but not rounded
    const RealRange range = representable_range(input.scale, input.zero_point);
    const std::span<float> values = out.float32();
    for (std::size_t i = 0; i < features.size(); ++i) {
      const float f = features[i];
      values[i] = f < range.min ? range.min : (f > range.max ? range.max : f);
    }
  }
  SPINDLE_TRY(run_ops(kNone, kNone));
  *score = read_score();
  return kOk;
}

Status Interpreter::invoke_int8(std::span<const std::int8_t> input, float* score) {
  if (!loaded_ || arithmetic_ != Arithmetic::kInt8) return Error::kInvalidState;
  if (int8_entry_ == kNone) return Error::kWrongType;
  RuntimeTensor& entry = tensors_[int8_entry_];
  if (input.size() != entry.count) return Error::kSizeMismatch;
  std::memcpy(entry.activation, input.data(), input.size());
  const std::uint8_t graph_input = model_.header().input_tensor;
  if (graph_input != int8_entry_) {
    // Other readers of the float input (and of the standardized input) see the sample the
    // int8 vector stands for; the ops skipped would map it back to exactly `input`.
    const container::Tensor quantized = *model_.tensor(int8_entry_);
    const std::span<float> values =
        OutputData{entry.count, tensors_[graph_input].activation}.float32();
    const StandardizeData* standardize = nullptr;
    std::span<float> standardized;
    if (standardize_op_ != kNone) {
      const PreparedOp& op = ops_[standardize_op_];
      standardize = static_cast<const StandardizeData*>(op.data);
      standardized = OutputData{entry.count, tensors_[op.op.outputs[0]].activation}.float32();
    }
    for (std::size_t i = 0; i < input.size(); ++i) {
      const float real = dequantize_value(input[i], quantized.scale, quantized.zero_point);
      if (standardize == nullptr) {
        values[i] = real;
      } else {
        standardized[i] = real;
        values[i] = unstandardize(*standardize, i, real);
      }
    }
  }
  SPINDLE_TRY(run_ops(entry_op_, standardize_op_));
  if (score != nullptr) *score = read_score();
  return kOk;
}

std::span<const std::int8_t> Interpreter::int8_output() const {
  if (!loaded_ || arithmetic_ != Arithmetic::kInt8 || int8_output_ == kNone) return {};
  const RuntimeTensor& rt = tensors_[int8_output_];
  return TensorData{rt.type, rt.count, rt.activation}.int8();
}

std::span<const std::int8_t> Interpreter::int8_input() const {
  if (!loaded_ || arithmetic_ != Arithmetic::kInt8 || int8_entry_ == kNone) return {};
  const RuntimeTensor& rt = tensors_[int8_entry_];
  return TensorData{rt.type, rt.count, rt.activation}.int8();
}

std::span<const float> Interpreter::reference_values(std::size_t index) const {
  if (!loaded_ || arithmetic_ != Arithmetic::kFloatReference || index >= tensors_.size()) return {};
  const RuntimeTensor& rt = tensors_[index];
  if (rt.activation == nullptr) return {};
  return OutputData{rt.count, rt.activation}.float32();
}

Status Interpreter::run_ops(std::size_t skip_op, std::size_t also_skip_op) {
  const std::size_t op_count = model_.header().op_count;
  for (std::size_t i = 0; i < op_count; ++i) {
    if (i == skip_op || i == also_skip_op) continue;
    const PreparedOp& op = ops_[i];
    if (arithmetic_ == Arithmetic::kInt8) {
      OpBuffers buffers;
      for (std::size_t k = 0; k < op.op.input_count; ++k) {
        const RuntimeTensor& in = tensors_[op.op.inputs[k]];
        buffers.inputs[k] = TensorData{in.type, in.count, in.bytes()};
      }
      const RuntimeTensor& out = tensors_[op.op.outputs[0]];
      buffers.output = OutputData{out.count, out.activation};
      op.kernel->eval(op.data, buffers);
    } else {
      // The reference path re-reads the operands' descriptions instead of keeping them:
      // it is for tests and tools, and the node's static tables stay small.
      SPINDLE_TRY_ASSIGN(const OpTensors t, op_tensors(model_, i));
      ReferenceBuffers buffers;
      for (std::size_t k = 0; k < op.op.input_count; ++k) {
        const RuntimeTensor& in = tensors_[op.op.inputs[k]];
        if (in.activation != nullptr) buffers.inputs[k] = FloatValues(in.activation, in.count);
      }
      const RuntimeTensor& out = tensors_[op.op.outputs[0]];
      buffers.output = OutputData{out.count, out.activation}.float32();
      op.kernel->reference(t, buffers);
    }
  }
  return kOk;
}

float Interpreter::read_score() const {
  const RuntimeTensor& rt = tensors_[model_.header().output_tensor];
  return OutputData{rt.count, rt.activation}.float32()[0];
}

}  // namespace spindle::inference
