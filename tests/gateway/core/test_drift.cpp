// gateway/core/drift: stationary healthy summaries with sampling noise raise no drift (the
// false-drift rate of a bounded soak is printed); a gain change, a single feature's mean
// shift and a variance increase each raise drift within a bounded number of summaries;
// hysteresis holds in the band and clears after its streak; the sd floors keep
// near-constant features quiet; only the primary reference raises events; the state
// survives its byte form.
#include "spindle/gateway/drift.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "spindle/protocol/feature_names.hpp"

namespace spindle::gateway::drift {
namespace {

constexpr std::size_t kFeatures = 45;             // three axes of 15 (protocol/feature_names.hpp)
constexpr std::uint32_t kWindowsPerSummary = 32;  // the node's stats_every default

// Amplitude features of one axis (rms, peak, band0..band7): they scale with the gain.
bool amplitude_feature(std::size_t index) {
  const std::size_t within = index % feature_names::kPerAxis;
  return within == 0 || within == 1 || within >= 7;
}

// A healthy machine's per-window features: amplitude features log-normal (positive, skewed;
// coefficient of variation about 10 %), the kurtosis features heavy-tailed (log-normal,
// sigma 0.4), the others normal. `gain` scales the amplitude features; `shift` moves one
// feature's mean by that many of its standard deviations; `spread` scales one feature's
// deviations from its mean.
class Machine {
 public:
  explicit Machine(std::uint32_t seed) : rng_(seed) {
    for (std::size_t i = 0; i < kFeatures; ++i) {
      center_.push_back(amplitude_feature(i) ? 0.05 * static_cast<double>(1 + i % 7)
                                             : 3.0 + static_cast<double>(i));
      sigma_.push_back(
          amplitude_feature(i) ? 0.1 : (i % 15 == 3 ? 0.4 : 0.2 + 0.01 * static_cast<double>(i)));
    }
  }

  double gain = 1.0;
  std::size_t shifted = kFeatures;  // none
  double shift = 0.0;
  std::size_t spread_feature = kFeatures;
  double spread = 1.0;

  std::vector<double> window() {
    std::vector<double> features(kFeatures);
    for (std::size_t i = 0; i < kFeatures; ++i) {
      const double z = normal_(rng_);
      double value = 0.0;
      double sd = 0.0;
      if (amplitude_feature(i)) {
        value = center_[i] * std::exp(sigma_[i] * z);
        sd = center_[i] * sigma_[i];  // about
        value *= gain;
      } else if (i % 15 == 3) {
        value = center_[i] * std::exp(sigma_[i] * z);
        sd = center_[i] * sigma_[i];
      } else {
        value = center_[i] + sigma_[i] * z;
        sd = sigma_[i];
      }
      if (i == spread_feature) value = center_[i] + (value - center_[i]) * spread;
      if (i == shifted) value += shift * sd;
      features[i] = value;
    }
    return features;
  }

  // Mean and population stddev over `windows` windows, as the node computes its summary.
  std::vector<FeatureStats> statistics(std::uint32_t windows) {
    std::vector<double> sum(kFeatures, 0.0);
    std::vector<double> sum2(kFeatures, 0.0);
    for (std::uint32_t w = 0; w < windows; ++w) {
      const auto features = window();
      for (std::size_t i = 0; i < kFeatures; ++i) {
        sum[i] += features[i];
        sum2[i] += features[i] * features[i];
      }
    }
    std::vector<FeatureStats> stats(kFeatures);
    for (std::size_t i = 0; i < kFeatures; ++i) {
      const double mean = sum[i] / windows;
      const double variance = std::max(0.0, sum2[i] / windows - mean * mean);
      // The node sends float32.
      stats[i] = {static_cast<float>(mean), static_cast<float>(std::sqrt(variance))};
    }
    return stats;
  }

