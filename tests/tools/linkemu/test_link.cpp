// Tests of spindle::linkemu::Link, the pure core of the link emulator: every impairment is
// driven by an explicit clock and seed, so timings are exact and rates are checked against
// binomial bounds (4.5 standard deviations: a fixed seed passes or fails for good, and a
// correct implementation with any seed fails about once in 150,000 runs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "spindle/linkemu/link.hpp"

namespace spindle::linkemu {
namespace {

using std::chrono::milliseconds;

constexpr std::uint64_t kSeed = 20240611;

Datagram make_datagram(std::size_t size, std::uint64_t number = 0) {
  Datagram d;
  d.flow = number;
  d.payload.assign(size, static_cast<std::uint8_t>(number & 0xFF));
  return d;
}

// The bound a binomial(n, p) count stays within around its mean.
double binomial_bound(double n, double p) {
  return 4.5 * std::sqrt(n * p * (1 - p));
}

void expect_accounting(const Link& link) {
  const LinkStats& s = link.stats();
  EXPECT_EQ(s.received + s.duplicated,
            s.forwarded + s.dropped_loss + s.dropped_queue + s.dropped_blackout + link.pending());
}

TEST(Link, WithoutImpairmentEverythingLeavesAtOnceInOrder) {
  Link link(LinkConfig{}, kSeed);
  for (std::uint64_t i = 0; i < 5; ++i) {
    const Schedule s = link.submit(Micros(1000), make_datagram(100, i));
    EXPECT_EQ(s.verdict, Verdict::kScheduled);
    EXPECT_EQ(s.departure, Micros(1000));
  }
  EXPECT_TRUE(link.due(Micros(999)).empty());
  const std::vector<Datagram> out = link.due(Micros(1000));
  ASSERT_EQ(out.size(), 5U);
  for (std::uint64_t i = 0; i < 5; ++i)
    EXPECT_EQ(out[i].flow, i);
  EXPECT_EQ(out[0].payload, make_datagram(100, 0).payload);
  EXPECT_EQ(link.stats().forwarded, 5U);
  EXPECT_EQ(link.stats().bytes, 500U);
  EXPECT_FALSE(link.next_due().has_value());
  expect_accounting(link);
}

TEST(Link, DelayAndJitterStayWithinTheirBoundsAndSpanThem) {
  LinkConfig config;
  config.delay = milliseconds(50);
  config.jitter = milliseconds(10);
  Link link(config, kSeed);
  Micros low = Micros::max();
  Micros high = Micros::min();
  for (int i = 0; i < 2000; ++i) {
    const Micros now = milliseconds(i);
    const Schedule s = link.submit(now, make_datagram(10));
    ASSERT_EQ(s.verdict, Verdict::kScheduled);
    const Micros delay = s.departure - now;
    ASSERT_GE(delay, milliseconds(40));
    ASSERT_LE(delay, milliseconds(60));
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, milliseconds(41));
  EXPECT_GT(high, milliseconds(59));
}

TEST(Link, JitterLargerThanTheDelayNeverSendsBeforeArrival) {
  LinkConfig config;
  config.delay = milliseconds(2);
  config.jitter = milliseconds(10);
  Link link(config, kSeed);
  for (int i = 0; i < 1000; ++i) {
    const Micros now = milliseconds(i);
    const Schedule s = link.submit(now, make_datagram(10));
    ASSERT_GE(s.departure, now);
    ASSERT_LE(s.departure, now + milliseconds(12));
  }
}

TEST(Link, BandwidthSerializesDatagramsOneAfterAnother) {
  // 1000 bytes at 80 kbit/s take exactly 100 ms on the link.
  LinkConfig config;
  config.rate_bps = 80'000;
  config.queue_bytes = 10'000;
  Link link(config, kSeed);
  for (std::uint64_t i = 0; i < 10; ++i) {
    const Schedule s = link.submit(Micros(0), make_datagram(1000, i));
    ASSERT_EQ(s.verdict, Verdict::kScheduled);
    EXPECT_EQ(s.departure, milliseconds(100) * static_cast<int>(i + 1));
  }
  for (std::uint64_t i = 0; i < 10; ++i) {
    const Micros leaves = milliseconds(100) * static_cast<int>(i + 1);
    EXPECT_EQ(link.next_due(), leaves);
    EXPECT_TRUE(link.due(leaves - Micros(1)).empty());
    const std::vector<Datagram> out = link.due(leaves);
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].flow, i);
  }
  EXPECT_EQ(link.stats().dropped_queue, 0U);
}

TEST(Link, BandwidthThenDelayAndAnIdleLinkKeepsNoCredit) {
  LinkConfig config;
  config.rate_bps = 80'000;
  config.delay = milliseconds(30);
  Link link(config, kSeed);
  EXPECT_EQ(link.submit(Micros(0), make_datagram(1000)).departure, milliseconds(130));
  // The link was free again at 100 ms; a datagram at 500 ms starts serializing then.
  EXPECT_EQ(link.submit(milliseconds(500), make_datagram(1000)).departure, milliseconds(630));
  EXPECT_EQ(link.submit(milliseconds(500), make_datagram(500)).departure, milliseconds(680));
}

