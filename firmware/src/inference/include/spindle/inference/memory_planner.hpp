// Activation memory planning: where in the arena's scratch region each activation tensor
// lives. Two tensors share bytes only when their lifetimes (first write to last read, in op
// order) are disjoint, so one block of max-live size serves the whole graph instead of the
// sum of all activations. The packing is TensorFlow Lite Micro's GreedyMemoryPlanner:
// buffers in order of decreasing size, each at the lowest offset that overlaps no
// already-placed buffer alive at the same time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/container.hpp"
#include "spindle/status.hpp"

namespace spindle::inference {

// One buffer to place: `bytes` (0: none) needed from op `first_op` to op `last_op`
// inclusive. An op's output is alive at that op, as are its inputs, so an op never writes
// over what it reads.
struct BufferLifetime {
  std::uint64_t bytes = 0;
  std::uint32_t first_op = 0;
  std::uint32_t last_op = 0;
};

inline constexpr std::uint64_t kNotPlanned = ~std::uint64_t{0};

// Places each buffer; offsets[i] receives buffer i's offset (kNotPlanned for an empty one),
// each a multiple of Arena::kAlignment, and returns the bytes the placement spans (a
// multiple of Arena::kAlignment). Deterministic: equal inputs give equal plans.
// Errors: kInvalidValue when offsets is shorter than lifetimes; kDoesNotFit when the total
// would exceed 2^63 bytes.
Result<std::uint64_t> pack_buffers(std::span<const BufferLifetime> lifetimes,
                                   std::span<std::uint64_t> offsets);

struct ActivationPlan {
  std::array<std::uint64_t, container::kMaxTensors> offsets{};  // kNotPlanned: no storage
  std::uint64_t total_bytes = 0;
};

// Plans the activations of a parsed graph. `tensor_bytes[i]` is the storage tensor i needs
// (the interpreter passes element bytes on the int8 path and 4 bytes per element on the
// float reference path); constants and tensors neither the graph input nor written by an
// op get none. Tensors whose bit is set in `alive_from_start` are alive from before op 0
// (written by the caller, like the graph input); those whose bit is set in
// `keep_until_end` stay alive after the last op (the score, and anything the caller reads
// after invoke).
// Errors: kDoesNotFit when the total would exceed 2^63 bytes.
Result<ActivationPlan> plan_activations(
    const container::ContainerView& model,
    const std::array<std::uint64_t, container::kMaxTensors>& tensor_bytes,
    std::uint32_t alive_from_start, std::uint32_t keep_until_end);

}  // namespace spindle::inference
