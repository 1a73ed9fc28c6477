// sensor/machine: a fleet of machines drawn from their numbers. Each is deterministic, healthy
// on the ISO 20816-3 scale (zones A/B), accepted by the simulator, and measurably different
// from the others; machine 0 is the reference machine the simulator has always played.
// Measured with an independent FFT (KISS FFT's C++ template, in double).
#include "spindle/sensor/machine.hpp"

#include <gtest/gtest.h>

#include <kissfft/kissfft.hh>
#include <string>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <set>
#include <vector>

#include "spindle/sensor/vibration_simulator.hpp"

namespace spindle::sensor {
namespace {

constexpr std::uint64_t kFleet = 200;
constexpr double kFs = 3200.0;
constexpr double kStandardGravity = 9.80665;

struct Recording {
  std::vector<float> x, y, z;
  const std::vector<float>& axis(std::size_t i) const { return i == 0 ? x : i == 1 ? y : z; }
};

// A healthy run of the machine at its own speed.
SimulatorConfig at_own_speed(const MachineProfile& machine, std::uint64_t seed = 1) {
  SimulatorConfig config;
  config.seed = seed;
  config.machine = machine;
  config.shaft_hz = machine.shaft_hz;
  return config;
}

Recording record(const SimulatorConfig& config, std::size_t samples = 16384) {
  auto sim = VibrationSimulator::create(config);
  EXPECT_TRUE(sim.ok());
  Recording r;
  r.x.resize(samples);
  r.y.resize(samples);
  r.z.resize(samples);
  if (sim.ok()) {
    EXPECT_TRUE(sim.value().read(r.x, r.y, r.z).ok());
  }
  return r;
}

// One-sided power per bin of the Hann-windowed record, g^2 (sums to the mean square).
std::vector<double> power_spectrum(const std::vector<float>& s) {
  const std::size_t n = s.size();
  std::vector<std::complex<double>> in(n), out(n);
  double window_energy = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double w = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) /
                                          static_cast<double>(n));
    in[i] = w * static_cast<double>(s[i]);
    window_energy += w * w;
  }
  kissfft<double>(n, false).transform(in.data(), out.data());
  std::vector<double> power(n / 2 + 1);
  for (std::size_t k = 1; k <= n / 2; ++k) {
    power[k] =
        (k < n / 2 ? 2.0 : 1.0) * std::norm(out[k]) / (static_cast<double>(n) * window_energy);
  }
  return power;
}

double bin_hz(const std::vector<double>& power) {
  return kFs / static_cast<double>(2 * (power.size() - 1));
}

// RMS velocity in mm/s over 10..1000 Hz, the ISO 20816-3 measurement band: each bin's
// acceleration divided by 2 pi f.
double velocity_rms_mm_s(const std::vector<float>& acceleration_g) {
  const std::vector<double> power = power_spectrum(acceleration_g);
  double v2 = 0.0;
  for (std::size_t k = 1; k < power.size(); ++k) {
    const double f = static_cast<double>(k) * bin_hz(power);
    if (f < 10.0 || f > 1000.0) continue;
    const double a = kStandardGravity * 1000.0;  // mm/s^2 per g
    v2 += power[k] * a * a / std::pow(2.0 * std::numbers::pi * f, 2.0);
  }
  return std::sqrt(v2);
}

// Power within +-1.5 % (at least +-3 bins) of `hz`: a shaft order smeared by speed wander.
double line_power(const std::vector<double>& power, double hz) {
  const double half_width = std::max(3.0 * bin_hz(power), 0.015 * hz);
  double sum = 0.0;
  for (std::size_t k = 1; k < power.size(); ++k) {
    if (std::fabs(static_cast<double>(k) * bin_hz(power) - hz) <= half_width) sum += power[k];
  }
  return sum;
}

