// random_fill: fills what it is given, differently each time.
#include "spindle/os/rng.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <vector>

namespace spindle::os {
namespace {

TEST(Rng, TwoCallsGiveDifferentBytes) {
  std::array<std::uint8_t, 32> first{};
  std::array<std::uint8_t, 32> second{};
  ASSERT_EQ(random_fill(first), kOk);
  ASSERT_EQ(random_fill(second), kOk);
  EXPECT_NE(first, second);  // equal by chance with probability 2^-256
}

TEST(Rng, FillsLargeBuffersCompletely) {
  // Larger than one getrandom() call is guaranteed to return; the tail must be filled too.
  std::vector<std::uint8_t> buffer(1 << 20, 0);
  ASSERT_EQ(random_fill(buffer), kOk);
  const auto tail = std::span(buffer).last(4096);
  EXPECT_FALSE(std::all_of(tail.begin(), tail.end(), [](std::uint8_t b) { return b == 0; }));
}

TEST(Rng, EmptySpanSucceeds) {
  EXPECT_EQ(random_fill({}), kOk);
}

}  // namespace
}  // namespace spindle::os
