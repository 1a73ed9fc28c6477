// sensor/random: the simulator's generator is reproducible and its Gaussians are standard.
#include "spindle/sensor/random.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace spindle::sensor {
namespace {

TEST(Random, SameSeedSameSequenceDifferentSeedDifferentSequence) {
  Random a(42);
  Random b(42);
  Random c(43);
  int differing = 0;
  for (int i = 0; i < 100; ++i) {
    const std::uint32_t va = a.next_u32();
    EXPECT_EQ(va, b.next_u32());
    differing += va != c.next_u32() ? 1 : 0;
  }
  EXPECT_GT(differing, 95);
}

TEST(Random, UniformIsInZeroExclusiveToOneInclusive) {
  Random r(7);
  for (int i = 0; i < 100000; ++i) {
    const float u = r.uniform();
    ASSERT_GT(u, 0.0F);
    ASSERT_LE(u, 1.0F);
  }
}

TEST(Random, GaussianHasZeroMeanUnitVarianceAndGaussianKurtosis) {
  Random r(1);
  constexpr int kCount = 200000;
  double sum = 0.0;
  double sum2 = 0.0;
  double sum4 = 0.0;
  for (int i = 0; i < kCount; ++i) {
    const double g = r.gaussian();
    sum += g;
    sum2 += g * g;
    sum4 += g * g * g * g;
  }
  const double mean = sum / kCount;
  const double variance = sum2 / kCount - mean * mean;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(variance, 1.0, 0.01);
  EXPECT_NEAR(sum4 / kCount / (variance * variance), 3.0, 0.05);
}

}  // namespace
}  // namespace spindle::sensor
