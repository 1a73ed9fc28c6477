#include "spindle/sensor/machine.hpp"

#include <algorithm>
#include <cmath>

#include "spindle/sensor/random.hpp"

namespace spindle::sensor {
namespace {

constexpr float kTwoPi = 6.28318530718F;
constexpr float kHalfPi = 1.57079632679F;
constexpr float kStandardGravity = 9.80665F;  // m/s^2 per g

// Ball complements: 6203 and 6205 as the CWRU bearing data center documents them (fan-end and
// drive-end SKF bearings); the others as bearing defect-frequency tables list them. Pitch
// diameter is the mean of bore and outside diameter (SKF catalogue, ISO 15 boundary
// dimensions) where no measured value is published.
constexpr std::array<CatalogueBearing, kCatalogueBearingCount> kBearings = {{
    {"6203", {8, 6.746F, 28.50F, 0.0F}},
    {"6204", {8, 7.938F, 33.50F, 0.0F}},
    {"6205", {9, 7.94F, 39.04F, 0.0F}},
    {"6206", {9, 9.525F, 46.00F, 0.0F}},
    {"6305", {8, 10.319F, 43.50F, 0.0F}},
    {"6308", {8, 15.081F, 65.00F, 0.0F}},
}};

// Induction motors: synchronous speed 120 * mains / poles, less the rated slip.
struct MotorKind {
  float mains_hz;
  float poles;
};
constexpr std::array<MotorKind, 6> kMotors = {{
    {50.0F, 2.0F},
    {50.0F, 4.0F},
    {50.0F, 6.0F},
    {60.0F, 2.0F},
    {60.0F, 4.0F},
    {60.0F, 6.0F},
}};

// The ranges of docs/firmware/vibration-model.md, "Machines that differ".
constexpr float kSlipMin = 0.010F;  // rated slip of general-purpose motors: 1-2.5 %
constexpr float kSlipMax = 0.025F;
constexpr float kVelocity1xMinMmS = 0.5F;  // RMS velocity of the residual 1x, mm/s
constexpr float kVelocity1xMaxMmS = 2.2F;  // just under the zone A/B boundary, 2.3 mm/s
constexpr float kModeMinHz = 700.0F;
constexpr float kModeMaxHz = 1400.0F;  // below 0.9 * Nyquist at 3200 Hz (1440 Hz)
constexpr float kSecondModeMinHz = 400.0F;
constexpr float kDampingMin = 0.03F;
constexpr float kDampingMax = 0.12F;
constexpr float kGearMeshTopHz = 1280.0F;  // carrier + 2x sideband stay below 0.8 * Nyquist
constexpr std::uint32_t kGearTeethMin = 13;
constexpr std::uint32_t kGearTeethMax = 45;

// A stream of its own for each machine number: splitmix64 (inside Random) of the number
// offset by a constant, so machine N and noise seed N are unrelated sequences.
constexpr std::uint64_t kMachineStream = 0x6D616368696E6573ULL;  // "machines"

class Draw {
 public:
  explicit Draw(std::uint64_t machine)
      : random_(kMachineStream ^ (machine * 0x9E3779B97F4A7C15ULL)) {}

  float uniform(float low, float high) { return low + (high - low) * random_.uniform(); }
  float log_uniform(float low, float high) { return low * std::pow(high / low, random_.uniform()); }
  float phase() { return uniform(0.0F, kTwoPi); }
  bool chance(float p) { return random_.uniform() <= p; }
  std::size_t pick(std::size_t n) {
    const auto i = static_cast<std::size_t>(random_.uniform() * static_cast<float>(n));
    return std::min(i, n - 1);  // uniform() can be exactly 1
  }
  std::uint32_t integer(std::uint32_t low, std::uint32_t high) {
    return low + static_cast<std::uint32_t>(pick(high - low + 1));
  }

