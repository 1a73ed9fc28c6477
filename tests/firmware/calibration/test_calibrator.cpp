// calibration/calibrator: the calibration state machine — normalization learned over the
// manifest's windows, then the threshold from the scores at the manifest's quantile and
// margin, clamped to its bounds — and resuming from persisted progress.
#include "spindle/calibration/calibrator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace spindle::calibration {
namespace {

manifest::Calibration params(std::uint32_t normalization, std::uint32_t threshold, float q,
                             float margin = 1.0F, float low = 1e-3F, float high = 1e6F) {
  return {.normalization_windows = normalization,
          .threshold_windows = threshold,
          .threshold_quantile = q,
          .threshold_margin = margin,
          .threshold_min = low,
          .threshold_max = high};
}

// The trainer's definition: linear interpolation between order statistics.
float reference_quantile(std::vector<float> v, float q) {
  std::sort(v.begin(), v.end());
  const double at = static_cast<double>(q) * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + static_cast<float>(at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

TEST(Calibrator, LearnsTheMachinesFeatureStatisticsThenItsThreshold) {
  const auto p = params(20, 40, 0.9F, 2.0F);
  Calibrator c = Calibrator::begin(p, 2, 1).value();
  EXPECT_EQ(c.phase(), Phase::kNormalizing);
  EXPECT_EQ(c.windows_total(), 60U);
  for (int i = 0; i < 20; ++i) {
    const std::array<float, 2> f = {i % 2 == 0 ? 9.0F : 11.0F, 5.0F};
    const auto moved = c.add(f, 123.0F);  // scores while normalizing are not used
    ASSERT_TRUE(moved.ok());
    EXPECT_EQ(*moved, i == 19);
  }
  EXPECT_EQ(c.phase(), Phase::kThresholding);
  EXPECT_EQ(c.windows_done(), 20U);
  EXPECT_FLOAT_EQ(c.progress().normalization.mean[0], 10.0F);
  EXPECT_FLOAT_EQ(c.progress().normalization.stddev[0], 1.0F);
  EXPECT_FLOAT_EQ(c.progress().normalization.mean[1], 5.0F);
  std::vector<float> scores;
  for (int i = 0; i < 40; ++i) {
    const float s = static_cast<float>((i * 17) % 40) * 0.1F;
    scores.push_back(s);
    const auto moved = c.add(std::array<float, 2>{10.0F, 5.0F}, s);
    ASSERT_TRUE(moved.ok());
    EXPECT_EQ(*moved, i == 39);
  }
  ASSERT_TRUE(c.calibrated());
  EXPECT_FLOAT_EQ(c.progress().threshold, reference_quantile(scores, 0.9F) * 2.0F);
  EXPECT_EQ(c.progress().clamp, ThresholdClamp::kNone);
  EXPECT_EQ(c.windows_done(), 60U);
  EXPECT_EQ(c.add(std::array<float, 2>{}, 0.0F).status(), Status(Error::kInvalidState));
}

TEST(Calibrator, TheQuantileIsExactForAnyOrderOfScores) {
  std::mt19937 rng(7);
  std::lognormal_distribution<float> dist(0.0F, 1.0F);
  for (const float q : {0.5F, 0.9F, 0.99F, 0.995F, 1.0F}) {
    for (const std::uint32_t n : {16U, 100U, 999U, 5000U}) {
      const auto p = params(16, n, q);
      if (manifest::calibration_tail(n, q) > manifest::kMaxCalibrationTail) continue;
      Calibrator c = Calibrator::begin(p, 1, 1).value();
      for (int i = 0; i < 16; ++i)
        ASSERT_TRUE(c.add(std::array<float, 1>{static_cast<float>(i)}, 0.0F).ok());
      std::vector<float> scores;
      for (std::uint32_t i = 0; i < n; ++i) {
        scores.push_back(dist(rng));
        ASSERT_TRUE(c.add(std::array<float, 1>{1.0F}, scores.back()).ok());
      }
      ASSERT_TRUE(c.calibrated());
      EXPECT_FLOAT_EQ(c.progress().threshold, reference_quantile(scores, q))
          << "q " << q << " n " << n;
    }
  }
}

TEST(Calibrator, TheThresholdIsClampedToTheManifestsBounds) {
  for (const auto& [score, expected, clamp] : {std::tuple{0.01F, 0.5F, ThresholdClamp::kLower},
                                               std::tuple{50.0F, 8.0F, ThresholdClamp::kUpper},
                                               std::tuple{2.0F, 2.0F, ThresholdClamp::kNone}}) {
    Calibrator c = Calibrator::begin(params(16, 16, 1.0F, 1.0F, 0.5F, 8.0F), 1, 1).value();
    for (int i = 0; i < 32; ++i)
      ASSERT_TRUE(c.add(std::array<float, 1>{static_cast<float>(i)}, score).ok());
    EXPECT_FLOAT_EQ(c.progress().threshold, expected);
    EXPECT_EQ(c.progress().clamp, clamp);
  }
}

TEST(Calibrator, AWindowItCannotUseIsRefusedAndNotCounted) {
  Calibrator c = Calibrator::begin(params(16, 16, 0.9F), 2, 1).value();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(c.add(std::array<float, 2>{nan, 1.0F}, 0.0F).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(c.add(std::array<float, 3>{}, 0.0F).status(), Status(Error::kSizeMismatch));
  EXPECT_EQ(c.windows_done(), 0U);
  for (int i = 0; i < 16; ++i)
    ASSERT_TRUE(c.add(std::array<float, 2>{static_cast<float>(i), 1.0F}, 0.0F).ok());
  EXPECT_EQ(c.add(std::array<float, 2>{1.0F, 1.0F}, nan).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(c.windows_done(), 16U);
}

TEST(Calibrator, RefusesParametersTheManifestWouldRefuse) {
  EXPECT_FALSE(Calibrator::begin(params(15, 16, 0.9F), 1, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.4F), 1, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.9F, 0.5F), 1, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.9F, 1.0F, 2.0F, 1.0F), 1, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 10000, 0.5F), 1, 1).ok());  // tail of 5000
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.9F), 0, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.9F), kMaxFeatures + 1, 1).ok());
  EXPECT_FALSE(Calibrator::begin(params(16, 16, 0.9F), 1, 0).ok());
}

