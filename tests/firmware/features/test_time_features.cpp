// features/time_features: the statistics of signals whose values are known in closed form.
#include "spindle/features/time_features.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

namespace spindle::features {
namespace {

std::vector<float> sine(std::size_t n, float amplitude, double cycles, float offset = 0.0F) {
  std::vector<float> s(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double phase =
        2.0 * std::numbers::pi * cycles * static_cast<double>(i) / static_cast<double>(n);
    s[i] = offset + amplitude * static_cast<float>(std::sin(phase + 0.3));
  }
  return s;
}

TEST(TimeFeatures, SineHasRmsOverRootTwoPeakACrestRootTwoAndKurtosisOneAndAHalf) {
  const float a = 0.7F;
  const auto f = time_features(sine(1024, a, 37.0, 1.0F));  // a 1 g offset is ignored
  ASSERT_TRUE(f.ok());
  EXPECT_NEAR(f->mean, 1.0F, 1e-5F);
  EXPECT_NEAR(f->rms, a / std::numbers::sqrt2_v<float>, 1e-5F);
  EXPECT_NEAR(f->peak, a, 2e-3F);  // sampled sine: the crest may fall between samples
  EXPECT_NEAR(f->crest, std::numbers::sqrt2_v<float>, 5e-3F);
  EXPECT_NEAR(f->kurtosis, 1.5F, 1e-4F);
  EXPECT_NEAR(f->skewness, 0.0F, 1e-4F);
}

TEST(TimeFeatures, GaussianNoiseHasKurtosisThreeAndNoSkew) {
  std::mt19937 rng(2024);
  std::normal_distribution<float> normal(0.0F, 0.05F);
  std::vector<float> noise(4096);
  for (float& v : noise)
    v = normal(rng);
  const auto f = time_features(noise);
  ASSERT_TRUE(f.ok());
  EXPECT_NEAR(f->rms, 0.05F, 0.003F);
  EXPECT_NEAR(f->kurtosis, 3.0F, 0.25F);  // standard error sqrt(24 / 4096) = 0.08
  EXPECT_NEAR(f->skewness, 0.0F, 0.12F);  // standard error sqrt(6 / 4096) = 0.04
  EXPECT_GT(f->crest, 3.0F);
}

TEST(TimeFeatures, ImpulsiveSignalIsSkewedAndHeavyTailed) {
  // One sample in four is 1: mean 1/4, m2 3/16, m3 3/32, skewness 2/sqrt(3), kurtosis 7/3.
  std::vector<float> s(64, 0.0F);
  for (std::size_t i = 0; i < s.size(); i += 4)
    s[i] = 1.0F;
  const auto f = time_features(s);
  ASSERT_TRUE(f.ok());
  EXPECT_NEAR(f->skewness, 2.0F / std::sqrt(3.0F), 1e-5F);
  EXPECT_NEAR(f->kurtosis, 7.0F / 3.0F, 1e-5F);
  EXPECT_NEAR(f->peak, 0.75F, 1e-6F);
}

TEST(TimeFeatures, ConstantWindowHasZeroRmsAndZeroShapeFactors) {
  const auto f = time_features(std::vector<float>(256, 0.981F));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->mean, 0.981F);
  EXPECT_EQ(f->rms, 0.0F);
  EXPECT_EQ(f->crest, 0.0F);
  EXPECT_EQ(f->kurtosis, 0.0F);
  EXPECT_EQ(f->skewness, 0.0F);
}

TEST(TimeFeatures, EmptyOrNonFiniteWindowIsInvalidValue) {
  EXPECT_EQ(time_features({}).status(), Error::kInvalidValue);
  std::vector<float> s(16, 0.5F);
  s[9] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(time_features(s).status(), Error::kInvalidValue);
  s[9] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(time_features(s).status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::features
