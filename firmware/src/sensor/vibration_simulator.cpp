#include "spindle/sensor/vibration_simulator.hpp"

#include <algorithm>
#include <cmath>

namespace spindle::sensor {
namespace {

constexpr float kTwoPi = 6.28318530718F;
constexpr float kHalfPi = 1.57079632679F;

// The constants below are the model of docs/firmware/vibration-model.md (amplitudes in g,
// fault amplitudes at severity 1). Phases are arbitrary but fixed; a fault adds to the
// healthy component of the same order in phase, so its energy grows monotonically with
// severity.

// Healthy machine: residual imbalance (1x, rotating: x and y in quadrature) and the 2x, 3x
// every real rotor and coupling shows.
constexpr float kResidual1x = 0.02F;
constexpr float kResidual1xAxial = 0.005F;
constexpr float kResidual2x = 0.008F;
constexpr float kResidual2xAxial = 0.004F;
constexpr float kResidual3x = 0.004F;
constexpr float kPhase1xAxial = 0.4F;
constexpr float kPhase2xX = 0.9F;
constexpr float kPhase2xY = 2.1F;
constexpr float kPhase2xAxial = 0.3F;
constexpr float kPhase3xX = 1.7F;
constexpr float kPhase3xY = 0.2F;

// Imbalance: a rotating force at 1x, seen radially; the axial sensor sees only cross-talk.
constexpr float kImbalance1x = 0.5F;
constexpr float kImbalanceAxialCoupling = 0.02F;

// Misalignment: the coupling bends the shaft line, so the axial direction carries strong 2x
// and 1x, the radial directions less.
constexpr float kMisalignAxial1x = 0.25F;
constexpr float kMisalignAxial2x = 0.40F;
constexpr float kMisalignAxial3x = 0.08F;
constexpr float kPhase3xAxial = 1.1F;
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

Status validate(const SimulatorConfig& c) {
  if (c.sample_rate_hz < 100 || c.sample_rate_hz > 100000) return Error::kInvalidValue;
  const float nyquist = 0.5F * static_cast<float>(c.sample_rate_hz);
  if (!in_range(c.speed_wander, 0.0F, 0.2F)) return Error::kInvalidValue;
  if (!(c.shaft_hz > 0.0F)) return Error::kInvalidValue;
  if (!(static_cast<float>(kLoosenessOrders) * c.shaft_hz * (1.0F + c.speed_wander) < nyquist)) {
    return Error::kInvalidValue;
  }
  if (!(c.speed_wander_seconds > 0.0F) || !std::isfinite(c.speed_wander_seconds)) {
    return Error::kInvalidValue;
  }
  if (!in_range(c.noise_g, 0.0F, 100.0F) || !in_range(c.resonance_g, 0.0F, 100.0F)) {
    return Error::kInvalidValue;
  }
  if (!(c.resonance_hz > 0.0F) || !(c.resonance_hz < 0.9F * nyquist)) return Error::kInvalidValue;
  if (!in_range(c.resonance_damping, 0.001F, 0.5F)) return Error::kInvalidValue;
  const FaultProfile& f = c.fault;
  if (static_cast<std::size_t>(f.fault) >= kFaultCount) return Error::kInvalidValue;
  if (!in_range(f.start_severity, 0.0F, 1.0F) || !in_range(f.end_severity, 0.0F, 1.0F)) {
    return Error::kInvalidValue;
  }
  if (!(f.ramp_seconds >= 0.0F) || !std::isfinite(f.ramp_seconds)) return Error::kInvalidValue;
  return kOk;
}

}  // namespace

VibrationSimulator::VibrationSimulator()
    : VibrationSimulator(SimulatorConfig{}, sensor::defect_orders(BearingGeometry{}).value()) {}

VibrationSimulator::VibrationSimulator(const SimulatorConfig& config, const DefectOrders& orders)
    : config_(config), orders_(orders), random_(config.seed) {
  dt_ = 1.0F / static_cast<float>(config.sample_rate_hz);
  wander_keep_ = std::exp(-dt_ / config.speed_wander_seconds);
  wander_drive_ = std::sqrt(1.0F - wander_keep_ * wander_keep_);
  shaft_hz_ = config.shaft_hz;

  const float omega = kTwoPi * config.resonance_hz * dt_;
  const float zeta = config.resonance_damping;
  const float r = std::exp(-zeta * omega);
  const float omega_d = omega * std::sqrt(1.0F - zeta * zeta);
  resonator_a1_ = 2.0F * r * std::cos(omega_d);
  resonator_a2_ = r * r;
  resonator_b_ = std::sin(omega_d);  // impulse response r^n sin((n+1) omega_d): peak ~1

  // Noise gain of the resonator, sum of h[n]^2, to drive it at the configured output RMS.
  float power_gain = 0.0F;
  float decay = 1.0F;
  for (int n = 0; n < 100000 && decay > 1e-6F; ++n) {
    const float h = decay * std::sin(static_cast<float>(n + 1) * omega_d);
    power_gain += h * h;
    decay *= r;
  }
  resonator_noise_ = config.resonance_g / std::sqrt(power_gain);
}

Result<VibrationSimulator> VibrationSimulator::create(const SimulatorConfig& config) {
  SPINDLE_TRY(validate(config));
  SPINDLE_TRY_ASSIGN(const DefectOrders orders, sensor::defect_orders(config.bearing));
  return VibrationSimulator(config, orders);
}

double VibrationSimulator::seconds() const {
  return static_cast<double>(samples_) / static_cast<double>(config_.sample_rate_hz);
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
  const float s = severity();
  const float theta = kTwoPi * shaft_revs_;

  // Shaft-synchronous part.
  float px = harmonic(kResidual1x, 1.0F, theta, 0.0F) +
             harmonic(kResidual2x, 2.0F, theta, kPhase2xX) +
             harmonic(kResidual3x, 3.0F, theta, kPhase3xX);
  float py = harmonic(kResidual1x, 1.0F, theta, -kHalfPi) +
             harmonic(kResidual2x, 2.0F, theta, kPhase2xY) +
             harmonic(kResidual3x, 3.0F, theta, kPhase3xY);
  float pz = harmonic(kResidual1xAxial, 1.0F, theta, kPhase1xAxial) +
             harmonic(kResidual2xAxial, 2.0F, theta, kPhase2xAxial);
  switch (config_.fault.fault) {
    case Fault::kImbalance: {
      const float a = s * kImbalance1x;
      px += harmonic(a, 1.0F, theta, 0.0F);
      py += harmonic(a, 1.0F, theta, -kHalfPi);
      pz += harmonic(kImbalanceAxialCoupling * a, 1.0F, theta, kPhase1xAxial);
      break;
    }
    case Fault::kMisalignment:
      pz += harmonic(s * kMisalignAxial1x, 1.0F, theta, kPhase1xAxial) +
            harmonic(s * kMisalignAxial2x, 2.0F, theta, kPhase2xAxial) +
            harmonic(s * kMisalignAxial3x, 3.0F, theta, kPhase3xAxial);
      px += harmonic(s * kMisalignRadial1x, 1.0F, theta, 0.0F) +
            harmonic(s * kMisalignRadial2x, 2.0F, theta, kPhase2xX);
      py += harmonic(s * kMisalignRadial1x, 1.0F, theta, -kHalfPi) +
            harmonic(s * kMisalignRadial2x, 2.0F, theta, kPhase2xY);
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

  // The structural resonance, rung by the running machine's broadband forces and by
  // bearing impacts.
  const float impact = bearing_impact(theta);
  std::array<float, 3> ring{};
  for (std::size_t axis = 0; axis < ring.size(); ++axis) {
    Resonator& res = resonators_[axis];
    const float drive = resonator_noise_ * random_.gaussian() + kImpactAxisGain[axis] * impact;
    const float out = resonator_b_ * drive + resonator_a1_ * res.y1 - resonator_a2_ * res.y2;
    res.y2 = res.y1;
    res.y1 = out;
    ring[axis] = out;
  }

  x = px + ring[0] + config_.noise_g * random_.gaussian();
  y = py + ring[1] + config_.noise_g * random_.gaussian();
  z = pz + ring[2] + config_.noise_g * random_.gaussian();

  // Advance to the next sample: shaft angle at the current speed, then the speed wanders
  // (an Ornstein-Uhlenbeck process squashed by tanh, so it never leaves its bounds).
  shaft_revs_ += shaft_hz_ * dt_;
  if (shaft_revs_ >= 2.0F) shaft_revs_ -= 2.0F;
  wander_state_ = wander_keep_ * wander_state_ + wander_drive_ * random_.gaussian();
  shaft_hz_ = config_.shaft_hz * (1.0F + config_.speed_wander * std::tanh(wander_state_));
  ++samples_;
}

}  // namespace spindle::sensor
