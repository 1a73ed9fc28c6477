// spindle::fleet::LatencyHistogram: percentiles within the stated precision, exact small
// values and maximum, and no growth with the sample count.
#include "spindle/fleet/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace spindle::fleet {
namespace {

TEST(LatencyHistogram, EmptyReportsZero) {
  const LatencyHistogram h;
  EXPECT_EQ(h.count(), 0U);
  EXPECT_EQ(h.percentile(0.5), 0U);
  EXPECT_EQ(h.max(), 0U);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 50; ++v)
    h.record(v);
  EXPECT_EQ(h.percentile(0.5), 25U);
  EXPECT_EQ(h.percentile(0.9), 45U);
  EXPECT_EQ(h.percentile(1.0), 50U);
  EXPECT_EQ(h.max(), 50U);
}

TEST(LatencyHistogram, PercentilesWithinOneThirtySecond) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v)
    h.record(v * 10);  // 10 us .. 1 s
  for (const double p : {0.5, 0.9, 0.99}) {
    const double truth = p * 1'000'000.0;
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, truth) << p;
    EXPECT_LE(got, truth * (1.0 + 1.0 / 32.0)) << p;
  }
  EXPECT_EQ(h.percentile(1.0), 1'000'000U);
  EXPECT_EQ(h.count(), 100'000U);
}

TEST(LatencyHistogram, PercentileNeverExceedsTheMaximum) {
  LatencyHistogram h;
  h.record(1000);
  EXPECT_EQ(h.percentile(0.5), 1000U);
  EXPECT_EQ(h.percentile(0.99), 1000U);
}

TEST(LatencyHistogram, TakesTheWholeRange) {
  LatencyHistogram h;
  h.record(std::numeric_limits<std::uint64_t>::max());
  h.record(0);
  EXPECT_EQ(h.max(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(h.percentile(1.0), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(h.percentile(0.5), 0U);
}

}  // namespace
}  // namespace spindle::fleet