TEST(Link, SerializationTimeRoundsUpToAMicrosecond) {
  LinkConfig config;
  config.rate_bps = 3'000'000;  // 1 byte: 2.67 us
  Link link(config, kSeed);
  EXPECT_EQ(link.submit(Micros(0), make_datagram(1)).departure, Micros(3));
}

TEST(Link, AFullQueueDropsTheTailAndCountsIt) {
  LinkConfig config;
  config.rate_bps = 80'000;
  config.queue_bytes = 3000;  // three 1000-byte datagrams, the one on the link included
  Link link(config, kSeed);
  std::vector<Verdict> verdicts;
  for (int i = 0; i < 10; ++i)
    verdicts.push_back(link.submit(Micros(0), make_datagram(1000)).verdict);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(verdicts[static_cast<std::size_t>(i)],
              i < 3 ? Verdict::kScheduled : Verdict::kDroppedQueue)
        << i;
  }
  EXPECT_EQ(link.stats().dropped_queue, 7U);
  EXPECT_EQ(link.pending(), 3U);
  // The first one has left the serializer at 100 ms: room for exactly one more.
  EXPECT_EQ(link.submit(milliseconds(100), make_datagram(1000)).departure, milliseconds(400));
  EXPECT_EQ(link.submit(milliseconds(100), make_datagram(1000)).verdict, Verdict::kDroppedQueue);
  // A datagram larger than the queue never fits.
  EXPECT_EQ(link.submit(milliseconds(900), make_datagram(3001)).verdict, Verdict::kDroppedQueue);
  EXPECT_EQ(link.stats().dropped_queue, 9U);
  expect_accounting(link);
}

TEST(Link, PendingDatagramsAreBoundedWithoutARateToo) {
  LinkConfig config;
  config.delay = milliseconds(1000);
  config.max_pending = 100;
  Link link(config, kSeed);
  for (int i = 0; i < 150; ++i)
    (void)link.submit(milliseconds(i), make_datagram(10));
  EXPECT_EQ(link.pending(), 100U);
  EXPECT_EQ(link.stats().dropped_queue, 50U);
  expect_accounting(link);
}

std::vector<Verdict> loss_verdicts(std::uint64_t seed, Micros jitter, std::size_t count) {
  LinkConfig config;
  config.loss = 0.2;
  config.jitter = jitter;
  config.delay = jitter;
  Link link(config, seed);
  std::vector<Verdict> verdicts;
  for (std::size_t i = 0; i < count; ++i) {
    verdicts.push_back(link.submit(Micros(static_cast<Micros::rep>(i)), make_datagram(20)).verdict);
  }
  return verdicts;
}

TEST(Link, LossRateIsWithinStatisticalBounds) {
  constexpr std::size_t kCount = 10'000;
  LinkConfig config;
  config.loss = 0.2;
  Link link(config, kSeed);
  for (std::size_t i = 0; i < kCount; ++i) {
    (void)link.submit(Micros(static_cast<Micros::rep>(i)), make_datagram(20));
  }
  const double lost = static_cast<double>(link.stats().dropped_loss);
  EXPECT_NEAR(lost, 0.2 * kCount, binomial_bound(kCount, 0.2));
  (void)link.due(Micros(kCount));
  EXPECT_EQ(link.stats().forwarded + link.stats().dropped_loss, kCount);
  expect_accounting(link);
}

TEST(Link, TheSameSeedMakesTheSameDecisionsAndAnotherSeedDoesNot) {
  const auto first = loss_verdicts(kSeed, Micros(0), 1000);
  EXPECT_EQ(first, loss_verdicts(kSeed, Micros(0), 1000));
  EXPECT_NE(first, loss_verdicts(kSeed + 1, Micros(0), 1000));
  // A datagram's fate depends on the seed and its position only, not on other settings.
  EXPECT_EQ(first, loss_verdicts(kSeed, milliseconds(5), 1000));
}

