#include "spindle/inference/standardize.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::ElementType;
using test::ArenaBuffer;
using test::TestTensor;

// params row 0 = means, row 1 = inverse stddevs.
std::unique_ptr<TestTensor> params(const std::vector<float>& mean,
                                   const std::vector<float>& inv_std) {
  std::vector<float> values = mean;
  values.insert(values.end(), inv_std.begin(), inv_std.end());
  auto t = std::make_unique<TestTensor>(
      ElementType::kFloat32,
      std::vector<std::uint16_t>{2, static_cast<std::uint16_t>(mean.size())});
  t->constant(test::float_bytes(values));
  return t;
}

Result<std::vector<float>> standardize(const std::unique_ptr<TestTensor>& p,
                                       const std::vector<float>& x) {
  ArenaBuffer buffer(standardize_persistent_bytes());
  Arena arena(buffer.span());
  StandardizeData* data = *init_standardize(arena);
  SPINDLE_TRY(prepare_standardize(*p, *data));
  std::vector<float> y(x.size());
  eval_standardize(*data, FloatValues(x), y);
  return y;
}

TEST(Standardize, CentresAndScalesEachFeatureByItsOwnParameters) {
  // A centroid in Hz, a level in dB and a kurtosis: three ranges one int8 scale cannot share.
  const auto p = params({500.0f, -60.0f, 3.0f}, {0.01f, 0.5f, 2.0f});
  const auto y = standardize(p, {520.0f, -63.0f, 3.25f});
  ASSERT_TRUE(y.ok());
  EXPECT_FLOAT_EQ((*y)[0], 0.2f);
  EXPECT_FLOAT_EQ((*y)[1], -1.5f);
  EXPECT_FLOAT_EQ((*y)[2], 0.5f);
}

TEST(Standardize, UnstandardizeInvertsEval) {
  const auto p = params({500.0f, -60.0f}, {0.01f, 0.5f});
  ArenaBuffer buffer(standardize_persistent_bytes());
  Arena arena(buffer.span());
  StandardizeData* data = *init_standardize(arena);
  ASSERT_TRUE(prepare_standardize(*p, *data).ok());
  EXPECT_NEAR(unstandardize(*data, 0, 0.2f), 520.0f, 1e-3f);
  EXPECT_NEAR(unstandardize(*data, 1, -1.5f), -63.0f, 1e-5f);
}

TEST(Standardize, RefusesParametersThatCannotStandardize) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(standardize(params({0.0f}, {0.0f}), {1.0f}).status(), Error::kInvalidValue);
  EXPECT_EQ(standardize(params({0.0f}, {-1.0f}), {1.0f}).status(), Error::kInvalidValue);
  EXPECT_EQ(standardize(params({0.0f}, {inf}), {1.0f}).status(), Error::kInvalidValue);
  EXPECT_EQ(standardize(params({nan}, {1.0f}), {1.0f}).status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::inference
