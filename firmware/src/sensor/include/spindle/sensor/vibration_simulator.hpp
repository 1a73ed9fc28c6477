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
#include "spindle/sensor/machine.hpp"
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

// A stop of the machine (a shift break, a batch change): from from_seconds to
// until_seconds of simulated time the rotor stands still and the sensor reads only its own
// noise floor. until_seconds <= from_seconds: the machine never stops.
struct StopProfile {
  float from_seconds = 0.0F;
  float until_seconds = 0.0F;
};

struct SimulatorConfig {
  std::uint64_t seed = 1;  // the noise: same machine, another seed, other noise
  std::uint32_t sample_rate_hz = 3200;
  float shaft_hz = 1480.0F / 60.0F;  // nominal speed of this run (machine.shaft_hz: its own)
  MachineProfile machine = reference_machine();  // the healthy machine (machine.hpp)
  FaultProfile fault;
  StopProfile stop;
};

class VibrationSimulator final : public SampleSource {
 public:
  // The default configuration: a healthy machine, seed 1.
  VibrationSimulator();

  // Errors: kInvalidValue when a value is out of range: sample rate 100..100000 Hz;
  // shaft_hz > 0 with its 10th harmonic (the highest the model draws) below Nyquist, and the
  // gear mesh's upper 2x sideband below 0.9 * Nyquist; severities 0..1; ramp_seconds >= 0;
  // and in the machine: shaft_hz 0..1000, speed_wander 0..0.2, speed_wander_seconds > 0;
  // a stop's times finite and >= 0; every amplitude, level and noise 0..100 g; phases finite; modes
  // (the first always, the second unless its hz is 0) 0 < hz < 0.9 * Nyquist, damping 0.001..0.5,
  // impact_share 0..10; mount_gain 0 < g <= 10; gear teeth 0..200, sidebands 0..1; mains_hz 0 or
  // 40..70 with 2 * mains_hz below 0.9 * Nyquist; bearing geometry as defect_orders()
  // requires.
  static Result<VibrationSimulator> create(const SimulatorConfig& config);
  // What create() refuses in `config`, as text naming the rule ("a shaft speed at which this
  // machine's gear mesh ... passes 0.9 x Nyquist ..."); nullptr when it is accepted. The
  // check is the one create() makes.
  static const char* problem(const SimulatorConfig& config);

  // Never runs out. Errors: kSizeMismatch when the spans differ in length.
  Status read(std::span<float> x, std::span<float> y, std::span<float> z) override;
  std::uint32_t sample_rate_hz() const override { return config_.sample_rate_hz; }

  // Ground truth at the next sample, for labels in logs and for tests.
  float shaft_hz() const { return shaft_hz_; }
  float severity() const;
  double seconds() const;
  bool stopped() const;
  std::uint64_t samples_read() const { return samples_; }
  const DefectOrders& defect_orders() const { return orders_; }
  const SimulatorConfig& config() const { return config_; }

 private:
  explicit VibrationSimulator(const SimulatorConfig& config, const DefectOrders& orders);

  // A lightly damped second-order resonator: y[n] = b u[n] + a1 y[n-1] - a2 y[n-2].
  struct Resonator {
    float a1 = 0.0F;
    float a2 = 0.0F;
    float b = 0.0F;
    float noise = 0.0F;  // drive RMS that gives the mode's g at the output
    float y1 = 0.0F;
    float y2 = 0.0F;
    float ring(float drive);
  };
  static Resonator make_resonator(const StructuralMode& mode, float dt);

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
  float line_cycles_ = 0.0F;  // phase of the 2x line-frequency component, in cycles
  std::array<std::array<Resonator, 2>, 3> resonators_{};  // per axis, per mode
  std::uint64_t samples_ = 0;
};

}  // namespace spindle::sensor