  Summary summary() {
    ++seq_;
    return {seq_, 1.8e9 + 32.0 * static_cast<double>(seq_), kWindowsPerSummary,
            statistics(kWindowsPerSummary)};
  }

 private:
  std::mt19937 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  std::vector<double> center_;
  std::vector<double> sigma_;
  std::uint64_t seq_ = 0;
};

Reference calibration_from(Machine& machine, std::uint32_t windows = 600) {
  return {ReferenceKind::kCalibration, "vib-ae", 4, 1, machine.statistics(windows)};
}

// Steps a state summary by summary, keeping the events.
struct Stepper {
  Options options;
  State state;
  std::vector<Event> events;
  std::int64_t now_ms = 1000;

  StepResult feed(const Reference& calibration, const Reference& baseline, const Summary& s) {
    StepResult result = step(state, calibration, baseline, s, options, now_ms);
    now_ms += 32000;
    state = result.state;
    events.insert(events.end(), result.events.begin(), result.events.end());
    return result;
  }
};

// The number of summaries until the device drifts (0 when it does not within `limit`).
int summaries_until_drift(Stepper& run, Machine& machine, const Reference& reference, int limit) {
  for (int n = 1; n <= limit; ++n) {
    run.feed(reference, {}, machine.summary());
    if (run.state.drifting()) return n;
  }
  return 0;
}

TEST(Drift, StationaryHealthySummariesRaiseNoDriftOverASoak) {
  constexpr int kSummaries = 5000;  // about 44 hours of a node at one window per second
  std::uint64_t exceedances = 0;
  std::uint64_t drift_events = 0;
  std::uint64_t compared = 0;
  double highest = 0.0;
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    Machine machine(seed);
    const Reference calibration = calibration_from(machine);
    Stepper run;
    for (int i = 0; i < kSummaries / 4; ++i) {
      run.feed(calibration, {}, machine.summary());
      for (const FeatureScore& f : run.state.calibration.features) {
        compared += 1;
        if (f.score > run.options.raise_score) exceedances += 1;
        highest = std::max(highest, f.score);
      }
    }
    for (const Event& e : run.events)
      drift_events += e.kind == "drift" ? 1U : 0U;
  }
  const double rate = static_cast<double>(exceedances) / static_cast<double>(compared);
  std::cout << "[ soak     ] " << kSummaries << " healthy summaries x " << kFeatures
            << " features: " << exceedances << " single-summary scores above "
            << Options{}.raise_score << " (rate " << rate << "), highest score " << highest
            << ", drift events " << drift_events << " (false-drift rate "
            << static_cast<double>(drift_events) / kSummaries << " per summary)\n";
  EXPECT_EQ(drift_events, 0U);
  EXPECT_LT(rate, 1e-3);
}

TEST(Drift, AGainChangeOnEveryAmplitudeFeatureRaisesDriftAfterRaiseAfterSummaries) {
  Machine machine(7);
  const Reference calibration = calibration_from(machine);
  Stepper run;
  for (int i = 0; i < 20; ++i)
    run.feed(calibration, {}, machine.summary());
  ASSERT_FALSE(run.state.drifting());
  machine.gain = 1.5;
  EXPECT_EQ(summaries_until_drift(run, machine, calibration, 10),
            static_cast<int>(run.options.raise_after));
  ASSERT_EQ(run.events.size(), 1U);
  EXPECT_EQ(run.events[0].kind, "drift");
  EXPECT_NE(run.events[0].detail.find("against calibration vib-ae v4 (generation 1)"),
            std::string::npos)
      << run.events[0].detail;
  EXPECT_NE(run.events[0].detail.find("x_rms"), std::string::npos) << run.events[0].detail;
  // Every amplitude feature drifts, and no other.
  for (std::size_t i = 0; i < kFeatures; ++i) {
    EXPECT_EQ(run.state.calibration.features[i].drifting, amplitude_feature(i))
        << feature_names::name(i);
  }
  EXPECT_GT(run.state.calibration.features[0].mean_shift, 2.0);
  EXPECT_EQ(run.state.calibration.since_ms, run.now_ms - 32000);
}

TEST(Drift, OneFeaturesMeanShiftRaisesDriftNamingOnlyThatFeature) {
  Machine machine(11);
  const Reference calibration = calibration_from(machine);
  Stepper run;
  for (int i = 0; i < 20; ++i)
    run.feed(calibration, {}, machine.summary());
  const std::size_t centroid = 5;  // x_centroid
  machine.shifted = centroid;
  machine.shift = 4.0;  // standard deviations
  const int after = summaries_until_drift(run, machine, calibration, 6);
  EXPECT_GE(after, 3);
  EXPECT_LE(after, 6);
  ASSERT_EQ(run.events.size(), 1U);
  EXPECT_NE(run.events[0].detail.find("drifting x_centroid ("), std::string::npos)
      << run.events[0].detail;
  for (std::size_t i = 0; i < kFeatures; ++i)
    EXPECT_EQ(run.state.calibration.features[i].drifting, i == centroid) << i;
  EXPECT_NEAR(run.state.calibration.features[centroid].mean_shift, 4.0, 1.0);
}

TEST(Drift, AVarianceIncreaseRaisesDriftThroughTheLogVarianceRatio) {
  Machine machine(13);
  const Reference calibration = calibration_from(machine);
  Stepper run;
  for (int i = 0; i < 20; ++i)
    run.feed(calibration, {}, machine.summary());
  const std::size_t skewness = 19;  // y_skewness, a normal feature
  machine.spread_feature = skewness;
  machine.spread = 3.0;
  const int after = summaries_until_drift(run, machine, calibration, 8);
  EXPECT_GE(after, 3);
  EXPECT_LE(after, 8);
  const FeatureScore& f = run.state.calibration.features[skewness];
  EXPECT_TRUE(f.drifting);
  EXPECT_NEAR(f.log_variance_ratio, std::log(3.0), 0.35);
  EXPECT_LT(std::abs(f.mean_shift), 1.5);  // the mean did not move
}

Summary exact(std::uint64_t seq, double mean, double stddev) {
  return {seq, 1.8e9 + static_cast<double>(seq), 32, {{mean, stddev}}};
}

TEST(Drift, HysteresisNeedsConsecutiveSummariesToRaiseAndToClear) {
  const Reference reference{ReferenceKind::kBaseline, "vib-ae", 4, 0, {{10.0, 1.0}}};
  Stepper run;
  std::uint64_t seq = 0;
  const auto feed = [&](double z) { return run.feed({}, reference, exact(++seq, 10.0 + z, 1.0)); };
  // Above, above, in the band (2), above, above: the streak broke, no drift.
  for (const double z : {4.0, 4.0, 2.0, 4.0, 4.0})
    feed(z);
  EXPECT_FALSE(run.state.drifting());
  EXPECT_EQ(run.state.primary, ReferenceKind::kBaseline);
  feed(4.0);  // the third in a row
  EXPECT_TRUE(run.state.drifting());
  ASSERT_EQ(run.events.size(), 1U);
  EXPECT_EQ(run.events[0].kind, "drift");
  EXPECT_NE(run.events[0].detail.find("against baseline vib-ae v4: score 4"), std::string::npos)
      << run.events[0].detail;
  const std::int64_t since = run.state.baseline.since_ms;
  // In the band it stays drifting, however long; two below and one in the band reset the
  // clearing streak.
  for (const double z : {2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 2.0, 1.0, 1.0})
    feed(z);
  EXPECT_TRUE(run.state.drifting());
  EXPECT_EQ(run.state.baseline.since_ms, since);
  EXPECT_EQ(run.events.size(), 1U);
  feed(-1.0);  // the third below in a row (|z| counts)
  EXPECT_FALSE(run.state.drifting());
  EXPECT_EQ(run.state.baseline.since_ms, 0);
  ASSERT_EQ(run.events.size(), 2U);
  EXPECT_EQ(run.events[1].kind, "drift-cleared");
  EXPECT_NE(run.events[1].detail.find("every feature below 1.5 for 3 summaries"), std::string::npos)
      << run.events[1].detail;
}

TEST(Drift, FloorsKeepANearConstantFeatureFromExploding) {
  const Options options;
  // sd_ref 0 with mean 100: the relative floor (2 % = 2) scales the shift.
  FeatureScore f = score_feature({100.0, 0.0}, {100.5, 0.0}, options);
  EXPECT_TRUE(f.compared);
  EXPECT_DOUBLE_EQ(f.mean_shift, 0.25);
  EXPECT_DOUBLE_EQ(f.log_variance_ratio, 0.0);  // both at the floor
  EXPECT_LT(f.score, options.clear_score);
  // A real move still shows: 10 % of the mean is 5 floors.
  EXPECT_DOUBLE_EQ(score_feature({100.0, 0.0}, {110.0, 0.0}, options).score, 5.0);
  // A constant 0: the absolute floor.
  f = score_feature({0.0, 0.0}, {0.0, 0.0}, options);
  EXPECT_TRUE(f.compared);
  EXPECT_EQ(f.score, 0.0);
  EXPECT_NEAR(score_feature({0.0, 0.0}, {1e-7, 0.0}, options).mean_shift, 0.1, 1e-9);
  // Above the floors the reference's own stddev counts.
  f = score_feature({100.0, 4.0}, {108.0, 8.0}, options);
  EXPECT_DOUBLE_EQ(f.mean_shift, 2.0);
  EXPECT_DOUBLE_EQ(f.log_variance_ratio, std::log(2.0));
  EXPECT_DOUBLE_EQ(f.score, std::log(2.0) / options.variance_scale);
  // Not finite: not compared.
  EXPECT_FALSE(score_feature({1.0, 1.0}, {std::nan(""), 1.0}, options).compared);
  EXPECT_FALSE(
      score_feature({std::numeric_limits<double>::infinity(), 1.0}, {1.0, 1.0}, options).compared);
}

TEST(Drift, OnlyThePrimaryReferenceRaisesEventsAndTheCalibrationIsPrimary) {
  Machine machine(17);
  const Reference calibration = calibration_from(machine);
  // The fleet's training data: this machine runs 40 % hotter on every amplitude feature.
  Reference baseline = calibration;
  baseline.kind = ReferenceKind::kBaseline;
  baseline.generation = 0;
  for (std::size_t i = 0; i < kFeatures; ++i) {
    if (amplitude_feature(i)) baseline.features[i].mean /= 1.4;
  }
  Stepper run;
  for (int i = 0; i < 20; ++i)
    run.feed(calibration, baseline, machine.summary());
  EXPECT_EQ(run.state.primary, ReferenceKind::kCalibration);
  EXPECT_FALSE(run.state.drifting());
  EXPECT_TRUE(run.state.baseline.drifting);  // reported ...
  EXPECT_GT(run.state.baseline.score, run.options.raise_score);
  EXPECT_TRUE(run.events.empty());  // ... but raises nothing
  EXPECT_EQ(run.state.calibration.summaries, 20U);
  EXPECT_EQ(run.state.baseline.summaries, 20U);
}

TEST(Drift, WithoutCalibrationTheBaselineIsPrimaryAndACalibrationTakesOver) {
  Machine machine(19);
  Reference baseline = calibration_from(machine);
  baseline.kind = ReferenceKind::kBaseline;
  baseline.generation = 0;
  for (std::size_t i = 0; i < kFeatures; ++i) {
    if (amplitude_feature(i)) baseline.features[i].mean /= 1.4;
  }
  Stepper run;
  for (int i = 0; i < 5; ++i)
    run.feed({}, baseline, machine.summary());
  EXPECT_EQ(run.state.primary, ReferenceKind::kBaseline);
  ASSERT_TRUE(run.state.drifting());
  ASSERT_EQ(run.events.size(), 1U);
  EXPECT_EQ(run.events[0].kind, "drift");
  EXPECT_NE(run.events[0].detail.find("against baseline vib-ae v4"), std::string::npos);

  // The node calibrates: the calibration becomes the reference, and the drift it judged
  // against the baseline is cleared, saying why.
  const Reference calibration = calibration_from(machine);
  run.feed(calibration, baseline, machine.summary());
  EXPECT_EQ(run.state.primary, ReferenceKind::kCalibration);
  EXPECT_FALSE(run.state.drifting());
  ASSERT_EQ(run.events.size(), 2U);
  EXPECT_EQ(run.events[1].kind, "drift-cleared");
  EXPECT_NE(run.events[1].detail.find(
                "reference changed from baseline vib-ae v4 to calibration vib-ae v4 "
                "(generation 1); was drifting on x_"),
            std::string::npos)
      << run.events[1].detail;
  // A new calibration generation starts its tracker over.
  for (int i = 0; i < 3; ++i)
    run.feed(calibration, baseline, machine.summary());
  EXPECT_EQ(run.state.calibration.summaries, 4U);
  Reference recalibrated = calibration;
  recalibrated.generation = 2;
  run.feed(recalibrated, baseline, machine.summary());
  EXPECT_EQ(run.state.calibration.summaries, 1U);
  EXPECT_EQ(run.state.calibration.generation, 2U);
  EXPECT_EQ(run.state.summaries, 10U);
}

TEST(Drift, APerMachineModelsBaselineNeverRaisesDriftWhileTheMachineCalibrates) {
  Machine machine(23);
  Reference baseline = calibration_from(machine);
  baseline.kind = ReferenceKind::kBaseline;
  baseline.generation = 0;
  baseline.per_machine = true;  // its manifest carries a calibration: machines differ from it
  for (std::size_t i = 0; i < kFeatures; ++i) {
    if (amplitude_feature(i)) baseline.features[i].mean /= 1.4;
  }
  Stepper run;
  for (int i = 0; i < 10; ++i)
    run.feed({}, baseline, machine.summary());
  EXPECT_EQ(run.state.primary, ReferenceKind::kNone);
  EXPECT_TRUE(run.state.baseline.drifting);  // scored and reported
  EXPECT_TRUE(run.events.empty());           // but no event: the node is still calibrating
  run.feed(calibration_from(machine), baseline, machine.summary());
  EXPECT_EQ(run.state.primary, ReferenceKind::kCalibration);
  EXPECT_TRUE(run.events.empty());
}

TEST(Drift, AReferenceOfAnotherFeatureCountIsNotComparedWith) {
  const Reference two{ReferenceKind::kBaseline, "vib-ae", 4, 0, {{1.0, 1.0}, {2.0, 1.0}}};
  Stepper run;
  run.feed({}, two, exact(1, 1.0, 1.0));
  EXPECT_EQ(run.state.primary, ReferenceKind::kNone);
  EXPECT_EQ(run.state.summaries, 1U);
  EXPECT_EQ(run.state.baseline.kind, ReferenceKind::kNone);
}

TEST(Drift, ASummaryNotNewerThanTheLastIsNotSteppedAgain) {
  const Reference reference{ReferenceKind::kBaseline, "vib-ae", 4, 0, {{10.0, 1.0}}};
  Stepper run;
  EXPECT_TRUE(run.feed({}, reference, exact(5, 14.0, 1.0)).stepped);
  EXPECT_FALSE(run.feed({}, reference, exact(5, 14.0, 1.0)).stepped);  // retransmitted
  Summary older = exact(4, 14.0, 1.0);
  EXPECT_FALSE(run.feed({}, reference, older).stepped);
  Summary same_time_later_seq = exact(5, 14.0, 1.0);
  same_time_later_seq.seq = 6;
  EXPECT_TRUE(run.feed({}, reference, same_time_later_seq).stepped);
  EXPECT_EQ(run.state.baseline.summaries, 2U);
  EXPECT_EQ(run.state.baseline.features[0].above, 2U);
}

TEST(Drift, TheStateSurvivesItsBytesAndDamagedBytesAreRefused) {
  Machine machine(23);
  const Reference calibration = calibration_from(machine);
  Reference baseline = calibration;
  baseline.kind = ReferenceKind::kBaseline;
  baseline.generation = 0;
  Stepper run;
  machine.gain = 2.0;
  for (int i = 0; i < 4; ++i)
    run.feed(calibration, baseline, machine.summary());
  ASSERT_TRUE(run.state.drifting());
  const Bytes bytes = encode_state(run.state);
  const auto back = decode_state(bytes);
  ASSERT_TRUE(back.ok()) << back.status().name();
  EXPECT_EQ(encode_state(*back), bytes);
  EXPECT_EQ(back->primary, ReferenceKind::kCalibration);
  EXPECT_TRUE(back->drifting());
  EXPECT_EQ(back->calibration.since_ms, run.state.calibration.since_ms);
  EXPECT_EQ(back->calibration.features[0].mean_shift, run.state.calibration.features[0].mean_shift);
  EXPECT_EQ(back->last_seq, run.state.last_seq);

  EXPECT_EQ(decode_state({}).status(), Status(Error::kTruncated));
  EXPECT_EQ(decode_state(std::span(bytes).first(bytes.size() - 1)).status(),
            Status(Error::kTruncated));
  Bytes longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(decode_state(longer).status(), Status(Error::kTrailingBytes));
  Bytes other_version = bytes;
  other_version[0] = 9;
  EXPECT_EQ(decode_state(other_version).status(), Status(Error::kUnsupportedVersion));
  Bytes bad_kind = bytes;
  bad_kind[1] = 7;
  EXPECT_EQ(decode_state(bad_kind).status(), Status(Error::kInvalidValue));
}

TEST(Drift, UnpackPairsReadsFloat32LittleEndianPairs) {
  const Bytes two = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e,
                     0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};
  const auto pairs = unpack_pairs(two);
  ASSERT_TRUE(pairs.ok());
  ASSERT_EQ(pairs->size(), 2U);
  EXPECT_EQ((*pairs)[0].mean, 0.5);
  EXPECT_EQ((*pairs)[0].stddev, 0.25);
  EXPECT_EQ((*pairs)[1].mean, -1.0);
  EXPECT_EQ((*pairs)[1].stddev, 2.0);
  EXPECT_EQ(unpack_pairs({}).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(unpack_pairs(std::span(two).first(12)).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(unpack_pairs(Bytes(8 * 65, 0)).status(), Status(Error::kOversize));
}

TEST(Drift, OptionsAreValidated) {
  EXPECT_TRUE(validate(Options{}).ok());
  const auto invalid = [](auto edit) {
    Options options;
    edit(options);
    return validate(options) == Status(Error::kInvalidValue);
  };
  EXPECT_TRUE(invalid([](Options& o) { o.raise_score = 0; }));
  EXPECT_TRUE(invalid([](Options& o) { o.clear_score = 4.0; }));  // above raise
  EXPECT_TRUE(invalid([](Options& o) { o.raise_after = 0; }));
  EXPECT_TRUE(invalid([](Options& o) { o.clear_after = 0; }));
  EXPECT_TRUE(invalid([](Options& o) { o.variance_scale = 0; }));
  EXPECT_TRUE(invalid([](Options& o) { o.relative_sd_floor = -0.1; }));
  EXPECT_TRUE(invalid([](Options& o) { o.absolute_sd_floor = std::nan(""); }));
}

}  // namespace
}  // namespace spindle::gateway::drift
