// sensor/vibration_simulator: every fault puts its energy where the physics says it goes,
// measured with an independent FFT (KISS FFT's C++ template, in double) on long records:
// shaft orders in the Hann-windowed spectrum, bearing defects in the envelope spectrum of
// the band around the structural resonance (Randall & Antoni 2011, "Rolling element
// bearing diagnostics - A tutorial").
#include "spindle/sensor/vibration_simulator.hpp"

#include <gtest/gtest.h>
#include <kissfft/kissfft.hh>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace spindle::sensor {

// Test names and messages show faults by name (found by argument-dependent lookup).
void PrintTo(Fault fault, std::ostream* out) {
  *out << fault_name(fault);
}

namespace {

using Cpx = std::complex<double>;
constexpr std::size_t kRecord = 16384;  // 5.12 s at 3200 Hz: 0.195 Hz bins

struct Recording {
  std::vector<float> x, y, z;
  double fs = 0.0;
  double shaft_hz = 0.0;
  double bpfo_hz = 0.0;
  double bpfi_hz = 0.0;
};

SimulatorConfig with_fault(Fault fault, float severity, std::uint64_t seed = 1) {
  SimulatorConfig config;
  config.seed = seed;
  config.fault.fault = fault;
  config.fault.start_severity = severity;
  config.fault.end_severity = severity;
  return config;
}

Recording record(const SimulatorConfig& config, std::size_t samples = kRecord) {
  auto sim = VibrationSimulator::create(config);
  EXPECT_TRUE(sim.ok());
  Recording r;
  r.x.resize(samples);
  r.y.resize(samples);
  r.z.resize(samples);
  EXPECT_TRUE(sim.value().read(r.x, r.y, r.z).ok());
  r.fs = config.sample_rate_hz;
  r.shaft_hz = config.shaft_hz;
  r.bpfo_hz = static_cast<double>(sim->defect_orders().bpfo) * r.shaft_hz;
  r.bpfi_hz = static_cast<double>(sim->defect_orders().bpfi) * r.shaft_hz;
  return r;
}

std::vector<Cpx> fft(std::vector<Cpx> in, bool inverse = false) {
  std::vector<Cpx> out(in.size());
  kissfft<double>(in.size(), inverse).transform(in.data(), out.data());
  return out;
}

// Hann-windowed spectrum of a record.
std::vector<Cpx> spectrum(const std::vector<float>& s) {
  std::vector<Cpx> in(s.size());
  const double n = static_cast<double>(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double w = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / n);
    in[i] = w * static_cast<double>(s[i]);
  }
  return fft(in);
}

// Power within +-1.5 % (at least +-2 bins) of `hz`: a shaft order smeared by speed wander.
double line_power(const std::vector<Cpx>& spec, double fs, double hz) {
  const double bin_hz = fs / static_cast<double>(spec.size());
  const double half_width = std::max(2.0 * bin_hz, 0.015 * hz);
  double power = 0.0;
  for (std::size_t k = 1; k < spec.size() / 2; ++k) {
    if (std::fabs(static_cast<double>(k) * bin_hz - hz) <= half_width) power += std::norm(spec[k]);
  }
  return power;
}

// Envelope spectrum: band-pass lo..hi Hz and take the analytic signal in one step (keep the
// band's positive frequencies, doubled), its magnitude is the envelope; then the power
// spectrum of the envelope without its mean.
struct EnvelopeSpectrum {
  std::vector<double> power;
  double bin_hz = 0.0;

  // Strongest line within +-1 % of `hz`.
  double at(double hz) const {
    const double half_width = std::max(2.0 * bin_hz, 0.01 * hz);
    double best = 0.0;
    for (std::size_t k = 1; k < power.size(); ++k) {
      if (std::fabs(static_cast<double>(k) * bin_hz - hz) <= half_width) {
        best = std::max(best, power[k]);
      }
    }
    return best;
  }
  double peak_hz(double lo, double hi) const {
    std::size_t best = 0;
    for (std::size_t k = 1; k < power.size(); ++k) {
      const double f = static_cast<double>(k) * bin_hz;
      if (f >= lo && f <= hi && (best == 0 || power[k] > power[best])) best = k;
    }
    return static_cast<double>(best) * bin_hz;
  }
  double median(double lo, double hi) const {
    std::vector<double> v;
    for (std::size_t k = 1; k < power.size(); ++k) {
      const double f = static_cast<double>(k) * bin_hz;
      if (f >= lo && f <= hi) v.push_back(power[k]);
    }
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  }
};