TEST(Link, DuplicationHappensAtTheConfiguredRateAndCopiesAreIdentical) {
  constexpr std::size_t kCount = 10'000;
  LinkConfig config;
  config.duplicate = 0.1;
  config.delay = milliseconds(5);
  config.jitter = milliseconds(2);
  Link link(config, kSeed);
  std::size_t reported = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    const Schedule s = link.submit(Micros(static_cast<Micros::rep>(i) * 100), make_datagram(30, i));
    if (s.duplicated) {
      ++reported;
      EXPECT_GE(s.duplicate_departure - Micros(static_cast<Micros::rep>(i) * 100), milliseconds(3));
    }
  }
  EXPECT_EQ(reported, link.stats().duplicated);
  EXPECT_NEAR(static_cast<double>(reported), 0.1 * kCount, binomial_bound(kCount, 0.1));
  const std::vector<Datagram> out = link.due(Micros::max());
  EXPECT_EQ(out.size(), kCount + reported);
  std::vector<int> seen(kCount, 0);
  for (const Datagram& d : out) {
    ++seen[d.flow];
    EXPECT_EQ(d.payload, make_datagram(30, d.flow).payload);
  }
  std::size_t twice = 0;
  for (const int n : seen) {
    EXPECT_TRUE(n == 1 || n == 2);
    twice += n == 2 ? 1 : 0;
  }
  EXPECT_EQ(twice, reported);
  expect_accounting(link);
}

TEST(Link, ReorderingHoldsDatagramsBackSoLaterOnesOvertake) {
  constexpr std::size_t kCount = 10'000;
  LinkConfig config;
  config.reorder = 0.25;
  config.delay = milliseconds(10);
  config.reorder_extra = milliseconds(20);
  Link link(config, kSeed);
  std::size_t held_back = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    const Micros now = milliseconds(static_cast<int>(i));
    const Schedule s = link.submit(now, make_datagram(30, i));
    EXPECT_EQ(s.departure - now, s.reordered ? milliseconds(30) : milliseconds(10));
    held_back += s.reordered ? 1 : 0;
  }
  EXPECT_EQ(held_back, link.stats().reordered);
  EXPECT_NEAR(static_cast<double>(held_back), 0.25 * kCount, binomial_bound(kCount, 0.25));
  // Out of order as seen by the receiver: a datagram arriving after a later-sent one.
  const std::vector<Datagram> out = link.due(Micros::max());
  ASSERT_EQ(out.size(), kCount);
  std::size_t overtaken = 0;
  std::uint64_t highest = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i > 0 && out[i].flow < highest) ++overtaken;
    highest = std::max(highest, out[i].flow);
  }
  // Every held-back datagram is overtaken except one held back behind held-back ones only.
  EXPECT_GT(overtaken, held_back * 9 / 10);
  EXPECT_LE(overtaken, held_back);
}

TEST(Link, BlackoutDropsExactlyInsideTheWindow) {
  LinkConfig config;
  config.blackouts = {Blackout{milliseconds(1000), milliseconds(500)},
                      Blackout{milliseconds(3000), milliseconds(1)}};
  Link link(config, kSeed);
  const auto verdict = [&link](Micros now) { return link.submit(now, make_datagram(10)).verdict; };
  EXPECT_EQ(verdict(milliseconds(1000) - Micros(1)), Verdict::kScheduled);
  EXPECT_EQ(verdict(milliseconds(1000)), Verdict::kDroppedBlackout);
  EXPECT_EQ(verdict(milliseconds(1250)), Verdict::kDroppedBlackout);
  EXPECT_EQ(verdict(milliseconds(1500) - Micros(1)), Verdict::kDroppedBlackout);
  EXPECT_EQ(verdict(milliseconds(1500)), Verdict::kScheduled);
  EXPECT_EQ(verdict(milliseconds(3000)), Verdict::kDroppedBlackout);
  EXPECT_EQ(verdict(milliseconds(3001)), Verdict::kScheduled);
  EXPECT_EQ(link.stats().dropped_blackout, 4U);
  EXPECT_EQ(link.stats().received, 7U);
  expect_accounting(link);
}

TEST(Link, EveryImpairmentTogetherKeepsTheAccountingConsistent) {
  LinkConfig config;
  config.delay = milliseconds(20);
  config.jitter = milliseconds(5);
  config.rate_bps = 250'000;
  config.queue_bytes = 4000;
  config.loss = 0.1;
  config.duplicate = 0.05;
  config.reorder = 0.05;
  config.blackouts = {Blackout{milliseconds(2000), milliseconds(1000)}};
  Link link(config, kSeed);
  std::size_t forwarded = 0;
  for (int i = 0; i < 5000; ++i) {
    const Micros now = milliseconds(i);
    (void)link.submit(now, make_datagram(static_cast<std::size_t>(100 + i % 400)));
    forwarded += link.due(now).size();
    expect_accounting(link);
  }
  forwarded += link.due(Micros::max()).size();
  const LinkStats& s = link.stats();
  EXPECT_EQ(forwarded, s.forwarded);
  EXPECT_GT(s.dropped_loss, 0U);
  EXPECT_GT(s.dropped_queue, 0U);  // 250 kbit/s is less than the ~1.2 Mbit/s offered
  EXPECT_EQ(s.dropped_blackout, 1000U);
  EXPECT_GT(s.duplicated, 0U);
  EXPECT_GT(s.reordered, 0U);
  EXPECT_EQ(link.pending(), 0U);
  expect_accounting(link);
}

}  // namespace
}  // namespace spindle::linkemu