// The frequency where the spectrum, smoothed over +-25 Hz, peaks between lo and hi: the
// centre of the mount's resonance band.
double resonance_peak_hz(const std::vector<float>& s, double lo, double hi) {
  const std::vector<double> power = power_spectrum(s);
  const double df = bin_hz(power);
  const auto half = static_cast<std::ptrdiff_t>(25.0 / df);
  double best = 0.0;
  double best_hz = 0.0;
  for (std::size_t k = 1; k < power.size(); ++k) {
    const double f = static_cast<double>(k) * df;
    if (f < lo || f > hi) continue;
    double sum = 0.0;
    for (std::ptrdiff_t j = -half; j <= half; ++j) {
      const auto i = static_cast<std::ptrdiff_t>(k) + j;
      if (i > 0 && i < static_cast<std::ptrdiff_t>(power.size())) {
        sum += power[static_cast<std::size_t>(i)];
      }
    }
    if (sum > best) {
      best = sum;
      best_hz = f;
    }
  }
  return best_hz;
}

double rms(const std::vector<float>& s) {
  double sum = 0.0;
  for (const float v : s)
    sum += static_cast<double>(v) * static_cast<double>(v);
  return std::sqrt(sum / static_cast<double>(s.size()));
}

// The machine without its gearbox and line component: only the mount's modes are left
// above the shaft orders.
MachineProfile without_tones(MachineProfile m) {
  m.gear.teeth = 0;
  m.line.mains_hz = 0.0F;
  return m;
}

TEST(Machine, DrawingAMachineIsADeterministicFunctionOfItsNumber) {
  for (std::uint64_t n = 0; n < 20; ++n) {
    EXPECT_EQ(draw_machine(n), draw_machine(n)) << "machine " << n;
  }
  const Recording a = record(at_own_speed(draw_machine(17)), 4096);
  const Recording b = record(at_own_speed(draw_machine(17)), 4096);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.z, b.z);
}

TEST(Machine, MachineZeroIsTheReferenceMachineTheSimulatorPlaysByDefault) {
  EXPECT_EQ(draw_machine(0), reference_machine());
  const SimulatorConfig defaults;
  EXPECT_EQ(defaults.machine, reference_machine());
  const MachineProfile reference = reference_machine();
  EXPECT_FLOAT_EQ(reference.shaft_hz, 1480.0F / 60.0F);
  EXPECT_EQ(reference.bearing, BearingGeometry{});  // the 6205 of the CWRU data set
  EXPECT_EQ(reference.gear.teeth, 0U);
  EXPECT_EQ(reference.line.mains_hz, 0.0F);
  SimulatorConfig zero;
  zero.machine = draw_machine(0);
  const Recording a = record(defaults, 4096);
  const Recording b = record(zero, 4096);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.z, b.z);
  // Its residual 1x, 0.02 g at 24.67 Hz, is 0.89 mm/s RMS: zone A of ISO 20816-3.
  const double v = velocity_rms_mm_s(record(defaults).x);
  EXPECT_GT(v, 0.85);
  EXPECT_LT(v, 1.4);
}

TEST(Machine, DifferentMachinesDifferInResonanceOneTimesLevelAndRms) {
  std::vector<double> peaks, one_x, levels;
  for (std::uint64_t n = 1; n <= 8; ++n) {
    const MachineProfile m = without_tones(draw_machine(n));
    const Recording r = record(at_own_speed(m));
    peaks.push_back(resonance_peak_hz(r.x, 300.0, 1500.0));
    one_x.push_back(std::sqrt(line_power(power_spectrum(r.x), m.shaft_hz)));
    levels.push_back(rms(r.x));
  }
  const auto spread = [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
  };
  const auto ratio = [](const std::vector<double>& v) {
    return *std::max_element(v.begin(), v.end()) / *std::min_element(v.begin(), v.end());
  };
  EXPECT_GT(spread(peaks), 200.0);  // Hz
  EXPECT_GT(ratio(one_x), 2.0);
  EXPECT_GT(ratio(levels), 1.3);
  // A drawn machine is not the reference machine in disguise.
  const double reference_peak = resonance_peak_hz(record(SimulatorConfig{}).x, 300.0, 1500.0);
  EXPECT_NEAR(reference_peak, 1150.0, 60.0);
  EXPECT_GT(std::count_if(peaks.begin(), peaks.end(),
                          [&](double p) { return std::fabs(p - reference_peak) > 50.0; }),
            5);
}