EnvelopeSpectrum envelope_spectrum(const std::vector<float>& s, double fs, double lo, double hi) {
  const std::size_t n = s.size();
  std::vector<Cpx> in(s.begin(), s.end());
  std::vector<Cpx> spec = fft(in);
  const double bin_hz = fs / static_cast<double>(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double f = static_cast<double>(k) * bin_hz;
    spec[k] = (k < n / 2 && f >= lo && f <= hi) ? 2.0 * spec[k] : Cpx{};
  }
  const std::vector<Cpx> analytic = fft(spec, true);
  std::vector<float> envelope(n);
  double mean = 0.0;
  for (std::size_t i = 0; i < n; ++i)
    mean += std::abs(analytic[i]) / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) {
    envelope[i] = static_cast<float>(std::abs(analytic[i]) / static_cast<double>(n) - mean);
  }
  const std::vector<Cpx> env_spec = spectrum(envelope);
  EnvelopeSpectrum out;
  out.bin_hz = bin_hz;
  for (std::size_t k = 0; k <= n / 2; ++k)
    out.power.push_back(std::norm(env_spec[k]));
  return out;
}

// The resonance band: above every shaft order the model draws, around the 1150 Hz mode.
EnvelopeSpectrum resonance_envelope(const Recording& r) {
  return envelope_spectrum(r.x, r.fs, 600.0, 1550.0);
}

TEST(VibrationSimulator, DefaultsAreAHealthy1480RpmMotorOnThe3200HzBoards) {
  const VibrationSimulator sim;
  EXPECT_EQ(sim.sample_rate_hz(), 3200U);
  EXPECT_NEAR(sim.shaft_hz(), 1480.0F / 60.0F, 1e-4F);
  EXPECT_EQ(sim.severity(), 0.0F);
  EXPECT_NEAR(sim.defect_orders().bpfo, 3.585F, 0.002F);
}

TEST(VibrationSimulator, ImbalanceRaisesOneTimesRadiallyInQuadratureFarMoreThanAxially) {
  const Recording healthy = record(with_fault(Fault::kNone, 0.0F));
  const Recording faulty = record(with_fault(Fault::kImbalance, 0.6F));
  const double f1 = faulty.shaft_hz;
  const auto hx = spectrum(healthy.x);
  const auto fx = spectrum(faulty.x);
  const auto fy = spectrum(faulty.y);
  const auto fz = spectrum(faulty.z);
  EXPECT_GT(line_power(fx, faulty.fs, f1), 100.0 * line_power(hx, healthy.fs, f1));
  EXPECT_GT(line_power(fx, faulty.fs, f1), 100.0 * line_power(fz, faulty.fs, f1));
  EXPECT_GT(line_power(fy, faulty.fs, f1), 100.0 * line_power(fz, faulty.fs, f1));
  const double xy = line_power(fx, faulty.fs, f1) / line_power(fy, faulty.fs, f1);
  EXPECT_GT(xy, 0.5);
  EXPECT_LT(xy, 2.0);
  // A rotating force: y lags x by a quarter turn at 1x.
  std::size_t peak = 1;
  for (std::size_t k = 1; k < fx.size() / 2; ++k) {
    if (std::norm(fx[k]) > std::norm(fx[peak])) peak = k;
  }
  EXPECT_NEAR(static_cast<double>(peak) * faulty.fs / kRecord, f1, 0.02 * f1);
  EXPECT_NEAR(std::arg(fx[peak] * std::conj(fy[peak])), std::numbers::pi / 2.0, 0.2);
  // Not a bearing fault: no defect lines in the envelope.
  const EnvelopeSpectrum env = resonance_envelope(faulty);
  EXPECT_LT(env.at(faulty.bpfo_hz), 20.0 * env.median(5.0, 400.0));
}

TEST(VibrationSimulator, MisalignmentRaisesTwoTimesAxially) {
  const Recording healthy = record(with_fault(Fault::kNone, 0.0F));
  const Recording faulty = record(with_fault(Fault::kMisalignment, 0.6F));
  const double f1 = faulty.shaft_hz;
  const auto hz = spectrum(healthy.z);
  const auto fz = spectrum(faulty.z);
  const auto fx = spectrum(faulty.x);
  const auto fy = spectrum(faulty.y);
  const double axial_2x = line_power(fz, faulty.fs, 2.0 * f1);
  EXPECT_GT(axial_2x, 100.0 * line_power(hz, healthy.fs, 2.0 * f1));
  EXPECT_GT(axial_2x, 2.0 * line_power(fx, faulty.fs, 2.0 * f1));
  EXPECT_GT(axial_2x, 2.0 * line_power(fy, faulty.fs, 2.0 * f1));
  EXPECT_GT(axial_2x, line_power(fz, faulty.fs, f1));  // 2x dominates 1x axially
  EXPECT_GT(line_power(fz, faulty.fs, f1), 100.0 * line_power(hz, healthy.fs, f1));
}

