#include "spindle/inference/memory_planner.hpp"

#include <algorithm>

#include "spindle/inference/arena.hpp"

namespace spindle::inference {
namespace {

constexpr std::uint64_t kMaxTotal = std::uint64_t{1} << 63;

std::uint64_t align_up(std::uint64_t bytes) {
  return (bytes + (Arena::kAlignment - 1)) / Arena::kAlignment * Arena::kAlignment;
}

bool alive_together(const BufferLifetime& a, const BufferLifetime& b) {
  return a.first_op <= b.last_op && b.first_op <= a.last_op;
}

}  // namespace

Result<std::uint64_t> pack_buffers(std::span<const BufferLifetime> lifetimes,
                                   std::span<std::uint64_t> offsets) {
  if (offsets.size() < lifetimes.size()) return Error::kInvalidValue;
  constexpr std::size_t kMaxBuffers = container::kMaxTensors;
  std::array<std::size_t, kMaxBuffers> order{};
  std::size_t count = 0;
  for (std::size_t i = 0; i < lifetimes.size(); ++i) {
    offsets[i] = kNotPlanned;
    if (lifetimes[i].bytes == 0) continue;
    if (lifetimes[i].bytes > kMaxTotal) return Error::kDoesNotFit;
    if (count == kMaxBuffers) return Error::kInvalidValue;
    order[count++] = i;
  }
  // Largest first, ties by index so the plan is deterministic. An insertion sort: at most
  // kMaxTensors entries, and std::stable_sort may allocate a temporary buffer.
  for (std::size_t n = 1; n < count; ++n) {
    const std::size_t moving = order[n];
    std::size_t k = n;
    for (; k > 0 && lifetimes[order[k - 1]].bytes < lifetimes[moving].bytes; --k)
      order[k] = order[k - 1];
    order[k] = moving;
  }

  std::uint64_t total = 0;
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t i = order[n];
    const std::uint64_t size = align_up(lifetimes[i].bytes);
    // The lowest free offset is 0 or the end of a conflicting placed buffer: try them all.
    std::uint64_t best = kNotPlanned;
    for (std::size_t candidate_index = 0; candidate_index <= n; ++candidate_index) {
      std::uint64_t candidate = 0;
      if (candidate_index < n) {
        const std::size_t other = order[candidate_index];
        if (!alive_together(lifetimes[i], lifetimes[other])) continue;
        candidate = offsets[other] + align_up(lifetimes[other].bytes);
      }
      if (candidate >= best) continue;
      bool free = true;
      for (std::size_t m = 0; m < n && free; ++m) {
        const std::size_t other = order[m];
        if (!alive_together(lifetimes[i], lifetimes[other])) continue;
        const std::uint64_t other_end = offsets[other] + align_up(lifetimes[other].bytes);
        free = candidate + size <= offsets[other] || other_end <= candidate;
      }
      if (free) best = candidate;
    }
    offsets[i] = best;
    if (best + size > kMaxTotal) return Error::kDoesNotFit;
    total = std::max(total, best + size);
  }
  return total;
}

Result<ActivationPlan> plan_activations(
    const container::ContainerView& model,
    const std::array<std::uint64_t, container::kMaxTensors>& tensor_bytes,
    std::uint32_t alive_from_start, std::uint32_t keep_until_end) {
  const container::Header& header = model.header();
  const std::uint32_t last_op = header.op_count == 0 ? 0u : header.op_count - 1u;
  std::array<BufferLifetime, container::kMaxTensors> lifetimes{};
  std::array<bool, container::kMaxTensors> written{};
  written[header.input_tensor] = true;  // by the caller, before op 0

  for (std::uint32_t i = 0; i < header.op_count; ++i) {
    SPINDLE_TRY_ASSIGN(const container::Op op, model.op(i));
    for (std::size_t k = 0; k < op.input_count; ++k)
      lifetimes[op.inputs[k]].last_op = i;
    for (std::size_t k = 0; k < op.output_count; ++k) {
      lifetimes[op.outputs[k]].first_op = i;
      lifetimes[op.outputs[k]].last_op = i;
      written[op.outputs[k]] = true;
    }
  }
  for (std::size_t t = 0; t < header.tensor_count; ++t) {
    SPINDLE_TRY_ASSIGN(const container::Tensor tensor, model.tensor(t));
    if (tensor.constant || !written[t]) continue;
    lifetimes[t].bytes = tensor_bytes[t];
    if ((alive_from_start >> t) & 1u) lifetimes[t].first_op = 0;
    if ((keep_until_end >> t) & 1u) lifetimes[t].last_op = last_op;
  }

  ActivationPlan plan;
  SPINDLE_TRY_ASSIGN(plan.total_bytes,
                     pack_buffers(std::span(lifetimes.data(), header.tensor_count), plan.offsets));
  return plan;
}

}  // namespace spindle::inference