TEST(Machine, EachAxisHasItsOwnModes) {
  for (std::uint64_t n = 1; n <= kFleet; ++n) {
    const MachineProfile m = draw_machine(n);
    EXPECT_NE(m.axes[0].modes[0].hz, m.axes[1].modes[0].hz) << "machine " << n;
    EXPECT_NE(m.axes[1].modes[0].hz, m.axes[2].modes[0].hz) << "machine " << n;
    EXPECT_NE(m.axes[0].modes[0].hz, m.axes[2].modes[0].hz) << "machine " << n;
  }
  // And the measured resonance follows: x and y of one machine ring at different places.
  std::size_t apart = 0;
  for (std::uint64_t n = 1; n <= 8; ++n) {
    const MachineProfile m = without_tones(draw_machine(n));
    const Recording r = record(at_own_speed(m));
    if (std::fabs(resonance_peak_hz(r.x, 300.0, 1500.0) - resonance_peak_hz(r.y, 300.0, 1500.0)) >
        50.0) {
      ++apart;
    }
  }
  EXPECT_GE(apart, 5U);
}

TEST(Machine, EveryDrawnMachineIsAcceptedAndHealthyInIsoZoneAOrB) {
  double highest = 0.0;
  double lowest_radial = 1e9;
  for (std::uint64_t n = 1; n <= kFleet; ++n) {
    const SimulatorConfig config = at_own_speed(draw_machine(n), n);
    ASSERT_TRUE(VibrationSimulator::create(config).ok()) << "machine " << n;
    const Recording r = record(config, 8192);
    for (std::size_t axis = 0; axis < 3; ++axis) {
      const double v = velocity_rms_mm_s(r.axis(axis));
      // Below the zone B/C boundary of ISO 20816-3 (4.5 mm/s, group 2, flexible support),
      // and not a machine standing still (the axial direction carries least).
      EXPECT_LT(v, 4.5) << "machine " << n << " axis " << axis;
      EXPECT_GT(v, axis == 2 ? 0.05 : 0.2) << "machine " << n << " axis " << axis;
      highest = std::max(highest, v);
      lowest_radial = axis == 2 ? lowest_radial : std::min(lowest_radial, v);
    }
  }
  // The fleet spans the zones: some machines in zone A (below 2.3 mm/s), some in B.
  EXPECT_GT(highest, 2.3);
  EXPECT_LT(lowest_radial, 1.0);
}

TEST(Machine, DrawnMachinesRunAtCatalogueInductionMotorSpeeds) {
  std::set<int> synchronous_seen;
  for (std::uint64_t n = 1; n <= kFleet; ++n) {
    const MachineProfile m = draw_machine(n);
    const double rpm = 60.0 * static_cast<double>(m.shaft_hz);
    bool matched = false;
    for (const int synchronous : {1000, 1200, 1500, 1800, 3000, 3600}) {
      const double slip = 1.0 - rpm / synchronous;
      if (slip >= 0.0099 && slip <= 0.0251) {
        matched = true;
        synchronous_seen.insert(synchronous);
      }
    }
    EXPECT_TRUE(matched) << "machine " << n << ": " << rpm << " rpm";
    EXPECT_LT(10.0F * m.shaft_hz * (1.0F + m.speed_wander), 1600.0F) << "machine " << n;
  }
  EXPECT_EQ(synchronous_seen.size(), 6U);
}

