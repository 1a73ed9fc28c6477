// A 3-axis accelerometer on a rotary machine (motor, coupling, rolling-element bearings),
// for the native_sim node and for tests. The model and its constants are written down in
// docs/firmware/vibration-model.md. Axes: x and y radial (horizontal, vertical), z axial.
//
// Seeded and reproducible: the signal depends only on the config and on how many samples
// have been read, never on how reads are split, so N windows from a seed are always the
// same N windows.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "spindle/sensor/bearing.hpp"
#include "spindle/sensor/fault.hpp"
#include "spindle/sensor/random.hpp"
#include "spindle/sensor/sample_source.hpp"
#include "spindle/status.hpp"

namespace spindle::sensor {

// A fault whose severity (0 = absent, 1 = ISO 10816 zone D, "damage occurs") ramps
// linearly from start_severity to end_severity over the first ramp_seconds of simulated
// time and then stays. ramp_seconds == 0: end_severity from the first sample.
struct FaultProfile {
  Fault fault = Fault::kNone;
  float start_severity = 0.0F;
  float end_severity = 0.0F;
  float ramp_seconds = 0.0F;
};

struct SimulatorConfig {
  std::uint64_t seed = 1;
  std::uint32_t sample_rate_hz = 3200;
  float shaft_hz = 1480.0F / 60.0F;   // nominal running speed (a 4-pole 50 Hz motor)
  float speed_wander = 0.005F;        // speed stays within shaft_hz * (1 +- speed_wander)
  float speed_wander_seconds = 5.0F;  // correlation time of the wander
  float noise_g = 0.01F;              // sensor noise, RMS per axis
  float resonance_hz = 1150.0F;       // structural resonance of the mount
  float resonance_damping = 0.08F;    // its damping ratio zeta
  float resonance_g = 0.01F;          // RMS of the resonance as excited by the running machine
  BearingGeometry bearing;            // the bearing next to the sensor
  FaultProfile fault;
};

class VibrationSimulator final : public SampleSource {
 public:
  // The default configuration: a healthy machine, seed 1.
  VibrationSimulator();

  // Errors: kInvalidValue when a value is out of range: sample rate 100..100000 Hz;
  // shaft_hz > 0 with its 10th harmonic (the highest the model draws) below Nyquist;
  // speed_wander 0..0.2; speed_wander_seconds > 0; noise_g, resonance_g >= 0;
  // resonance_hz 0 < f < 0.45 * sample rate; resonance_damping 0.001..0.5; severities
  // 0..1; ramp_seconds >= 0; bearing geometry as defect_orders() requires.
  static Result<VibrationSimulator> create(const SimulatorConfig& config);

  // Never runs out. Errors: kSizeMismatch when the spans differ in length.
  Status read(std::span<float> x, std::span<float> y, std::span<float> z) override;
  std::uint32_t sample_rate_hz() const override { return config_.sample_rate_hz; }

  // Ground truth at the next sample, for labels in logs and for tests.
  float shaft_hz() const { return shaft_hz_; }
  float severity() const;
  double seconds() const;
  std::uint64_t samples_read() const { return samples_; }
  const DefectOrders& defect_orders() const { return orders_; }
  const SimulatorConfig& config() const { return config_; }

 private:
  explicit VibrationSimulator(const SimulatorConfig& config, const DefectOrders& orders);

  // A lightly damped second-order resonator, one per axis: y[n] = b u[n] + a1 y[n-1] - a2 y[n-2].
  struct Resonator {
    float y1 = 0.0F;
    float y2 = 0.0F;
  };

  void step(float& x, float& y, float& z);
  float bearing_impact(float theta);

  SimulatorConfig config_;
  DefectOrders orders_;
  Random random_;
  float dt_ = 0.0F;
  float wander_keep_ = 0.0F;   // OU decay per sample, exp(-dt / tau)
  float wander_drive_ = 0.0F;  // sqrt(1 - keep^2): stationary variance 1
  float wander_state_ = 0.0F;
  float shaft_hz_ = 0.0F;
  float shaft_revs_ = 0.0F;     // shaft angle in revolutions, modulo 2 (so 0.5x is continuous)
  float defect_cycles_ = 0.0F;  // impacts are due when this reaches next_impact_
  float next_impact_ = 1.0F;
  float resonator_a1_ = 0.0F;
  float resonator_a2_ = 0.0F;
  float resonator_b_ = 0.0F;
  float resonator_noise_ = 0.0F;  // drive RMS that gives config.resonance_g at the output
  std::array<Resonator, 3> resonators_{};
  std::uint64_t samples_ = 0;
};

}  // namespace spindle::sensor
