// calibration/normalization: the affine map into a per-machine model's input space, its
// stddev floors, and the packing the calibration report carries.
#include "spindle/calibration/normalization.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

namespace spindle::calibration {
namespace {

TEST(Normalization, FromBaselineStandardizesByTheTrainingStatistics) {
  const std::array<manifest::FeatureBaseline, 2> baseline = {{{2.0F, 0.5F}, {-1.0F, 4.0F}}};
  const auto n = Normalization::from_baseline(baseline);
  ASSERT_TRUE(n.ok());
  std::array<float, 2> in = {3.0F, 7.0F};
  std::array<float, 2> out{};
  ASSERT_TRUE(n->apply(in, out).ok());
  EXPECT_FLOAT_EQ(out[0], 2.0F);
  EXPECT_FLOAT_EQ(out[1], 2.0F);
}

TEST(Normalization, FromStatsUsesTheMachinesOwnMeanAndStddev) {
  features::RunningStats stats = features::RunningStats::create(1).value();
  for (const float v : {9.0F, 11.0F})
    ASSERT_TRUE(stats.add(std::array<float, 1>{v}).ok());
  const auto n = Normalization::from_stats(stats);
  ASSERT_TRUE(n.ok());
  EXPECT_FLOAT_EQ(n->mean[0], 10.0F);
  EXPECT_FLOAT_EQ(n->stddev[0], 1.0F);
}

TEST(Normalization, ANearlyConstantFeatureIsDividedByTheFloorNotByItsTinyStddev) {
  EXPECT_FLOAT_EQ(floored_stddev(10.0F, 1e-9F), kRelativeStddevFloor * 10.0F);
  EXPECT_FLOAT_EQ(floored_stddev(-10.0F, 1e-9F), kRelativeStddevFloor * 10.0F);
  EXPECT_FLOAT_EQ(floored_stddev(0.0F, 0.0F), kAbsoluteStddevFloor);
  EXPECT_FLOAT_EQ(floored_stddev(10.0F, 3.0F), 3.0F);
  const std::array<manifest::FeatureBaseline, 1> constant = {{{10.0F, 0.0F}}};
  const auto n = Normalization::from_baseline(constant);
  ASSERT_TRUE(n.ok());
  std::array<float, 1> v = {10.5F};
  ASSERT_TRUE(n->apply(v, v).ok());  // in place
  EXPECT_FLOAT_EQ(v[0], 0.5F / (kRelativeStddevFloor * 10.0F));
}

TEST(Normalization, RefusesBaselinesItCannotUse) {
  const std::array<manifest::FeatureBaseline, 1> negative = {{{1.0F, -1.0F}}};
  EXPECT_EQ(Normalization::from_baseline(negative).status(), Status(Error::kInvalidValue));
  const std::array<manifest::FeatureBaseline, 1> nan = {
      {{std::numeric_limits<float>::quiet_NaN(), 1.0F}}};
  EXPECT_EQ(Normalization::from_baseline(nan).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(Normalization::from_baseline({}).status(), Status(Error::kInvalidValue));
  std::array<manifest::FeatureBaseline, kMaxFeatures + 1> many{};
  EXPECT_EQ(Normalization::from_baseline(many).status(), Status(Error::kOversize));
  EXPECT_EQ(Normalization::from_stats(features::RunningStats::create(3).value()).status(),
            Status(Error::kInvalidValue));
}

TEST(Normalization, ApplyRefusesAVectorOfAnotherLength) {
  const std::array<manifest::FeatureBaseline, 2> baseline = {{{0.0F, 1.0F}, {0.0F, 1.0F}}};
  const auto n = Normalization::from_baseline(baseline);
  std::array<float, 3> three{};
  EXPECT_EQ(n->apply(three, three), Status(Error::kSizeMismatch));
}

TEST(Normalization, PacksFloat32LittleEndianMeanStddevPairs) {
  const std::array<manifest::FeatureBaseline, 2> baseline = {{{0.5F, 0.25F}, {-1.0F, 2.0F}}};
  const auto n = Normalization::from_baseline(baseline);
  std::array<std::uint8_t, 16> out{};
  const auto packed = n->pack(out);
  ASSERT_TRUE(packed.ok());
  const std::array<std::uint8_t, 16> expected = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e,
                                                 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};
  ASSERT_EQ(packed->size(), 16U);
  EXPECT_EQ(std::memcmp(packed->data(), expected.data(), 16), 0);
  std::array<std::uint8_t, 15> small{};
  EXPECT_EQ(n->pack(small).status(), Status(Error::kBufferTooSmall));
}

}  // namespace
}  // namespace spindle::calibration
