#include "spindle/inference/memory_planner.hpp"

#include <gtest/gtest.h>

#include <array>
#include <random>
#include <vector>

#include "inference_test_support.hpp"
#include "spindle/inference/arena.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using container::kMaxTensors;
using container::TensorSpec;

bool alive_together(const BufferLifetime& a, const BufferLifetime& b) {
  return a.first_op <= b.last_op && b.first_op <= a.last_op;
}

// The planner's contract: aligned offsets, buffers alive at the same time never share a
// byte, and the total covers every buffer.
void expect_valid_plan(std::span<const BufferLifetime> lifetimes,
                       std::span<const std::uint64_t> offsets, std::uint64_t total) {
  for (std::size_t i = 0; i < lifetimes.size(); ++i) {
    if (lifetimes[i].bytes == 0) {
      EXPECT_EQ(offsets[i], kNotPlanned);
      continue;
    }
    EXPECT_EQ(offsets[i] % Arena::kAlignment, 0u);
    EXPECT_LE(offsets[i] + lifetimes[i].bytes, total);
    for (std::size_t j = 0; j < i; ++j) {
      if (lifetimes[j].bytes == 0 || !alive_together(lifetimes[i], lifetimes[j])) continue;
      const bool disjoint = offsets[i] + lifetimes[i].bytes <= offsets[j] ||
                            offsets[j] + lifetimes[j].bytes <= offsets[i];
      EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j;
    }
  }
  EXPECT_EQ(total % Arena::kAlignment, 0u);
}

TEST(MemoryPlanner, BuffersWithDisjointLifetimesShareMemory) {
  // A chain: each op reads the previous buffer and writes the next.
  const std::array<BufferLifetime, 4> chain = {
      {{100, 0, 1}, {100, 1, 2}, {100, 2, 3}, {100, 3, 3}}};
  std::array<std::uint64_t, 4> offsets{};
  const auto total = pack_buffers(chain, offsets);
  ASSERT_TRUE(total.ok());
  EXPECT_EQ(*total, 2 * Arena::aligned_size(100));  // two alive at a time
  expect_valid_plan(chain, offsets, *total);
}

TEST(MemoryPlanner, BuffersAliveTogetherNeverOverlap) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 500; ++trial) {
    std::uniform_int_distribution<std::size_t> count_of(1, kMaxTensors);
    std::vector<BufferLifetime> lifetimes(count_of(rng));
    for (BufferLifetime& b : lifetimes) {
      std::uniform_int_distribution<std::uint32_t> op(0, 15);
      const std::uint32_t a = op(rng);
      const std::uint32_t c = op(rng);
      b.first_op = std::min(a, c);
      b.last_op = std::max(a, c);
      b.bytes = std::uniform_int_distribution<std::uint64_t>(0, 300)(rng);
    }
    std::vector<std::uint64_t> offsets(lifetimes.size());
    const auto total = pack_buffers(lifetimes, offsets);
    ASSERT_TRUE(total.ok());
    SCOPED_TRACE(trial);
    expect_valid_plan(lifetimes, offsets, *total);

    // Never worse than giving every buffer its own bytes, never better than the busiest op.
    std::uint64_t sum = 0;
    for (const BufferLifetime& b : lifetimes)
      sum += Arena::aligned_size(static_cast<std::size_t>(b.bytes));
    EXPECT_LE(*total, sum);
    for (std::uint32_t op = 0; op < 16; ++op) {
      std::uint64_t live = 0;
      for (const BufferLifetime& b : lifetimes)
        if (b.first_op <= op && op <= b.last_op) live += b.bytes;
      EXPECT_GE(*total, live);
    }
  }
}

TEST(MemoryPlanner, PlansAreDeterministic) {
  const std::array<BufferLifetime, 5> lifetimes = {
      {{64, 0, 2}, {64, 1, 1}, {32, 0, 4}, {64, 3, 4}, {1, 2, 3}}};
  std::array<std::uint64_t, 5> first{};
  std::array<std::uint64_t, 5> second{};
  ASSERT_TRUE(pack_buffers(lifetimes, first).ok());
  ASSERT_TRUE(pack_buffers(lifetimes, second).ok());
  EXPECT_EQ(first, second);
}

TEST(MemoryPlanner, RefusesAnOffsetsSpanShorterThanTheBuffers) {
  const std::array<BufferLifetime, 2> lifetimes = {{{16, 0, 0}, {16, 0, 0}}};
  std::array<std::uint64_t, 1> offsets{};
  EXPECT_EQ(pack_buffers(lifetimes, offsets).status(), Error::kInvalidValue);
}

TEST(MemoryPlanner, ActivationsOfAGraphReuseMemoryAlongTheChain) {
  // quantize -> relu -> relu -> relu -> dequantize -> reconstruction error(x, y).
  std::array<TensorSpec, 7> tensors = {{
      {ElementType::kFloat32, 1, {64, 0, 0, 0}, 0, 0.0f, {}, {}},  // 0 x (input)
      {ElementType::kInt8, 1, {64, 0, 0, 0}, 0, 0.1f, {}, {}},     // 1
      {ElementType::kInt8, 1, {64, 0, 0, 0}, 0, 0.1f, {}, {}},     // 2
      {ElementType::kInt8, 1, {64, 0, 0, 0}, 0, 0.1f, {}, {}},     // 3
      {ElementType::kInt8, 1, {64, 0, 0, 0}, 0, 0.1f, {}, {}},     // 4
      {ElementType::kFloat32, 1, {64, 0, 0, 0}, 0, 0.0f, {}, {}},  // 5 y
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},   // 6 score
  }};
  const std::array<container::Op, 6> ops = {
      container::quantize(0, 1),   container::relu(1, 2),
      container::relu(2, 3),       container::relu(3, 4),
      container::dequantize(4, 5), container::reconstruction_error(0, 5, 6)};
  const test::Bytes bytes =
      test::build_container(tensors, ops, {container::ModelKind::kAutoencoder, 0, 6, 0});
  const auto model = container::parse_container(bytes);
  ASSERT_TRUE(model.ok());

  std::array<std::uint64_t, kMaxTensors> sizes{};
  for (std::size_t t = 0; t < tensors.size(); ++t)
    sizes[t] = model->tensor(t)->byte_size();
  const auto plan = plan_activations(*model, sizes, 1u << 0, 1u << 6);
  ASSERT_TRUE(plan.ok());

  // The busiest op is the dequantize (x, its int8 input and y alive: 256 + 64 + 256), and
  // the plan needs no more than that; one buffer per tensor would take 784 bytes.
  EXPECT_EQ(plan->total_bytes, 576u);
  for (std::size_t t = 0; t < tensors.size(); ++t)
    EXPECT_NE(plan->offsets[t], kNotPlanned) << t;
  // y (alive at ops 4-5) and the score (op 5 on) never share bytes with x.
  EXPECT_TRUE(plan->offsets[5] >= 256 || plan->offsets[5] + 256 <= plan->offsets[0]);
}

}  // namespace
}  // namespace spindle::inference