TEST(Calibrator, ResumesEachPhaseFromItsPersistedProgress) {
  const auto p = params(16, 16, 1.0F);
  Calibrator c = Calibrator::begin(p, 1, 3).value();
  for (int i = 0; i < 16; ++i)
    ASSERT_TRUE(c.add(std::array<float, 1>{static_cast<float>(i)}, 0.0F).ok());
  const Progress thresholding = c.progress();
  Calibrator resumed = Calibrator::resume(p, 1, thresholding).value();
  EXPECT_EQ(resumed.phase(), Phase::kThresholding);
  EXPECT_EQ(resumed.progress().generation, 3U);
  for (int i = 0; i < 16; ++i)
    ASSERT_TRUE(resumed.add(std::array<float, 1>{1.0F}, static_cast<float>(i)).ok());
  ASSERT_TRUE(resumed.calibrated());
  EXPECT_FLOAT_EQ(resumed.progress().threshold, 15.0F);
  const auto done = Calibrator::resume(p, 1, resumed.progress());
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->calibrated());
  EXPECT_FLOAT_EQ(done->progress().threshold, 15.0F);
}

TEST(Calibrator, RefusesProgressThatDoesNotFitTheModel) {
  const auto p = params(16, 16, 1.0F);
  Calibrator c = Calibrator::begin(p, 2, 1).value();
  for (int i = 0; i < 16; ++i)
    ASSERT_TRUE(c.add(std::array<float, 2>{static_cast<float>(i), 1.0F}, 0.0F).ok());
  EXPECT_FALSE(Calibrator::resume(p, 3, c.progress()).ok());  // other feature count
  EXPECT_FALSE(Calibrator::resume(params(32, 16, 1.0F), 2, c.progress()).ok());  // other period
  Progress out_of_bounds = c.progress();
  out_of_bounds.phase = Phase::kCalibrated;
  out_of_bounds.windows_done = 32;
  out_of_bounds.threshold = 1e9F;
  EXPECT_FALSE(Calibrator::resume(p, 2, out_of_bounds).ok());
}

TEST(Calibrator, TailQuantileInterpolatesBetweenTheTwoLowestKeptScores) {
  const std::array<float, 3> tail = {1.0F, 2.0F, 3.0F};
  // 11 scores, q = 0.85: position 8.5, between ranks 8 and 9 (the tail holds 8..10).
  EXPECT_FLOAT_EQ(tail_quantile(tail, 11, 0.85F), 1.5F);
  EXPECT_FLOAT_EQ(tail_quantile(std::array<float, 1>{4.0F}, 11, 1.0F), 4.0F);
}

}  // namespace
}  // namespace spindle::calibration