 private:
  Random random_;
};

}  // namespace

const std::array<CatalogueBearing, kCatalogueBearingCount>& catalogue_bearings() {
  return kBearings;
}

MachineProfile reference_machine() {
  MachineProfile m;
  m.shaft_hz = 1480.0F / 60.0F;
  m.speed_wander = 0.005F;
  m.speed_wander_seconds = 5.0F;
  m.bearing = kBearings[2].geometry;
  constexpr StructuralMode kMode = {1150.0F, 0.08F, 0.01F, 1.0F};
  // Residual imbalance (1x, rotating: x and y in quadrature) and the 2x, 3x every real rotor
  // and coupling shows. The axial 3x is absent; its phase is the one misalignment uses.
  m.axes[0].orders = {{{0.02F, 0.0F}, {0.008F, 0.9F}, {0.004F, 1.7F}}};
  m.axes[1].orders = {{{0.02F, -kHalfPi}, {0.008F, 2.1F}, {0.004F, 0.2F}}};
  m.axes[2].orders = {{{0.005F, 0.4F}, {0.004F, 0.3F}, {0.0F, 1.1F}}};
  for (AxisProfile& axis : m.axes) {
    axis.modes[0] = kMode;
    axis.mount_gain = 1.0F;
    axis.noise_g = 0.01F;  // an ADXL345-class MEMS at 3200 Hz
  }
  return m;
}

MachineProfile draw_machine(std::uint64_t machine) {
  if (machine == 0) return reference_machine();
  Draw draw(machine);
  MachineProfile m;

  const MotorKind motor = kMotors[draw.pick(kMotors.size())];
  const float slip = draw.uniform(kSlipMin, kSlipMax);
  m.shaft_hz = 2.0F * motor.mains_hz / motor.poles * (1.0F - slip);
  m.speed_wander = draw.uniform(0.002F, 0.01F);
  m.speed_wander_seconds = draw.log_uniform(2.0F, 10.0F);
  m.bearing = kBearings[draw.pick(kBearings.size())].geometry;

  // Residual 1x from a velocity on the ISO 20816-3 scale: v_rms = a_peak / (sqrt(2) * 2 pi f).
  const float velocity_m_s = 1e-3F * draw.log_uniform(kVelocity1xMinMmS, kVelocity1xMaxMmS);
  const float a1x = std::sqrt(2.0F) * velocity_m_s * kTwoPi * m.shaft_hz / kStandardGravity;
  AxisProfile& x = m.axes[0];
  AxisProfile& y = m.axes[1];
  AxisProfile& z = m.axes[2];
  x.orders[0] = {a1x, draw.phase()};
  // The vertical support is stiffer; the orbit is an ellipse, its axes not quite 90 deg apart.
  y.orders[0] = {a1x * draw.uniform(0.7F, 1.1F),
                 x.orders[0].phase - kHalfPi + draw.uniform(-0.35F, 0.35F)};
  z.orders[0] = {a1x * draw.uniform(0.1F, 0.5F), draw.phase()};
  for (AxisProfile* radial : {&x, &y}) {
    radial->orders[1] = {a1x * draw.uniform(0.2F, 0.6F), draw.phase()};
    radial->orders[2] = {a1x * draw.uniform(0.1F, 0.3F), draw.phase()};
  }
  z.orders[1] = {a1x * draw.uniform(0.1F, 0.4F), draw.phase()};
  z.orders[2] = {a1x * draw.uniform(0.0F, 0.1F), draw.phase()};

  for (AxisProfile& axis : m.axes) {
    StructuralMode& first = axis.modes[0];
    first.hz = draw.uniform(kModeMinHz, kModeMaxHz);
    first.damping = draw.log_uniform(kDampingMin, kDampingMax);
    first.g = draw.log_uniform(0.005F, 0.02F);
    first.impact_share = 1.0F;
    if (draw.chance(0.5F)) {
      StructuralMode& second = axis.modes[1];
      second.hz = draw.uniform(kSecondModeMinHz, kModeMaxHz);
      second.damping = draw.log_uniform(kDampingMin, kDampingMax);
      second.g = first.g * draw.uniform(0.3F, 0.8F);
      second.impact_share = draw.uniform(0.3F, 0.8F);
    }
    axis.mount_gain = draw.uniform(0.7F, 1.3F);
    axis.noise_g = draw.uniform(0.006F, 0.015F);
  }

  if (draw.chance(0.3F)) {
    const float top_order = kGearMeshTopHz / (m.shaft_hz * (1.0F + m.speed_wander));
    const auto highest = std::min(kGearTeethMax, static_cast<std::uint32_t>(top_order) - 2U);
    m.gear.teeth = draw.integer(kGearTeethMin, highest);
    m.gear.sidebands = {draw.uniform(0.1F, 0.4F), draw.uniform(0.05F, 0.2F)};
    m.gear.phase = draw.phase();
    x.gear_mesh_g = draw.log_uniform(0.005F, 0.03F);
    y.gear_mesh_g = x.gear_mesh_g * draw.uniform(0.5F, 1.0F);
    z.gear_mesh_g = x.gear_mesh_g * draw.uniform(0.2F, 0.6F);  // helical gears thrust axially
  }

  if (draw.chance(0.5F)) {
    m.line.mains_hz = motor.mains_hz;
    m.line.phase = draw.phase();
    x.line_g = draw.uniform(0.002F, 0.012F);
    y.line_g = draw.uniform(0.002F, 0.012F);
    z.line_g = x.line_g * draw.uniform(0.2F, 0.5F);
  }
  return m;
}

}  // namespace spindle::sensor
