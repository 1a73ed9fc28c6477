// The int8 model runtime: loads a model container (protocol/'s SPMC format) into a
// caller-provided arena and scores one feature vector per invoke, TensorFlow Lite Micro
// style. Nothing here allocates from the heap: tables are fixed-size members (capacities
// from container.hpp), everything else lives in the arena.
//
//   Interpreter interpreter;                        // static, or on the work-queue's stack
//   alignas(16) static std::uint8_t arena[CONFIG_MODEL_ARENA_SIZE];
//   SPINDLE_TRY(interpreter.load(container_bytes, arena));
//   float score = 0;
//   SPINDLE_TRY(interpreter.invoke(features, &score));
//
// load() parses and validates the container, plans activation memory, and runs every
// kernel's init and prepare (requantization multipliers are computed here, once). invoke()
// writes the features into the graph input (quantizing them if the input is int8), runs
// the op table front to back and reads the score. The same object can instead evaluate the
// graph in float with dequantized weights (Arithmetic::kFloatReference), the reference the
// int8 results are judged against. See docs/firmware/inference.md.
//
// Not thread-safe: one thread (the node's work queue) loads and invokes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"
#include "spindle/status.hpp"

namespace spindle::inference {

enum class Arithmetic : std::uint8_t {
  kInt8 = 1,            // the runtime: int8 kernels, fixed-point requantization
  kFloatReference = 2,  // every activation in float, weights dequantized; no rounding, but
                        // the int8 ranges (saturation, fused clamps) are kept
};

// The arena bytes load() needs for this container, for an arena that starts on an
// Arena::kAlignment boundary (a packager fills the container's arena_bytes with it).
// It does not run the kernels' prepare, so load() may still refuse the model.
// Errors: parse_container's errors; kMalformed as load().
Result<std::size_t> required_arena_bytes(std::span<const std::uint8_t> container_bytes,
                                         Arithmetic arithmetic = Arithmetic::kInt8);

class Interpreter {
 public:
  Interpreter() = default;
  // The interpreter points into the arena and the container; copies would alias both.
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Marks "no such tensor / op" in the small index fields below.
  static constexpr std::uint8_t kNoTensor = 0xff;

  // Loads a model. `container_bytes` and `arena` must stay alive and unmodified until the
  // next load() or unload(): weights are read in place from the container. Any previously
  // loaded model is unloaded first, also when this load fails. After a failure,
  // required_arena_bytes() still reports the size the model needs (0 if it did not parse).
  // Errors:
  //  parse_container's errors (kBadMagic, kTruncated, kMalformed, kInvalidValue, ...)
  //  kDoesNotFit    the arena is smaller than required_arena_bytes()
  //  kMalformed     a graph the parser accepts but this runtime cannot run: an int32 graph
  //                 input, or a per-channel quantized input to ReLU or dequantize
  //  kInvalidValue  a fully connected layer whose int32 accumulator could overflow for
  //                 some input (bias or weight row too large)
  Status load(std::span<const std::uint8_t> container_bytes, std::span<std::uint8_t> arena,
              Arithmetic arithmetic = Arithmetic::kInt8);
  void unload();

  bool loaded() const { return loaded_; }
  Arithmetic arithmetic() const { return arithmetic_; }
  // The parsed model (header: kind, arena_bytes, op set). Empty when not loaded.
  const container::ContainerView& model() const { return model_; }

  // The arena bytes the last load() needed, padding for the arena's start alignment
  // included: exactly the size with which that load succeeds. 0 before any load.
  std::size_t required_arena_bytes() const { return required_arena_bytes_; }
  // The most arena bytes in use at once since the last load() (the telemetry figure).
  // Everything is allocated at load, so this equals required_arena_bytes() once loaded.
  std::size_t arena_high_water_mark() const { return arena_.high_water_mark(); }

  // Features invoke() expects per window (the graph input's element count); 0 unloaded.
  std::size_t input_size() const;
  // Elements of the int8 entry invoke_int8() writes, and of int8_output(); 0 when the model
  // has none (or is not loaded, or runs the float reference).
  std::size_t int8_input_size() const;
  std::size_t int8_output_size() const;

  // Scores one window of features. Deterministic: equal inputs give equal scores.
  // Errors: kInvalidState (nothing loaded), kInvalidValue (`score` is null, or a feature is
  // NaN or infinite), kSizeMismatch (features.size() != input_size()).
  Status invoke(std::span<const float> features, float* score);

  // Runs the graph from its int8 entry, for bit-exact self-tests: the graph input if it is
  // int8, else the output of the quantize op that reads the graph input or the output of a
  // standardize op that reads it (those ops are then skipped, and their float inputs are
  // set to what the int8 vector stands for, for any other reader).
  // The int8 result is int8_output(); the score is written when `score` is not null.
  // Errors: kInvalidState (nothing loaded, or the float reference is loaded),
  // kWrongType (the model has no int8 entry), kSizeMismatch (input.size() !=
  // int8_input_size()).
  Status invoke_int8(std::span<const std::int8_t> input, float* score = nullptr);

  // The int8 tensor the scoring op scores, as of the last invoke: an autoencoder's
  // reconstruction, a centroid model's embedding (x), found through a dequantize op if the
  // scoring op reads float. Empty when there is none, before the first invoke the contents
  // are unspecified.
  std::span<const std::int8_t> int8_output() const;
  // The int8 entry as of the last invoke (what invoke_int8() would take to reproduce it):
  // the quantized, and standardized, features. Empty when the model has none, before the
  // first invoke the contents are unspecified.
  std::span<const std::int8_t> int8_input() const;

  // On the float reference path: the real values of activation tensor `index` as of the
  // last invoke. Empty on the int8 path, for constants, and for tensors the graph never
  // writes.
  std::span<const float> reference_values(std::size_t index) const;

 private:
  struct RuntimeTensor {
    container::ElementType type{};
    std::uint32_t count = 0;
    const std::uint8_t* constant = nullptr;  // in the container
    std::uint8_t* activation = nullptr;      // in the arena (planned)
    const std::uint8_t* bytes() const { return constant != nullptr ? constant : activation; }
  };
  struct PreparedOp {
    const KernelRegistration* kernel = nullptr;
    void* data = nullptr;
    container::Op op;
  };
  Status load_model(std::span<const std::uint8_t> container_bytes, std::span<std::uint8_t> arena,
                    Arithmetic arithmetic);
  // Runs the op table, skipping the ops invoke_int8() entered past (kNoTensor: none).
  Status run_ops(std::size_t skip_op, std::size_t also_skip_op);
  float read_score() const;

  container::ContainerView model_;
  Arena arena_;
  Arithmetic arithmetic_ = Arithmetic::kInt8;
  bool loaded_ = false;
  std::size_t required_arena_bytes_ = 0;
  std::uint8_t int8_entry_ = kNoTensor;      // tensor invoke_int8() writes
  std::uint8_t entry_op_ = kNoTensor;        // the quantize op it replaces, if any
  std::uint8_t standardize_op_ = kNoTensor;  // the standardize op in front of it, if any
  std::uint8_t int8_output_ = kNoTensor;     // tensor int8_output() shows
  std::array<RuntimeTensor, container::kMaxTensors> tensors_{};
  std::array<PreparedOp, container::kMaxOps> ops_{};
};

}  // namespace spindle::inference
