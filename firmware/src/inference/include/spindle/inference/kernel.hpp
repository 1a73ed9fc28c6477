// What every kernel sees, and the init/prepare/eval/reference interface the interpreter
// drives them through (TensorFlow Lite Micro's TFLMRegistration, typed where it can be).
//
//   persistent_bytes  the arena bytes init() will take, computed without allocating, so that
//                     load() can name the exact arena size before it touches the arena
//   init              allocates the op's data from the persistent end of the arena
//   prepare           fills it: requantization multipliers, folded biases; refuses
//                     operands the kernel cannot compute with
//   eval              one invoke: int8 (and float at the graph's edges) arithmetic only
//   reference         the same op on real values, for the float reference path
//
// The parser has already checked every op's signature (types, constness, shapes), so
// kernels rely on it the way TFLite Micro kernels rely on Prepare().
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/protocol/container.hpp"
#include "spindle/status.hpp"

namespace spindle::inference {

// Constants are read in place from the container, which stores them little-endian. Every
// Spindle board (Cortex-M, Xtensa, RISC-V) and the native_sim host is little-endian; a
// big-endian port would convert constants into the arena at init.
static_assert(std::endian::native == std::endian::little,
              "the runtime reads little-endian container constants in place");

// float32 elements at any alignment: constants sit in the container at whatever alignment
// the caller's buffer has. Reads go through memcpy, which compiles to a plain load where
// unaligned loads are allowed.
class FloatValues {
 public:
  FloatValues() = default;
  FloatValues(const std::uint8_t* bytes, std::size_t count) : bytes_(bytes), count_(count) {}
  explicit FloatValues(std::span<const float> values)
      : bytes_(reinterpret_cast<const std::uint8_t*>(values.data())), count_(values.size()) {}

  std::size_t size() const { return count_; }
  float operator[](std::size_t index) const {
    float value = 0.0f;
    std::memcpy(&value, bytes_ + index * sizeof(float), sizeof(float));
    return value;
  }

 private:
  const std::uint8_t* bytes_ = nullptr;
  std::size_t count_ = 0;
};

// One tensor's elements at run time: a constant's bytes in the container, or an
// activation's planned block in the arena (Arena::kAlignment-aligned).
struct TensorData {
  container::ElementType type{};
  std::uint32_t count = 0;
  const std::uint8_t* bytes = nullptr;

  std::span<const std::int8_t> int8() const {
    return {reinterpret_cast<const std::int8_t*>(bytes), count};
  }
  FloatValues float32() const { return {bytes, count}; }
};

// An activation block to write: int8 or float32 elements, aligned by the planner.
struct OutputData {
  std::uint32_t count = 0;
  std::uint8_t* bytes = nullptr;

  std::span<std::int8_t> int8() const { return {reinterpret_cast<std::int8_t*>(bytes), count}; }
  // The planner aligns every block to Arena::kAlignment, so the cast is to aligned storage.
  std::span<float> float32() const {
    return {static_cast<float*>(static_cast<void*>(bytes)), count};
  }
};

// An op with its operands' descriptions, as prepare() and reference() see them.
struct OpTensors {
  container::Op op;
  std::array<container::Tensor, container::kMaxOpInputs> inputs{};
  container::Tensor output;
};

// An op's operands as eval() sees them.
struct OpBuffers {
  std::array<TensorData, container::kMaxOpInputs> inputs{};
  OutputData output;
};

// An op's operands on the float reference path: the real values of activation inputs (empty
// for constants, which the kernel dequantizes from the container) and the output's.
struct ReferenceBuffers {
  std::array<FloatValues, container::kMaxOpInputs> inputs{};
  std::span<float> output;
};

// The real value of element `index` of an operand on the reference path: dequantized from
// the container for a constant, taken from `values` for an activation.
float real_value(const container::Tensor& tensor, FloatValues values, std::size_t index);

// The real value of element `index` of an int8 or float32 operand on the int8 path.
float real_value(const container::Tensor& tensor, const TensorData& data, std::size_t index);

struct KernelRegistration {
  std::size_t (*persistent_bytes)(const OpTensors& tensors);
  // Errors: kDoesNotFit when the arena has no room (load() sizes the arena first, so only a
  // caller driving kernels by hand sees it).
  Result<void*> (*init)(const OpTensors& tensors, Arena& arena);
  // Errors: per kernel, documented in its header.
  Status (*prepare)(const OpTensors& tensors, void* op_data);
  void (*eval)(const void* op_data, const OpBuffers& buffers);
  void (*reference)(const OpTensors& tensors, const ReferenceBuffers& buffers);
};

// The kernel that runs `code`; nullptr for a code this build does not implement (none in
// container format v1).
const KernelRegistration* find_kernel(container::OpCode code);

// Bit (1 << opcode) set for every opcode find_kernel() implements: the op set a node
// announces at registration and checks a manifest's requirements against.
std::uint32_t runtime_op_set();

// Reads element `index` of a little-endian int32 constant (biases), at any alignment.
inline std::int32_t load_int32(std::span<const std::uint8_t> bytes, std::size_t index) {
  std::int32_t value = 0;
  std::memcpy(&value, bytes.data() + index * sizeof(value), sizeof(value));
  return value;
}

}  // namespace spindle::inference
