// Tests of spindle::linkemu::Corruption: one bit flipped per corrupted datagram, only in the
// directions, sizes and number configured, and the same decisions from the same seed.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "spindle/linkemu/corruption.hpp"

namespace spindle::linkemu {
namespace {

constexpr std::uint64_t kSeed = 20240611;

std::vector<std::uint8_t> payload_of(std::size_t size, std::uint8_t fill = 0xA5) {
  return std::vector<std::uint8_t>(size, fill);
}

// Bits that differ between two payloads of the same size.
int bits_changed(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  int changed = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    changed += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return changed;
}

CorruptionConfig always() {
  CorruptionConfig config;
  config.probability = 1;
  return config;
}

// Which of `count` datagrams of `size` bytes, leaving in `direction`, were corrupted.
std::vector<bool> decisions(Corruption& corruption, Direction direction, std::size_t count,
                            std::size_t size = 64) {
  std::vector<bool> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::vector<std::uint8_t> payload = payload_of(size);
    out.push_back(corruption.apply(direction, payload));
  }
  return out;
}

TEST(Corruption, FlipsExactlyOneBitAndKeepsTheSize) {
  Corruption corruption(always(), kSeed);
  for (std::size_t size = 1; size <= 300; ++size) {
    const std::vector<std::uint8_t> sent = payload_of(size, static_cast<std::uint8_t>(size));
    std::vector<std::uint8_t> payload = sent;
    ASSERT_TRUE(corruption.apply(Direction::kToClient, payload));
    ASSERT_EQ(payload.size(), size);
    ASSERT_EQ(bits_changed(sent, payload), 1) << size;
  }
  EXPECT_EQ(corruption.corrupted(Direction::kToClient), 300U);
  EXPECT_EQ(corruption.corrupted(Direction::kToUpstream), 0U);
}

TEST(Corruption, EveryBitOfThePayloadCanBeTheOneFlipped) {
  Corruption corruption(always(), kSeed);
  std::set<unsigned> flipped;
  for (int i = 0; i < 2000; ++i) {
    const std::vector<std::uint8_t> sent = payload_of(4, 0);
    std::vector<std::uint8_t> payload = sent;
    ASSERT_TRUE(corruption.apply(Direction::kToUpstream, payload));
    for (unsigned bit = 0; bit < 32; ++bit) {
      if ((static_cast<unsigned>(payload[bit / 8]) >> (bit % 8)) & 1U) flipped.insert(bit);
    }
  }
  EXPECT_EQ(flipped.size(), 32U);
}

TEST(Corruption, DatagramsShorterThanMinBytesAndEmptyOnesAreLeftAlone) {
  CorruptionConfig config = always();
  config.min_bytes = 100;
  Corruption corruption(config, kSeed);
  for (const std::size_t size : {0U, 1U, 50U, 99U}) {
    std::vector<std::uint8_t> payload = payload_of(size);
    EXPECT_FALSE(corruption.apply(Direction::kToClient, payload)) << size;
    EXPECT_EQ(payload, payload_of(size));
  }
  for (const std::size_t size : {100U, 101U, 1400U}) {
    std::vector<std::uint8_t> payload = payload_of(size);
    EXPECT_TRUE(corruption.apply(Direction::kToClient, payload)) << size;
    EXPECT_EQ(bits_changed(payload_of(size), payload), 1);
  }
  EXPECT_EQ(corruption.corrupted(Direction::kToClient), 3U);

  Corruption no_minimum(always(), kSeed);
  std::vector<std::uint8_t> empty;
  EXPECT_FALSE(no_minimum.apply(Direction::kToClient, empty));
}

TEST(Corruption, OnlyTheConfiguredDirectionIsCorrupted) {
  CorruptionConfig down = always();
  down.to_upstream = false;
  Corruption corruption(down, kSeed);
  EXPECT_EQ(decisions(corruption, Direction::kToUpstream, 50), std::vector<bool>(50, false));
  EXPECT_EQ(decisions(corruption, Direction::kToClient, 50), std::vector<bool>(50, true));
  EXPECT_EQ(corruption.corrupted(Direction::kToUpstream), 0U);
  EXPECT_EQ(corruption.corrupted(Direction::kToClient), 50U);

  CorruptionConfig up = always();
  up.to_client = false;
  Corruption other(up, kSeed);
  EXPECT_EQ(decisions(other, Direction::kToClient, 50), std::vector<bool>(50, false));
  EXPECT_EQ(decisions(other, Direction::kToUpstream, 50), std::vector<bool>(50, true));
}

TEST(Corruption, TheLimitCountsBothDirectionsAndTheFirstEligibleDatagramIsTheOne) {
  CorruptionConfig config = always();
  config.min_bytes = 100;
  config.limit = 1;
  Corruption corruption(config, kSeed);
  // Small control messages first: not eligible, so they do not use up the limit.
  EXPECT_EQ(decisions(corruption, Direction::kToUpstream, 5, 20), std::vector<bool>(5, false));
  EXPECT_EQ(decisions(corruption, Direction::kToClient, 5, 20), std::vector<bool>(5, false));
  std::vector<std::uint8_t> block = payload_of(512);
  EXPECT_TRUE(corruption.apply(Direction::kToClient, block));
  EXPECT_EQ(bits_changed(payload_of(512), block), 1);
  EXPECT_EQ(decisions(corruption, Direction::kToClient, 20, 512), std::vector<bool>(20, false));
  EXPECT_EQ(decisions(corruption, Direction::kToUpstream, 20, 512), std::vector<bool>(20, false));
  EXPECT_EQ(corruption.corrupted(Direction::kToClient), 1U);
  EXPECT_EQ(corruption.corrupted(Direction::kToUpstream), 0U);

  CorruptionConfig three = always();
  three.limit = 3;
  Corruption limited(three, kSeed);
  std::vector<bool> expected(10, false);
  expected[0] = expected[1] = expected[2] = true;
  EXPECT_EQ(decisions(limited, Direction::kToUpstream, 10), expected);
}

TEST(Corruption, TheRateIsWithinStatisticalBounds) {
  constexpr std::size_t kCount = 10'000;
  CorruptionConfig config;
  config.probability = 0.2;
  Corruption corruption(config, kSeed);
  (void)decisions(corruption, Direction::kToUpstream, kCount);
  // 4.5 standard deviations, as in test_link.cpp.
  EXPECT_NEAR(static_cast<double>(corruption.corrupted(Direction::kToUpstream)), 0.2 * kCount,
              4.5 * std::sqrt(kCount * 0.2 * 0.8));
}

TEST(Corruption, TheSameSeedCorruptsTheSameBitsAndAnotherSeedDoesNot) {
  CorruptionConfig config;
  config.probability = 0.3;
  const auto run = [&config](std::uint64_t seed) {
    Corruption corruption(config, seed);
    std::vector<std::vector<std::uint8_t>> out;
    for (int i = 0; i < 500; ++i) {
      out.push_back(payload_of(40));
      (void)corruption.apply(i % 3 == 0 ? Direction::kToUpstream : Direction::kToClient,
                             out.back());
    }
    return out;
  };
  EXPECT_EQ(run(kSeed), run(kSeed));
  EXPECT_NE(run(kSeed), run(kSeed + 1));
}

TEST(Corruption, ADirectionsDecisionsDependOnlyOnTheSeedAndItsOwnPosition) {
  CorruptionConfig config;
  config.probability = 0.3;
  Corruption alone(config, kSeed);
  const std::vector<bool> expected = decisions(alone, Direction::kToClient, 300);
  EXPECT_NE(expected, std::vector<bool>(300, false));

  // Upstream-bound traffic in between does not change the client-bound decisions.
  Corruption interleaved(config, kSeed);
  std::vector<bool> seen;
  for (int i = 0; i < 300; ++i) {
    (void)decisions(interleaved, Direction::kToUpstream, static_cast<std::size_t>(i % 4));
    const std::vector<bool> one = decisions(interleaved, Direction::kToClient, 1);
    seen.push_back(one[0]);
  }
  EXPECT_EQ(seen, expected);

  // Ineligible datagrams draw too: the eligible ones keep their decisions.
  config.min_bytes = 50;
  Corruption filtered(config, kSeed);
  for (std::size_t i = 0; i < 300; ++i) {
    std::vector<std::uint8_t> payload = payload_of(i % 2 == 0 ? 64 : 10);
    const bool corrupted = filtered.apply(Direction::kToClient, payload);
    EXPECT_EQ(corrupted, i % 2 == 0 && expected[i]) << i;
  }
}

TEST(Corruption, ProbabilityZeroNeverCorrupts) {
  Corruption corruption(CorruptionConfig{}, kSeed);
  EXPECT_EQ(decisions(corruption, Direction::kToClient, 1000), std::vector<bool>(1000, false));
  EXPECT_EQ(decisions(corruption, Direction::kToUpstream, 1000), std::vector<bool>(1000, false));
}

}  // namespace
}  // namespace spindle::linkemu
