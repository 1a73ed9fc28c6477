#include "spindle/sensor/bearing.hpp"

#include <cmath>

namespace spindle::sensor {

Result<DefectOrders> defect_orders(const BearingGeometry& bearing) {
  const float d = bearing.ball_diameter_mm;
  const float pitch = bearing.pitch_diameter_mm;
  const float angle = bearing.contact_angle_deg;
  if (bearing.balls < 3 || bearing.balls > 64) return Error::kInvalidValue;
  if (!(d > 0.0F) || !(pitch > d) || !std::isfinite(pitch)) return Error::kInvalidValue;
  if (!(angle >= 0.0F) || !(angle < 90.0F)) return Error::kInvalidValue;

  constexpr float kDegreesToRadians = 0.0174532925F;
  const float ratio = d / pitch * std::cos(angle * kDegreesToRadians);
  const float half_balls = 0.5F * static_cast<float>(bearing.balls);
  DefectOrders orders;
  orders.bpfo = half_balls * (1.0F - ratio);
  orders.bpfi = half_balls * (1.0F + ratio);
  orders.bsf = pitch / (2.0F * d) * (1.0F - ratio * ratio);
  orders.ftf = 0.5F * (1.0F - ratio);
  return orders;
}

}  // namespace spindle::sensor
