#include "spindle/sensor/vibration_simulator.hpp"

#include <algorithm>
#include <cmath>

namespace spindle::sensor {
namespace {

constexpr float kTwoPi = 6.28318530718F;

// The constants below are the faults of docs/firmware/vibration-model.md (amplitudes in g at
// severity 1); the healthy machine is a MachineProfile (machine.hpp). A fault adds to the
// machine's component of the same order in phase, so its energy grows monotonically with
// severity, and passes through the same mount and modes.

// Imbalance: a rotating force at 1x, seen radially; the axial sensor sees only cross-talk.
constexpr float kImbalance1x = 0.5F;
constexpr float kImbalanceAxialCoupling = 0.02F;

// Misalignment: the coupling bends the shaft line, so the axial direction carries strong 2x
// and 1x, the radial directions less.
constexpr float kMisalignAxial1x = 0.25F;
constexpr float kMisalignAxial2x = 0.40F;
constexpr float kMisalignAxial3x = 0.08F;
constexpr float kMisalignRadial1x = 0.08F;
constexpr float kMisalignRadial2x = 0.15F;

// Mechanical looseness: a waveform rich in 1x harmonics (amplitude k^-1/2) and half-order
// sub-harmonics, truncated on one side where the loose part hits its stop.
constexpr int kLoosenessOrders = 10;
constexpr float kLooseness = 0.25F;
constexpr float kLoosenessStop = 1.0F;
constexpr std::array<float, 4> kSubharmonicAmplitude = {0.6F, 0.4F, 0.3F, 0.2F};  // 0.5x .. 3.5x
constexpr std::array<float, 3> kLoosenessAxisGain = {0.6F, 1.0F, 0.25F};  // vertical (y) most

// Bearing defects: each rolling element passing the defect strikes it; the impacts ring the
// structural resonance. Slip makes the interval between impacts vary by about 1 %.
constexpr float kImpactG = 1.5F;
constexpr float kImpactAmplitudeJitter = 0.1F;
constexpr float kSlipJitter = 0.01F;
constexpr float kInnerLoadModulation = 0.5F;  // depth of the 1x load-zone modulation
constexpr float kInnerLoadPhase = 0.6F;
constexpr std::array<float, 3> kImpactAxisGain = {1.0F, 0.6F, 0.3F};

float harmonic(float amplitude, float order, float theta, float phase) {
  return amplitude * std::cos(order * theta + phase);
}

float looseness_waveform(float theta) {
  float w = 0.0F;
  for (int k = 1; k <= kLoosenessOrders; ++k) {
    const auto order = static_cast<float>(k);
    w += harmonic(1.0F / std::sqrt(order), order, theta, 0.7F * order);
  }
  for (std::size_t j = 0; j < kSubharmonicAmplitude.size(); ++j) {
    const float order = 0.5F + static_cast<float>(j);
    w += harmonic(kSubharmonicAmplitude[j], order, theta, 2.6F * order);
  }
  return std::min(w, kLoosenessStop);
}

bool in_range(float value, float low, float high) {
  return value >= low && value <= high;  // false for NaN
}

bool finite(float value) {
  return std::isfinite(value);
}

// Each check returns what it refuses, as text an operator can act on; nullptr: valid.
using Problem = const char*;

Problem check(const StructuralMode& mode, float nyquist) {
  if (!(mode.hz > 0.0F) || !(mode.hz < 0.9F * nyquist)) {
    return "a structural mode outside 0 < f < 0.9 x Nyquist";
  }
  if (!in_range(mode.damping, 0.001F, 0.5F)) return "a mode's damping outside 0.001..0.5";
  if (!in_range(mode.g, 0.0F, 100.0F) || !in_range(mode.impact_share, 0.0F, 10.0F)) {
    return "a mode's level outside 0..100 g or its impact share outside 0..10";
  }
  return nullptr;
}

Problem check(const AxisProfile& axis, float nyquist) {
  for (const OrderLine& line : axis.orders) {
    if (!in_range(line.g, 0.0F, 100.0F) || !finite(line.phase)) {
      return "a shaft-order amplitude outside 0..100 g or a phase that is not finite";
    }
  }
  if (const Problem p = check(axis.modes[0], nyquist)) return p;
  if (axis.modes[1].hz != 0.0F) {
    if (const Problem p = check(axis.modes[1], nyquist)) return p;
  }
  if (!(axis.mount_gain > 0.0F) || !(axis.mount_gain <= 10.0F)) {
    return "a mounting gain outside 0 < g <= 10";
  }
  if (!in_range(axis.noise_g, 0.0F, 100.0F) || !in_range(axis.gear_mesh_g, 0.0F, 100.0F) ||
      !in_range(axis.line_g, 0.0F, 100.0F)) {
    return "a noise, gear-mesh or line level outside 0..100 g";
  }
  return nullptr;
}

// The machine at the run's speed `shaft_hz` (already checked > 0 and finite).
Problem check(const MachineProfile& m, float shaft_hz, float nyquist) {
  if (!(m.shaft_hz > 0.0F) || !(m.shaft_hz <= 1000.0F)) {
    return "the machine's own speed outside 0 < f <= 1000 Hz";
  }
  if (!in_range(m.speed_wander, 0.0F, 0.2F)) return "a speed wander outside 0..0.2";
  if (!(m.speed_wander_seconds > 0.0F) || !finite(m.speed_wander_seconds)) {
    return "a speed wander time that is not positive";
  }
  const float fastest = shaft_hz * (1.0F + m.speed_wander);
  if (!(static_cast<float>(kLoosenessOrders) * fastest < nyquist)) {
    return "a shaft speed whose 10th harmonic (what looseness draws) reaches Nyquist";
  }
  for (const AxisProfile& axis : m.axes) {
    if (const Problem p = check(axis, nyquist)) return p;
  }
  const GearMesh& gear = m.gear;
  if (gear.teeth > 200 || !finite(gear.phase)) return "a gear mesh of more than 200 teeth";
  for (const float sideband : gear.sidebands) {
    if (!in_range(sideband, 0.0F, 1.0F)) return "a gear-mesh sideband outside 0..1";
  }
  const auto top_order = static_cast<float>(gear.teeth + gear.sidebands.size());
  if (gear.teeth != 0 && !(top_order * fastest < 0.9F * nyquist)) {
    return "a shaft speed at which this machine's gear mesh (teeth x speed, with its "
           "sidebands) passes 0.9 x Nyquist: pick a lower speed or another machine";
  }
  const LineFrequency& line = m.line;
  if (!finite(line.phase)) return "a line-frequency phase that is not finite";
  if (line.mains_hz != 0.0F &&
      (!in_range(line.mains_hz, 40.0F, 70.0F) || !(2.0F * line.mains_hz < 0.9F * nyquist))) {
    return "a mains frequency outside 40..70 Hz or twice it above 0.9 x Nyquist";
  }
  return nullptr;
}

Problem check(const SimulatorConfig& c) {
  if (c.sample_rate_hz < 100 || c.sample_rate_hz > 100000) {
    return "a sample rate outside 100..100000 Hz";
  }
  const float nyquist = 0.5F * static_cast<float>(c.sample_rate_hz);
  if (!(c.shaft_hz > 0.0F) || !finite(c.shaft_hz)) return "a shaft speed that is not positive";
  if (const Problem p = check(c.machine, c.shaft_hz, nyquist)) return p;
  const FaultProfile& f = c.fault;
  if (static_cast<std::size_t>(f.fault) >= kFaultCount) return "an unknown fault";
  if (!in_range(f.start_severity, 0.0F, 1.0F) || !in_range(f.end_severity, 0.0F, 1.0F)) {
    return "a fault severity outside 0..1";
  }
  if (!(f.ramp_seconds >= 0.0F) || !finite(f.ramp_seconds)) return "a negative ramp time";
  const StopProfile& stop = c.stop;
  if (!(stop.from_seconds >= 0.0F) || !finite(stop.from_seconds) || !(stop.until_seconds >= 0.0F) ||
      !finite(stop.until_seconds)) {
    return "a stop time that is negative or not finite";
  }
  return nullptr;
}

Status validate(const SimulatorConfig& c) {
  return check(c) == nullptr ? kOk : Status(Error::kInvalidValue);
}

}  // namespace

VibrationSimulator::VibrationSimulator()
    : VibrationSimulator(SimulatorConfig{},
                         sensor::defect_orders(SimulatorConfig{}.machine.bearing).value()) {}

VibrationSimulator::Resonator VibrationSimulator::make_resonator(const StructuralMode& mode,
                                                                 float dt) {
  const float omega = kTwoPi * mode.hz * dt;
  const float zeta = mode.damping;
  const float r = std::exp(-zeta * omega);
  const float omega_d = omega * std::sqrt(1.0F - zeta * zeta);
  Resonator res;
  res.a1 = 2.0F * r * std::cos(omega_d);
  res.a2 = r * r;
  res.b = std::sin(omega_d);  // impulse response r^n sin((n+1) omega_d): peak ~1

  // Noise gain of the resonator, sum of h[n]^2, to drive it at the mode's output RMS.
  float power_gain = 0.0F;
  float decay = 1.0F;
  for (int n = 0; n < 100000 && decay > 1e-6F; ++n) {
    const float h = decay * std::sin(static_cast<float>(n + 1) * omega_d);
    power_gain += h * h;
    decay *= r;
  }
  res.noise = mode.g / std::sqrt(power_gain);
  return res;
}

float VibrationSimulator::Resonator::ring(float drive) {
  const float out = b * drive + a1 * y1 - a2 * y2;
  y2 = y1;
  y1 = out;
  return out;
}

VibrationSimulator::VibrationSimulator(const SimulatorConfig& config, const DefectOrders& orders)
    : config_(config), orders_(orders), random_(config.seed) {
  const MachineProfile& m = config.machine;
  dt_ = 1.0F / static_cast<float>(config.sample_rate_hz);
  wander_keep_ = std::exp(-dt_ / m.speed_wander_seconds);
  wander_drive_ = std::sqrt(1.0F - wander_keep_ * wander_keep_);
  shaft_hz_ = config.shaft_hz;
  for (std::size_t axis = 0; axis < resonators_.size(); ++axis) {
    for (std::size_t mode = 0; mode < resonators_[axis].size(); ++mode) {
      const StructuralMode& structural = m.axes[axis].modes[mode];
      if (structural.hz > 0.0F) resonators_[axis][mode] = make_resonator(structural, dt_);
    }
  }
}

const char* VibrationSimulator::problem(const SimulatorConfig& config) {
  return check(config);
}

Result<VibrationSimulator> VibrationSimulator::create(const SimulatorConfig& config) {
  SPINDLE_TRY(validate(config));
  SPINDLE_TRY_ASSIGN(const DefectOrders orders, sensor::defect_orders(config.machine.bearing));
  return VibrationSimulator(config, orders);
}

double VibrationSimulator::seconds() const {
  return static_cast<double>(samples_) / static_cast<double>(config_.sample_rate_hz);
}

bool VibrationSimulator::stopped() const {
  const StopProfile& stop = config_.stop;
  const double t = seconds();
  return t >= static_cast<double>(stop.from_seconds) && t < static_cast<double>(stop.until_seconds);
}

float VibrationSimulator::severity() const {
  const FaultProfile& f = config_.fault;
  if (f.fault == Fault::kNone) return 0.0F;
  const auto t = static_cast<float>(seconds());
  if (f.ramp_seconds <= 0.0F || t >= f.ramp_seconds) return f.end_severity;
  return f.start_severity + (f.end_severity - f.start_severity) * (t / f.ramp_seconds);
}

Status VibrationSimulator::read(std::span<float> x, std::span<float> y, std::span<float> z) {
  if (y.size() != x.size() || z.size() != x.size()) return Error::kSizeMismatch;
  for (std::size_t i = 0; i < x.size(); ++i)
    step(x[i], y[i], z[i]);
  return kOk;
}

float VibrationSimulator::bearing_impact(float theta) {
  const Fault fault = config_.fault.fault;
  if (fault != Fault::kBearingOuter && fault != Fault::kBearingInner) return 0.0F;
  const float order = fault == Fault::kBearingOuter ? orders_.bpfo : orders_.bpfi;
  defect_cycles_ += order * shaft_hz_ * dt_;
  if (defect_cycles_ < next_impact_) return 0.0F;
  defect_cycles_ -= next_impact_;
  next_impact_ = std::clamp(1.0F + kSlipJitter * random_.gaussian(), 0.9F, 1.1F);
  float amplitude = severity() * kImpactG * (1.0F + kImpactAmplitudeJitter * random_.gaussian());
  if (fault == Fault::kBearingInner) {
    // The defect turns with the shaft through the load zone once per revolution.
    amplitude *= (1.0F + kInnerLoadModulation * std::cos(theta + kInnerLoadPhase)) /
                 (1.0F + kInnerLoadModulation);
  }
  return amplitude;
}

void VibrationSimulator::step(float& x, float& y, float& z) {
  const MachineProfile& m = config_.machine;
  const std::array<OrderLine, 3>& ox = m.axes[0].orders;
  const std::array<OrderLine, 3>& oy = m.axes[1].orders;
  const std::array<OrderLine, 3>& oz = m.axes[2].orders;
  const float s = severity();
  const float theta = kTwoPi * shaft_revs_;

  // Shaft-synchronous part: the machine's own 1x, 2x, 3x.
  const auto orders = [theta](const std::array<OrderLine, 3>& o) {
    return harmonic(o[0].g, 1.0F, theta, o[0].phase) + harmonic(o[1].g, 2.0F, theta, o[1].phase) +
           harmonic(o[2].g, 3.0F, theta, o[2].phase);
  };
  float px = orders(ox);
  float py = orders(oy);
  float pz = orders(oz);
  switch (config_.fault.fault) {
    case Fault::kImbalance: {
      const float a = s * kImbalance1x;
      px += harmonic(a, 1.0F, theta, ox[0].phase);
      py += harmonic(a, 1.0F, theta, oy[0].phase);
      pz += harmonic(kImbalanceAxialCoupling * a, 1.0F, theta, oz[0].phase);
      break;
    }
    case Fault::kMisalignment:
      pz += harmonic(s * kMisalignAxial1x, 1.0F, theta, oz[0].phase) +
            harmonic(s * kMisalignAxial2x, 2.0F, theta, oz[1].phase) +
            harmonic(s * kMisalignAxial3x, 3.0F, theta, oz[2].phase);
      px += harmonic(s * kMisalignRadial1x, 1.0F, theta, ox[0].phase) +
            harmonic(s * kMisalignRadial2x, 2.0F, theta, ox[1].phase);
      py += harmonic(s * kMisalignRadial1x, 1.0F, theta, oy[0].phase) +
            harmonic(s * kMisalignRadial2x, 2.0F, theta, oy[1].phase);
      break;
    case Fault::kLooseness: {
      const float w = s * kLooseness * looseness_waveform(theta);
      px += kLoosenessAxisGain[0] * w;
      py += kLoosenessAxisGain[1] * w;
      pz += kLoosenessAxisGain[2] * w;
      break;
    }
    case Fault::kNone:
    case Fault::kBearingOuter:
    case Fault::kBearingInner:
      break;
  }

  // Gear mesh (a carrier at teeth x with sidebands at +-1x, +-2x) and the electrical 2x line
  // frequency, when the machine has them.
  if (m.gear.teeth != 0) {
    const auto teeth = static_cast<float>(m.gear.teeth);
    float mesh = harmonic(1.0F, teeth, theta, m.gear.phase);
    for (std::size_t k = 0; k < m.gear.sidebands.size(); ++k) {
      const auto offset = static_cast<float>(k + 1);
      mesh += harmonic(m.gear.sidebands[k], teeth - offset, theta, m.gear.phase) +
              harmonic(m.gear.sidebands[k], teeth + offset, theta, m.gear.phase);
    }
    px += m.axes[0].gear_mesh_g * mesh;
    py += m.axes[1].gear_mesh_g * mesh;
    pz += m.axes[2].gear_mesh_g * mesh;
  }
  if (m.line.mains_hz != 0.0F) {
    const float line = std::cos(kTwoPi * line_cycles_ + m.line.phase);
    px += m.axes[0].line_g * line;
    py += m.axes[1].line_g * line;
    pz += m.axes[2].line_g * line;
    line_cycles_ += 2.0F * m.line.mains_hz * dt_;
    if (line_cycles_ >= 1.0F) line_cycles_ -= 1.0F;
  }

  // The structural modes, rung by the running machine's broadband forces (one force per
  // axis drives every mode of that axis) and by bearing impacts.
  const float impact = bearing_impact(theta);
  std::array<float, 3> ring{};
  for (std::size_t axis = 0; axis < ring.size(); ++axis) {
    std::array<Resonator, 2>& res = resonators_[axis];
    const std::array<StructuralMode, 2>& modes = m.axes[axis].modes;
    const float force = random_.gaussian();
    const float hit = kImpactAxisGain[axis] * impact;
    ring[axis] = res[0].ring(res[0].noise * force + modes[0].impact_share * hit);
    if (modes[1].hz > 0.0F) {
      ring[axis] += res[1].ring(res[1].noise * force + modes[1].impact_share * hit);
    }
  }

  // The sensor sees the mechanical vibration through its mount, then adds its own noise.
  // While the machine is stopped only the noise is left. The model runs on underneath, so
  // that the random stream (and every sample after the stop) does not depend on the stop.
  const float nx = m.axes[0].noise_g * random_.gaussian();
  const float ny = m.axes[1].noise_g * random_.gaussian();
  const float nz = m.axes[2].noise_g * random_.gaussian();
  const float moving = stopped() ? 0.0F : 1.0F;
  x = moving * m.axes[0].mount_gain * (px + ring[0]) + nx;
  y = moving * m.axes[1].mount_gain * (py + ring[1]) + ny;
  z = moving * m.axes[2].mount_gain * (pz + ring[2]) + nz;

  // Advance to the next sample: shaft angle at the current speed, then the speed wanders
  // (an Ornstein-Uhlenbeck process squashed by tanh, so it never leaves its bounds).
  shaft_revs_ += shaft_hz_ * dt_;
  if (shaft_revs_ >= 2.0F) shaft_revs_ -= 2.0F;
  wander_state_ = wander_keep_ * wander_state_ + wander_drive_ * random_.gaussian();
  shaft_hz_ = config_.shaft_hz * (1.0F + m.speed_wander * std::tanh(wander_state_));
  ++samples_;
}

}  // namespace spindle::sensor
