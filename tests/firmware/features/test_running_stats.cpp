// features/running_stats: Welford statistics, and merging them equals pooling the vectors.
#include "spindle/features/running_stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace spindle::features {
namespace {

TEST(RunningStats, MeanPopulationStddevMinAndMaxOfAKnownSeries) {
  auto stats = RunningStats::create(2);
  ASSERT_TRUE(stats.ok());
  for (const float v : {2.0F, 4.0F, 4.0F, 4.0F, 5.0F, 5.0F, 7.0F, 9.0F}) {
    const float vector[2] = {v, -10.0F * v};
    ASSERT_TRUE(stats.value().add(vector).ok());
  }
  EXPECT_EQ(stats->count(), 8U);
  EXPECT_FLOAT_EQ(stats->mean(0), 5.0F);
  EXPECT_FLOAT_EQ(stats->stddev(0), 2.0F);
  EXPECT_FLOAT_EQ(stats->variance(1), 400.0F);
  EXPECT_FLOAT_EQ(stats->min(0), 2.0F);
  EXPECT_FLOAT_EQ(stats->max(0), 9.0F);
  EXPECT_FLOAT_EQ(stats->min(1), -90.0F);
  EXPECT_FLOAT_EQ(stats->max(1), -20.0F);
}

TEST(RunningStats, MergingEqualsAddingEveryVectorToOne) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(3.0F, 2.0F);
  auto all = RunningStats::create(kMaxFeatures).value();
  auto first = RunningStats::create(kMaxFeatures).value();
  auto second = RunningStats::create(kMaxFeatures).value();
  auto empty = RunningStats::create(kMaxFeatures).value();
  std::vector<float> v(kMaxFeatures);
  for (int i = 0; i < 300; ++i) {
    for (float& x : v)
      x = normal(rng);
    ASSERT_TRUE(all.add(v).ok());
    ASSERT_TRUE((i < 100 ? first : second).add(v).ok());
  }
  ASSERT_TRUE(first.merge(second).ok());
  ASSERT_TRUE(first.merge(empty).ok());
  ASSERT_TRUE(empty.merge(first).ok());
  for (const RunningStats* merged : {&first, &empty}) {
    EXPECT_EQ(merged->count(), 300U);
    for (std::size_t i = 0; i < kMaxFeatures; ++i) {
      EXPECT_NEAR(merged->mean(i), all.mean(i), 1e-5F);
      EXPECT_NEAR(merged->variance(i), all.variance(i), 1e-4F);
      EXPECT_EQ(merged->min(i), all.min(i));
      EXPECT_EQ(merged->max(i), all.max(i));
    }
  }
}

TEST(RunningStats, SmallSpreadOnALargeOffsetKeepsItsVariance) {
  auto stats = RunningStats::create(1).value();
  for (int i = 0; i < 10000; ++i) {
    const float v = 1000.0F + (i % 2 == 0 ? 0.125F : -0.125F);
    ASSERT_TRUE(stats.add({&v, 1}).ok());
  }
  EXPECT_NEAR(stats.stddev(0), 0.125F, 1e-5F);
}

TEST(RunningStats, WrongSizeOrNonFiniteVectorIsRefusedAndNothingIsAdded) {
  auto stats = RunningStats::create(3).value();
  const std::vector<float> short_vector(2, 1.0F);
  EXPECT_EQ(stats.add(short_vector), Error::kSizeMismatch);
  const std::vector<float> nan_vector = {1.0F, std::numeric_limits<float>::quiet_NaN(), 2.0F};
  EXPECT_EQ(stats.add(nan_vector), Error::kInvalidValue);
  EXPECT_EQ(stats.count(), 0U);
  EXPECT_EQ(stats.mean(0), 0.0F);
  EXPECT_EQ(stats.merge(RunningStats::create(4).value()), Error::kSizeMismatch);
  EXPECT_EQ(RunningStats::create(kMaxFeatures + 1).status(), Error::kInvalidValue);
}

TEST(RunningStats, ClearStartsANewPeriodWithTheSameFeatures) {
  auto stats = RunningStats::create(2).value();
  const std::vector<float> v = {1.0F, 2.0F};
  ASSERT_TRUE(stats.add(v).ok());
  stats.clear();
  EXPECT_EQ(stats.count(), 0U);
  EXPECT_EQ(stats.features(), 2U);
  EXPECT_EQ(stats.variance(0), 0.0F);
  EXPECT_TRUE(stats.add(v).ok());
  EXPECT_EQ(stats.mean(1), 2.0F);
}

}  // namespace
}  // namespace spindle::features
