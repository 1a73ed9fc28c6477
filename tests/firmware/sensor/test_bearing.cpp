// sensor/bearing: the defect frequency formulas against catalogue values.
#include "spindle/sensor/bearing.hpp"

#include <gtest/gtest.h>

namespace spindle::sensor {
namespace {

TEST(Bearing, DefectOrdersOfA6205MatchTheCatalogue) {
  // The CWRU bearing data set's factors for its 6205-2RS (multiples of shaft speed):
  // BPFI 5.4152, BPFO 3.5848, FTF 0.39828, and 4.7135 for a ball defect, which is 2 x BSF.
  const auto orders = defect_orders(BearingGeometry{});
  ASSERT_TRUE(orders.ok());
  EXPECT_NEAR(orders->bpfo, 3.5848F, 0.0005F);
  EXPECT_NEAR(orders->bpfi, 5.4152F, 0.0005F);
  EXPECT_NEAR(2.0F * orders->bsf, 4.7135F, 0.002F);
  EXPECT_NEAR(orders->ftf, 0.39828F, 0.0005F);
}

TEST(Bearing, OuterAndInnerPassFrequenciesAddUpToTheBallCount) {
  BearingGeometry angular;  // a 7205-like angular-contact bearing
  angular.balls = 12;
  angular.ball_diameter_mm = 7.5F;
  angular.pitch_diameter_mm = 38.5F;
  angular.contact_angle_deg = 40.0F;
  const auto orders = defect_orders(angular);
  ASSERT_TRUE(orders.ok());
  EXPECT_NEAR(orders->bpfo + orders->bpfi, 12.0F, 1e-4F);
  EXPECT_NEAR(orders->ftf * 12.0F, orders->bpfo, 1e-4F);  // balls pass at the cage speed
  // A contact angle shortens the effective d/D, moving both towards n/2.
  EXPECT_GT(orders->bpfo, 12.0F / 2.0F * (1.0F - 7.5F / 38.5F));
}

TEST(Bearing, ImpossibleGeometryIsInvalidValue) {
  BearingGeometry ball_too_big;
  ball_too_big.ball_diameter_mm = 40.0F;
  EXPECT_EQ(defect_orders(ball_too_big).status(), Error::kInvalidValue);
  BearingGeometry two_balls;
  two_balls.balls = 2;
  EXPECT_EQ(defect_orders(two_balls).status(), Error::kInvalidValue);
  BearingGeometry sideways;
  sideways.contact_angle_deg = 90.0F;
  EXPECT_EQ(defect_orders(sideways).status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::sensor
