// spindle::trainer evaluation arithmetic: ROC-AUC and quantiles against hand-computed values.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "spindle/trainer/evaluation.hpp"
#include "spindle/trainer/fit.hpp"

namespace spindle::trainer {
namespace {

TEST(RocAuc, OneWhenEveryPositiveScoresAboveEveryNegative) {
  EXPECT_FLOAT_EQ(roc_auc({5, 6, 7}, {1, 2, 3}), 1.0f);
  EXPECT_FLOAT_EQ(roc_auc({1, 2}, {5, 6, 7}), 0.0f);
}

TEST(RocAuc, CountsTiesAsOneHalf) {
  EXPECT_FLOAT_EQ(roc_auc({1, 1}, {1, 1}), 0.5f);
  // Pairs (p, n): (2,1) win, (2,3) lose, (3,1) win, (3,3) tie -> 2.5 of 4.
  EXPECT_FLOAT_EQ(roc_auc({2, 3}, {1, 3}), 0.625f);
}

TEST(RocAuc, RefusesAnEmptyClass) {
  EXPECT_THROW((void)roc_auc({}, {1.0f}), std::invalid_argument);
  EXPECT_THROW((void)roc_auc({1.0f}, {}), std::invalid_argument);
}

TEST(Quantile, InterpolatesBetweenOrderStatistics) {
  const std::vector<float> v = {4, 1, 3, 2, 5};
  EXPECT_FLOAT_EQ(quantile(v, 0.0f), 1.0f);
  EXPECT_FLOAT_EQ(quantile(v, 0.5f), 3.0f);
  EXPECT_FLOAT_EQ(quantile(v, 1.0f), 5.0f);
  EXPECT_FLOAT_EQ(quantile(v, 0.875f), 4.5f);
  EXPECT_THROW((void)quantile({}, 0.5f), std::invalid_argument);
  EXPECT_THROW((void)quantile(v, 1.5f), std::invalid_argument);
}

}  // namespace
}  // namespace spindle::trainer
