// protocol/feature_names: the stable names of the node's features, axis-major.
#include "spindle/protocol/feature_names.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace spindle::feature_names {
namespace {

TEST(FeatureNames, AreAxisMajorWithStatisticsThenBands) {
  EXPECT_EQ(name(0), "x_rms");
  EXPECT_EQ(name(3), "x_kurtosis");
  EXPECT_EQ(name(kPerAxis + 6), "y_dominant");
  EXPECT_EQ(name(2 * kPerAxis + 10), "z_band3");
  EXPECT_EQ(name(kCount - 1), "z_band7");
  EXPECT_EQ(name(kCount), "");
}

TEST(FeatureNames, AreUniqueAndCsvSafe) {
  std::set<std::string> seen;
  for (std::size_t i = 0; i < kCount; ++i) {
    const std::string text(name(i));
    EXPECT_TRUE(seen.insert(text).second) << text;
    EXPECT_EQ(text.find_first_of(",\" "), std::string::npos) << text;
    EXPECT_EQ(name(i).data()[text.size()], '\0');
  }
}

}  // namespace
}  // namespace spindle::feature_names
