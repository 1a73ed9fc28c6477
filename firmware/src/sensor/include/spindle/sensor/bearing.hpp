// Rolling-element bearing kinematics: the characteristic defect frequencies of a bearing
// with a stationary outer race, from its geometry (Harris & Kotzalas, Rolling Bearing
// Analysis; Randall & Antoni 2011). See docs/firmware/vibration-model.md.
#pragma once

#include <cstdint>

#include "spindle/status.hpp"

namespace spindle::sensor {

struct BearingGeometry {
  std::uint32_t balls = 9;           // n, rolling elements
  float ball_diameter_mm = 7.94F;    // d
  float pitch_diameter_mm = 39.04F;  // D
  float contact_angle_deg = 0.0F;    // phi; 0 for a deep-groove ball bearing

  bool operator==(const BearingGeometry&) const = default;
};  // defaults: a 6205 deep-groove ball bearing

// Defect frequencies as multiples of the shaft frequency fr (orders), so that
// BPFO_hz = bpfo * fr at any speed:
//   BPFO = n/2 (1 - d/D cos phi)          ball pass, outer race
//   BPFI = n/2 (1 + d/D cos phi)          ball pass, inner race
//   BSF  = D/(2d) (1 - (d/D cos phi)^2)   ball spin
//   FTF  = 1/2 (1 - d/D cos phi)          cage (fundamental train)
struct DefectOrders {
  float bpfo = 0.0F;
  float bpfi = 0.0F;
  float bsf = 0.0F;
  float ftf = 0.0F;
};

// Errors: kInvalidValue unless 3 <= balls <= 64, 0 < d < D and 0 <= phi < 90 degrees.
Result<DefectOrders> defect_orders(const BearingGeometry& bearing);

}  // namespace spindle::sensor