TEST(VibrationSimulator, LoosenessRaisesManyHarmonicsAndHalfOrderSubharmonics) {
  const Recording healthy = record(with_fault(Fault::kNone, 0.0F));
  const Recording faulty = record(with_fault(Fault::kLooseness, 0.6F));
  const double f1 = faulty.shaft_hz;
  const auto hy = spectrum(healthy.y);
  const auto fy = spectrum(faulty.y);
  for (int k = 2; k <= 10; ++k) {  // 1x is imbalance's; looseness shows in what follows
    const double hz = k * f1;
    EXPECT_GT(line_power(fy, faulty.fs, hz), 20.0 * line_power(hy, healthy.fs, hz)) << k << "x";
  }
  for (const double order : {0.5, 1.5, 2.5, 3.5}) {
    EXPECT_GT(line_power(fy, faulty.fs, order * f1), 100.0 * line_power(hy, healthy.fs, order * f1))
        << order << "x";
  }
  // Truncation: one side of the waveform is cut flat, so it is skewed.
  double mean = 0.0;
  for (const float v : faulty.y)
    mean += static_cast<double>(v) / kRecord;
  double m2 = 0.0;
  double m3 = 0.0;
  for (const float v : faulty.y) {
    const double d = static_cast<double>(v) - mean;
    m2 += d * d / kRecord;
    m3 += d * d * d / kRecord;
  }
  EXPECT_LT(m3 / std::pow(m2, 1.5), -0.2);
}

TEST(VibrationSimulator, OuterRaceDefectPutsBpfoInTheEnvelopeWithoutShaftSidebands) {
  const Recording faulty = record(with_fault(Fault::kBearingOuter, 0.5F));
  const double f1 = faulty.shaft_hz;
  const double bpfo = faulty.bpfo_hz;
  const EnvelopeSpectrum env = resonance_envelope(faulty);
  EXPECT_NEAR(env.peak_hz(5.0, 400.0), bpfo, 0.01 * bpfo);
  const double floor = env.median(5.0, 400.0);
  EXPECT_GT(env.at(bpfo), 1000.0 * floor);
  EXPECT_GT(env.at(2.0 * bpfo), 100.0 * floor);  // a periodic impact train has harmonics
  // The outer race does not turn: nothing modulates the impacts at 1x.
  EXPECT_LT(env.at(bpfo - f1), 0.01 * env.at(bpfo));
  EXPECT_LT(env.at(bpfo + f1), 0.01 * env.at(bpfo));
  EXPECT_LT(env.at(f1), 0.01 * env.at(bpfo));
}

TEST(VibrationSimulator, InnerRaceDefectPutsBpfiInTheEnvelopeWithOneTimesSidebands) {
  const Recording faulty = record(with_fault(Fault::kBearingInner, 0.5F));
  const double f1 = faulty.shaft_hz;
  const double bpfi = faulty.bpfi_hz;
  const EnvelopeSpectrum env = resonance_envelope(faulty);
  EXPECT_NEAR(env.peak_hz(5.0, 400.0), bpfi, 0.01 * bpfi);
  const double floor = env.median(5.0, 400.0);
  EXPECT_GT(env.at(bpfi), 1000.0 * floor);
  for (const double sideband : {bpfi - f1, bpfi + f1}) {
    EXPECT_GT(env.at(sideband), 100.0 * floor) << sideband;
    EXPECT_GT(env.at(sideband), 0.02 * env.at(bpfi)) << sideband;
    EXPECT_LT(env.at(sideband), env.at(bpfi)) << sideband;
  }
  // Between the sidebands there is nothing.
  EXPECT_LT(env.at(bpfi - 0.5 * f1), 0.01 * env.at(bpfi));
}

