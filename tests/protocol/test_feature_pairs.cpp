// protocol/feature_pairs: (mean, stddev) pairs as float32 little-endian, whatever the host,
// and every refusal.
#include "spindle/protocol/feature_pairs.hpp"

#include <gtest/gtest.h>

#include <array>

#include "test_support.hpp"

namespace spindle::feature_pairs {
namespace {

TEST(FeaturePairs, PackIsFloat32LittleEndianMeanThenStddev) {
  const std::array<float, 2> mean = {0.5F, -1.0F};
  const std::array<float, 2> stddev = {0.25F, 2.0F};
  std::array<std::uint8_t, 16> out{};
  const auto packed = pack(mean, stddev, out);
  ASSERT_TRUE(packed.ok());
  EXPECT_EQ(test::to_hex(*packed), "0000003f0000803e000080bf00000040");
  std::array<float, 4> m{};
  std::array<float, 4> s{};
  const auto count = unpack(*packed, m, s);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 2U);
  EXPECT_EQ(m[1], -1.0F);
  EXPECT_EQ(s[0], 0.25F);
}

TEST(FeaturePairs, RefusesWhatDoesNotFit) {
  const std::array<float, 2> two{};
  const std::array<float, 1> one{};
  std::array<std::uint8_t, 16> out{};
  EXPECT_EQ(pack(two, one, out).status(), Status(Error::kSizeMismatch));
  std::array<std::uint8_t, 15> small{};
  EXPECT_EQ(pack(two, two, small).status(), Status(Error::kBufferTooSmall));
  std::array<float, 1> m{};
  std::array<float, 1> s{};
  EXPECT_EQ(unpack(std::array<std::uint8_t, 7>{}, m, s).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(unpack(out, m, s).status(), Status(Error::kOversize));  // two pairs, room for one
  EXPECT_EQ(*unpack({}, m, s), 0U);
}

}  // namespace
}  // namespace spindle::feature_pairs