TEST(Machine, BearingDefectOrdersComeFromTheCatalogueGeometry) {
  // The two bearings of the CWRU data set, with the defect orders it documents.
  const auto& catalogue = catalogue_bearings();
  const auto find = [&](std::string_view designation) {
    return std::find_if(catalogue.begin(), catalogue.end(),
                        [&](const CatalogueBearing& b) { return designation == b.designation; })
        ->geometry;
  };
  const DefectOrders b6205 = defect_orders(find("6205")).value();
  EXPECT_NEAR(b6205.bpfo, 3.5848F, 0.002F);
  EXPECT_NEAR(b6205.bpfi, 5.4152F, 0.002F);
  const DefectOrders b6203 = defect_orders(find("6203")).value();
  EXPECT_NEAR(b6203.bpfo, 3.0530F, 0.002F);
  EXPECT_NEAR(b6203.bpfi, 4.9469F, 0.002F);
  EXPECT_NEAR(b6203.ftf, 0.3817F, 0.002F);

  std::set<std::string_view> seen;
  for (std::uint64_t n = 1; n <= kFleet; ++n) {
    const MachineProfile m = draw_machine(n);
    const auto entry =
        std::find_if(catalogue.begin(), catalogue.end(),
                     [&](const CatalogueBearing& b) { return b.geometry == m.bearing; });
    ASSERT_NE(entry, catalogue.end()) << "machine " << n;
    seen.insert(entry->designation);
    const auto sim = VibrationSimulator::create(at_own_speed(m));
    ASSERT_TRUE(sim.ok());
    const DefectOrders expected = defect_orders(entry->geometry).value();
    EXPECT_EQ(sim->defect_orders().bpfo, expected.bpfo);
    EXPECT_EQ(sim->defect_orders().bpfi, expected.bpfi);
  }
  EXPECT_EQ(seen.size(), catalogue.size());
}

TEST(Machine, SomeMachinesHaveAGearMeshOrALineComponentAndTheyShowInTheSpectrum) {
  std::uint64_t geared = 0;
  std::uint64_t electrical = 0;
  for (std::uint64_t n = 1; n <= kFleet; ++n) {
    const MachineProfile m = draw_machine(n);
    if (m.gear.teeth != 0) {
      if (geared++ == 0) {
        const double mesh_hz = m.gear.teeth * static_cast<double>(m.shaft_hz);
        const auto with = power_spectrum(record(at_own_speed(m)).x);
        const auto without = power_spectrum(record(at_own_speed(without_tones(m))).x);
        EXPECT_GT(line_power(with, mesh_hz), 10.0 * line_power(without, mesh_hz)) << n;
        const double sideband_hz = mesh_hz + static_cast<double>(m.shaft_hz);
        EXPECT_GT(line_power(with, sideband_hz), 2.0 * line_power(without, sideband_hz)) << n;
      }
    }
    if (m.line.mains_hz != 0.0F) {
      EXPECT_TRUE(m.line.mains_hz == 50.0F || m.line.mains_hz == 60.0F);
      if (electrical++ == 0) {
        const double line_hz = 2.0 * static_cast<double>(m.line.mains_hz);
        MachineProfile no_gear = m;
        no_gear.gear.teeth = 0;
        const auto with = power_spectrum(record(at_own_speed(no_gear)).y);
        const auto without = power_spectrum(record(at_own_speed(without_tones(m))).y);
        // Exactly at 2x line, not at the (nearby) 2x shaft: the bin of the line itself.
        const auto k = static_cast<std::size_t>(std::lround(line_hz / bin_hz(with)));
        EXPECT_GT(with[k], 10.0 * without[k]) << n;
      }
    }
  }
  EXPECT_GT(geared, kFleet / 10);
  EXPECT_LT(geared, kFleet / 2);
  EXPECT_GT(electrical, kFleet / 4);
  EXPECT_LT(electrical, 3 * kFleet / 4);
}