TEST(VibrationSimulator, HealthyMachineHasNoFaultLines) {
  const Recording healthy = record(with_fault(Fault::kNone, 0.0F));
  const double f1 = healthy.shaft_hz;
  const EnvelopeSpectrum env = resonance_envelope(healthy);
  const double floor = env.median(5.0, 400.0);
  EXPECT_LT(env.at(healthy.bpfo_hz), 20.0 * floor);  // the largest of ~30 noise bins
  EXPECT_LT(env.at(healthy.bpfi_hz), 20.0 * floor);
  // Shaft orders are present but small: residual imbalance well under 0.05 g.
  const auto hx = spectrum(healthy.x);
  const auto reference = spectrum(record(with_fault(Fault::kImbalance, 0.2F)).x);
  EXPECT_LT(100.0 * line_power(hx, healthy.fs, 0.5 * f1), line_power(hx, healthy.fs, f1));
  EXPECT_LT(10.0 * line_power(hx, healthy.fs, f1), line_power(reference, healthy.fs, f1));
}

class SeverityRamp : public ::testing::TestWithParam<Fault> {};

TEST_P(SeverityRamp, FaultEnergyGrowsMonotonicallyAsSeverityRamps) {
  SimulatorConfig config;
  config.fault = {GetParam(), 0.0F, 1.0F, 8.0F};
  auto sim = VibrationSimulator::create(config);
  ASSERT_TRUE(sim.ok());
  constexpr std::size_t kSecond = 3200;
  std::vector<float> x(kSecond), y(kSecond), z(kSecond);
  double previous_energy = 0.0;
  float previous_severity = -1.0F;
  for (int second = 0; second < 8; ++second) {
    const float severity = sim->severity();
    EXPECT_GT(severity, previous_severity);
    previous_severity = severity;
    ASSERT_TRUE(sim.value().read(x, y, z).ok());
    double energy = 0.0;
    for (std::size_t i = 0; i < kSecond; ++i) {
      energy += static_cast<double>(x[i] * x[i] + y[i] * y[i] + z[i] * z[i]);
    }
    EXPECT_GT(energy, previous_energy) << "second " << second;
    previous_energy = energy;
  }
  EXPECT_FLOAT_EQ(sim->severity(), 1.0F);
}

INSTANTIATE_TEST_SUITE_P(EveryFault, SeverityRamp,
                         ::testing::Values(Fault::kImbalance, Fault::kMisalignment,
                                           Fault::kLooseness, Fault::kBearingOuter,
                                           Fault::kBearingInner),
                         [](const auto& test_info) {
                           std::string name(fault_name(test_info.param));
                           std::erase(name, '-');
                           return name;
                         });

TEST(VibrationSimulator, SameSeedGivesIdenticalSamplesAndAnotherSeedDifferentOnes) {
  const auto config = with_fault(Fault::kBearingInner, 0.3F, 7);
  const Recording a = record(config, 4096);
  const Recording b = record(config, 4096);
  const Recording c = record(with_fault(Fault::kBearingInner, 0.3F, 8), 4096);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.z, b.z);
  EXPECT_NE(a.x, c.x);
  EXPECT_NE(a.z, c.z);
}

TEST(VibrationSimulator, HowReadsAreSplitDoesNotChangeTheSignal) {
  const auto config = with_fault(Fault::kLooseness, 0.4F, 3);
  const Recording whole = record(config, 3000);
  auto sim = VibrationSimulator::create(config);
  ASSERT_TRUE(sim.ok());
  std::vector<float> x(3000), y(3000), z(3000);
  std::size_t at = 0;
  for (const std::size_t chunk : {1U, 7U, 1024U, 0U, 968U, 1000U}) {
    const auto s = [&](std::vector<float>& v) { return std::span(v).subspan(at, chunk); };
    ASSERT_TRUE(sim.value().read(s(x), s(y), s(z)).ok());
    at += chunk;
  }
  ASSERT_EQ(at, 3000U);
  EXPECT_EQ(sim->samples_read(), 3000U);
  EXPECT_EQ(x, whole.x);
  EXPECT_EQ(y, whole.y);
  EXPECT_EQ(z, whole.z);
}

TEST(VibrationSimulator, ShaftSpeedWandersButStaysWithinItsBounds) {
  SimulatorConfig config;
  config.machine.speed_wander = 0.02F;
  config.machine.speed_wander_seconds = 2.0F;
  auto sim = VibrationSimulator::create(config);
  ASSERT_TRUE(sim.ok());
  const float low = config.shaft_hz * (1.0F - config.machine.speed_wander);
  const float high = config.shaft_hz * (1.0F + config.machine.speed_wander);
  float slowest = high;
  float fastest = low;
  std::vector<float> x(160), y(160), z(160);
  for (int block = 0; block < 1200; ++block) {  // 60 s
    ASSERT_TRUE(sim.value().read(x, y, z).ok());
    const float speed = sim->shaft_hz();
    ASSERT_GE(speed, low);
    ASSERT_LE(speed, high);
    slowest = std::min(slowest, speed);
    fastest = std::max(fastest, speed);
  }
  EXPECT_GT(fastest - slowest, 0.25F * (high - low));  // it does wander
  EXPECT_NEAR(sim->seconds(), 60.0, 1e-9);
}

double overall_rms(const Recording& r, std::size_t from, std::size_t count) {
  double sum = 0.0;
  for (const auto* axis : {&r.x, &r.y, &r.z}) {
    double mean = 0.0;
    for (std::size_t i = from; i < from + count; ++i)
      mean += static_cast<double>((*axis)[i]);
    mean /= static_cast<double>(count);
    for (std::size_t i = from; i < from + count; ++i) {
      const double d = static_cast<double>((*axis)[i]) - mean;
      sum += d * d;
    }
  }
  return std::sqrt(sum / static_cast<double>(count));
}

TEST(VibrationSimulator, AStoppedMachineLeavesOnlyTheSensorNoiseAndTheRestUnchanged) {
  SimulatorConfig config = with_fault(Fault::kImbalance, 0.3F, 5);
  const Recording running = record(config, 3 * 3200);
  config.stop = {1.0F, 2.0F};
  const Recording stopped = record(config, 3 * 3200);
  // Before and after the stop: the same samples as a machine that never stopped.
  EXPECT_TRUE(std::equal(running.x.begin(), running.x.begin() + 3200, stopped.x.begin()));
  EXPECT_TRUE(std::equal(running.z.begin() + 6400, running.z.end(), stopped.z.begin() + 6400));
  // During it: the noise floor of three axes, sqrt(3) x 10 mg, far below the running machine.
  const double quiet = overall_rms(stopped, 3200, 3200);
  EXPECT_NEAR(quiet, std::sqrt(3.0) * 0.01, 0.002);
  EXPECT_GT(overall_rms(running, 3200, 3200), 3.0 * quiet);
}

TEST(VibrationSimulator, TheReferenceMachineRunsAboveTheBoardsIdleLevelAndStopsBelowIt) {
  // boards/*/board.conf: CONFIG_IDLE_RMS_MG=25, between the reference machine running
  // (about 33 mg over three axes) and its sensor's noise floor (sqrt(3) x 10 mg = 17 mg).
  // Drawn machines (--machine N) span 24..60 mg running and 10..26 mg stopped, so a quiet
  // one needs a board level of its own.
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    SimulatorConfig config;
    config.seed = seed;
    const Recording running = record(config, 8 * 1024);
    config.stop = {0.0F, 10.0F};
    const Recording stopped = record(config, 8 * 1024);
    for (std::size_t window = 0; window < 8; ++window) {
      EXPECT_GT(overall_rms(running, window * 1024, 1024), 0.028) << "seed " << seed;
      EXPECT_LT(overall_rms(stopped, window * 1024, 1024), 0.020) << "seed " << seed;
    }
  }
}

TEST(VibrationSimulator, OutOfRangeConfigurationIsInvalidValue) {
  const auto refused = [](auto edit) {
    SimulatorConfig config;
    edit(config);
    return VibrationSimulator::create(config).status() == Error::kInvalidValue;
  };
  EXPECT_FALSE(refused([](SimulatorConfig&) {}));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.fault.end_severity = 1.5F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.fault.start_severity = -0.1F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.fault.ramp_seconds = -1.0F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.stop.from_seconds = -1.0F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.stop.until_seconds = std::nanf(""); }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.sample_rate_hz = 50; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.shaft_hz = 0.0F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.shaft_hz = 200.0F; }));  // 10x > Nyquist
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.machine.axes[0].modes[0].hz = 1600.0F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.machine.axes[0].modes[0].damping = 0.0F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.machine.speed_wander = 0.5F; }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.machine.axes[0].noise_g = std::nanf(""); }));
  EXPECT_TRUE(refused([](SimulatorConfig& c) { c.machine.bearing.ball_diameter_mm = 50.0F; }));
}

TEST(VibrationSimulator, SpansOfDifferentLengthsAreSizeMismatch) {
  VibrationSimulator sim;
  std::vector<float> x(8), y(8), z(7);
  EXPECT_EQ(sim.read(x, y, z), Error::kSizeMismatch);
  EXPECT_EQ(sim.samples_read(), 0U);
}

}  // namespace
}  // namespace spindle::sensor