TEST(Machine, TheNoiseSeedChangesTheNoiseButNotTheMachine) {
  const MachineProfile m = draw_machine(5);
  const Recording a = record(at_own_speed(m, 1));
  const Recording b = record(at_own_speed(m, 2));
  EXPECT_NE(a.x, b.x);
  const double a1x = line_power(power_spectrum(a.x), m.shaft_hz);
  const double b1x = line_power(power_spectrum(b.x), m.shaft_hz);
  EXPECT_NEAR(b1x / a1x, 1.0, 0.1);
  EXPECT_NEAR(rms(b.x) / rms(a.x), 1.0, 0.05);
  EXPECT_NEAR(resonance_peak_hz(b.x, 300.0, 1500.0), resonance_peak_hz(a.x, 300.0, 1500.0), 60.0);
  // Another machine with the same noise seed is another machine.
  EXPECT_NE(draw_machine(6), m);
  const Recording other = record(at_own_speed(draw_machine(6), 1));
  EXPECT_NE(other.x, a.x);
}

TEST(Machine, ARefusedMachineSaysWhichRuleItBreaks) {
  SimulatorConfig ok = at_own_speed(draw_machine(3));
  EXPECT_EQ(VibrationSimulator::problem(ok), nullptr);
  SimulatorConfig gain = ok;
  gain.machine.axes[1].mount_gain = 0.0F;
  ASSERT_NE(VibrationSimulator::problem(gain), nullptr);
  EXPECT_NE(std::string(VibrationSimulator::problem(gain)).find("mounting gain"),
            std::string::npos);
  // A gear mesh at a speed that puts it past 0.9 x Nyquist names the gear mesh.
  SimulatorConfig geared = ok;
  geared.machine.gear = {.teeth = 45, .sidebands = {0.1F, 0.05F}, .phase = 0.0F};
  geared.shaft_hz = 40.0F;
  ASSERT_NE(VibrationSimulator::problem(geared), nullptr);
  EXPECT_NE(std::string(VibrationSimulator::problem(geared)).find("gear mesh"), std::string::npos);
  EXPECT_EQ(VibrationSimulator::create(geared).status(), Error::kInvalidValue);
}

TEST(Machine, OutOfRangeProfileValueIsInvalidValue) {
  const auto refused = [](auto edit) {
    SimulatorConfig config = at_own_speed(draw_machine(3));
    edit(config.machine);
    return VibrationSimulator::create(config).status() == Error::kInvalidValue;
  };
  EXPECT_FALSE(refused([](MachineProfile&) {}));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.shaft_hz = 0.0F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.speed_wander_seconds = 0.0F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[1].mount_gain = 0.0F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[2].noise_g = -0.01F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[0].orders[1].g = std::nanf(""); }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[0].orders[2].phase = INFINITY; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[1].modes[0].hz = 0.0F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[1].modes[0].damping = 0.6F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) {
    m.axes[2].modes[1] = {1500.0F, 0.05F, 0.01F, 0.5F};
  }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.axes[0].modes[0].impact_share = -1.0F; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.gear = {60, {0.2F, 0.1F}, 0.0F}; }));  // > Nyquist
  EXPECT_TRUE(refused([](MachineProfile& m) { m.gear = {20, {1.5F, 0.1F}, 0.0F}; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.line = {30.0F, 0.0F}; }));
  EXPECT_TRUE(refused([](MachineProfile& m) { m.bearing.balls = 2; }));
  // Within range, they are accepted.
  EXPECT_FALSE(refused([](MachineProfile& m) {
    m.axes[2].modes[1] = {900.0F, 0.05F, 0.01F, 0.5F};
  }));
  EXPECT_FALSE(refused([](MachineProfile& m) { m.gear = {13, {0.2F, 0.1F}, 0.0F}; }));
  EXPECT_FALSE(refused([](MachineProfile& m) { m.line = {60.0F, 1.0F}; }));
}

}  // namespace
}  // namespace spindle::sensor
