// features/feature_extractor: the feature vector's layout and names, Parseval across the
// bands, tones found where they are, golden values for a fixed short window (computed by an
// independent double-precision reference of the formulas in docs/firmware/vibration-model.md,
// a direct DFT), and every refusal.
#include "spindle/features/feature_extractor.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace spindle::features {
namespace {

constexpr double kPi = std::numbers::pi;

std::vector<float> tone(std::size_t n, double fs, double hz, double amplitude) {
  std::vector<float> s(n);
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<float>(amplitude *
                              std::sin(2.0 * kPi * hz * static_cast<double>(i) / fs + 1.0));
  }
  return s;
}

struct Fixture {
  explicit Fixture(const FeatureConfig& config) : scratch(scratch_bytes(config.window_length)) {
    auto created = FeatureExtractor::create(config, scratch);
    EXPECT_TRUE(created.ok()) << created.status().name();
    extractor = created.value();
  }
  std::vector<std::byte> scratch;
  FeatureExtractor extractor;
};

float band_energy_sum(const std::vector<float>& features, std::size_t axis) {
  float sum = 0.0F;
  for (std::size_t j = 0; j < kBands; ++j) {
    sum += std::pow(10.0F, features[feature_index(axis, AxisFeature::kBand0, j)] / 10.0F);
  }
  return sum;
}

TEST(FeatureExtractor, ThreeAxesGiveFortyFiveFeaturesWithStableUniqueNames) {
  EXPECT_EQ(feature_count(3), 45U);
  EXPECT_EQ(feature_count(1), 15U);
  EXPECT_EQ(feature_name(0), "x_rms");
  EXPECT_EQ(feature_name(3), "x_kurtosis");
  EXPECT_EQ(feature_name(feature_index(1, AxisFeature::kDominant)), "y_dominant");
  EXPECT_EQ(feature_name(feature_index(2, AxisFeature::kBand0, 3)), "z_band3");
  EXPECT_EQ(feature_name(44), "z_band7");
  EXPECT_EQ(feature_name(45), "");
  std::set<std::string> names;
  for (std::size_t i = 0; i < feature_count(kMaxAxes); ++i) {
    const auto name = feature_name(i);
    EXPECT_EQ(name.data()[name.size()], '\0');
    names.emplace(name);
  }
  EXPECT_EQ(names.size(), 45U);
}

TEST(FeatureExtractor, BandsAreIncreasingAndCoverEveryBinAboveDcForEveryWindowLength) {
  for (std::size_t n = kMinWindowLength; n <= kMaxWindowLength; n *= 2) {
    Fixture f({n, 3200, 1});
    EXPECT_EQ(f.extractor.band_first_bin(0), 1U);
    EXPECT_EQ(f.extractor.band_first_bin(kBands), n / 2 + 1);
    for (std::size_t j = 0; j < kBands; ++j) {
      EXPECT_LT(f.extractor.band_first_bin(j), f.extractor.band_first_bin(j + 1)) << n << " " << j;
    }
  }
  // At 1024 / 3200 Hz the 1480 rpm machine's orders fall in separate bands.
  Fixture f({1024, 3200, 1});
  const auto band_of = [&](double hz) {
    const auto bin = static_cast<std::size_t>(std::lround(hz / 3.125));
    std::size_t j = 0;
    while (f.extractor.band_first_bin(j + 1) <= bin)
      ++j;
    return j;
  };
  EXPECT_EQ(band_of(24.67), 1U);   // 1x
  EXPECT_EQ(band_of(49.3), 2U);    // 2x
  EXPECT_EQ(band_of(88.4), 3U);    // BPFO
  EXPECT_EQ(band_of(133.6), 4U);   // BPFI
  EXPECT_EQ(band_of(1150.0), 7U);  // structural resonance
}

TEST(FeatureExtractor, SineFeaturesMatchTheClosedForm) {
  Fixture f({1024, 3200, 1});
  const float a = 0.8F;
  const auto x = tone(1024, 3200.0, 156.25, a);  // exactly 50 cycles
  std::vector<float> out(15);
  ASSERT_TRUE(f.extractor.extract(x, {}, {}, out).ok());
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kRms)], a / std::numbers::sqrt2_v<float>, 1e-5F);
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kPeak)], a, 1e-3F);
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kCrest)], std::numbers::sqrt2_v<float>, 2e-3F);
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kKurtosis)], 1.5F, 1e-4F);
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kDominant)], 156.25F, 0.01F);
  EXPECT_NEAR(out[feature_index(0, AxisFeature::kCentroid)], 156.25F, 0.01F);
}

TEST(FeatureExtractor, DominantFrequencyOfAToneBetweenBinsIsFoundWithinATenthOfABin) {
  Fixture f({1024, 3200, 1});
  std::vector<float> out(15);
  for (const double hz : {24.67, 88.4, 133.6, 401.3, 1150.0}) {
    ASSERT_TRUE(f.extractor.extract(tone(1024, 3200.0, hz, 0.3), {}, {}, out).ok());
    EXPECT_NEAR(out[feature_index(0, AxisFeature::kDominant)], hz, 0.1 * 3.125) << hz;
  }
}

TEST(FeatureExtractor, BandEnergiesSumToTheTimeDomainMeanSquare) {
  // Parseval: with the Hann energy correction 1 / (N sum w^2), the bands of a stationary
  // signal add up to its mean square (what the window weights least is estimated from the
  // rest, so not exactly).
  Fixture f({2048, 3200, 3});
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0F, 0.1F);
  std::vector<float> noise(2048);
  for (float& v : noise)
    v = normal(rng);
  auto tones = tone(2048, 3200.0, 24.67, 0.5);
  const auto second = tone(2048, 3200.0, 733.1, 0.2);
  for (std::size_t i = 0; i < tones.size(); ++i)
    tones[i] += second[i];
  auto mixed = tone(2048, 3200.0, 133.6, 0.05);
  for (std::size_t i = 0; i < mixed.size(); ++i)
    mixed[i] += noise[i] + 0.3F;
  std::vector<float> out(45);
  ASSERT_TRUE(f.extractor.extract(noise, tones, mixed, out).ok());
  for (std::size_t axis = 0; axis < 3; ++axis) {
    const float rms = out[feature_index(axis, AxisFeature::kRms)];
    EXPECT_NEAR(band_energy_sum(out, axis), rms * rms, 0.05F * rms * rms) << axis;
  }
}

TEST(FeatureExtractor, GoldenFeaturesOfAFixedShortWindow) {
  constexpr std::size_t kN = 64;
  std::array<float, kN> x{}, y{}, z{};
  for (std::size_t i = 0; i < kN; ++i) {
    const auto n = static_cast<double>(i);
    const auto k = static_cast<int>(i);
    x[i] = static_cast<float>(0.8 * std::sin(2 * kPi * 5 * n / 64) +
                              0.3 * std::sin(2 * kPi * 13 * n / 64 + 0.5) +
                              0.05 * ((k * 37) % 17 - 8) / 8);
    y[i] =
        static_cast<float>(0.5 * std::cos(2 * kPi * 2.5 * n / 64) + (k % 8 == 0 ? 0.1 : 0.0) - 0.2);
    z[i] = static_cast<float>(0.02 * std::sin(2 * kPi * 27.3 * n / 64) + 0.01 * ((k * 11) % 7 - 3));
  }
  // Band bins at 64 samples / 3200 Hz: 1, 2, 3, 4, 5, 6-8, 9-16, 17-32.
  constexpr std::array<float, 45> kGolden = {
      0.6051962F, 1.108704F,  1.831974F,   1.833342F,   0.01063688F, 297.6689F,    249.7471F,
      -68.90782F, -72.71856F, -51.32046F,  -12.59382F,  -6.687375F,  -12.71221F,   -13.66072F,
      -35.48327F, 0.3569312F, 0.5796875F,  1.624087F,   1.537031F,   -0.01697298F, 131.8712F,
      124.8002F,  -26.57824F, -12.17792F,  -12.2357F,   -26.13436F,  -42.82639F,   -35.71249F,
      -35.04716F, -32.83297F, 0.03234687F, 0.04538833F, 1.403176F,   1.326947F,    0.0513303F,
      1275.236F,  1369.134F,  -69.73579F,  -109.0572F,  -106.0945F,  -101.8931F,   -96.29165F,
      -50.69778F, -41.34845F, -30.107F,
  };
  Fixture f({kN, 3200, 3});
  EXPECT_EQ(f.extractor.band_first_bin(6), 9U);
  std::array<float, 45> out{};
  ASSERT_TRUE(f.extractor.extract(x, y, z, out).ok());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float tolerance = i % kFeaturesPerAxis >= static_cast<std::size_t>(AxisFeature::kBand0)
                                ? 0.01F  // dB
                                : 2e-4F * std::max(1.0F, std::fabs(kGolden[i]));
    EXPECT_NEAR(out[i], kGolden[i], tolerance) << feature_name(i);
  }
}

TEST(FeatureExtractor, SilentWindowGivesZerosAndTheEnergyFloor) {
  Fixture f({256, 3200, 1});
  const std::vector<float> silence(256, 0.0F);
  std::vector<float> out(15, 123.0F);
  ASSERT_TRUE(f.extractor.extract(silence, {}, {}, out).ok());
  for (std::size_t i = 0; i < static_cast<std::size_t>(AxisFeature::kBand0); ++i) {
    EXPECT_EQ(out[i], 0.0F) << feature_name(i);
  }
  for (std::size_t j = 0; j < kBands; ++j) {
    EXPECT_FLOAT_EQ(out[feature_index(0, AxisFeature::kBand0, j)], -120.0F);
  }
}

TEST(FeatureExtractor, ScratchBytesSufficeAtAnyAlignment) {
  for (std::size_t n = kMinWindowLength; n <= kMaxWindowLength; n *= 2) {
    std::vector<std::byte> scratch(scratch_bytes(n) + 16);
    for (std::size_t offset = 1; offset < 16; offset += 7) {
      auto fx = FeatureExtractor::create({n, 3200, 3},
                                         std::span(scratch).subspan(offset, scratch_bytes(n)));
      ASSERT_TRUE(fx.ok()) << n << " at offset " << offset;
      const auto x = tone(n, 3200.0, 100.0, 1.0);
      std::vector<float> out(45);
      ASSERT_TRUE(fx.value().extract(x, x, x, out).ok());
    }
  }
}

TEST(FeatureExtractor, BadConfigurationIsRefusedWithItsReason) {
  std::vector<std::byte> scratch(scratch_bytes(kMaxWindowLength));
  const auto status = [&](FeatureConfig c) {
    return FeatureExtractor::create(c, scratch).status();
  };
  for (const std::size_t n : {0U, 32U, 63U, 96U, 1000U, 8192U}) {
    EXPECT_EQ(status({n, 3200, 3}), Error::kInvalidValue) << n;
  }
  EXPECT_EQ(status({1024, 0, 3}), Error::kInvalidValue);
  EXPECT_EQ(status({1024, 200000, 3}), Error::kInvalidValue);
  EXPECT_EQ(status({1024, 3200, 0}), Error::kInvalidValue);
  EXPECT_EQ(status({1024, 3200, 4}), Error::kInvalidValue);
  EXPECT_EQ(
      FeatureExtractor::create({1024, 3200, 3}, std::span(scratch).first(scratch_bytes(1024) - 1))
          .status(),
      Error::kBufferTooSmall);
}

TEST(FeatureExtractor, WrongBuffersAreRefusedWithTheirReason) {
  Fixture f({128, 3200, 2});
  const std::vector<float> window(128, 0.1F), short_window(127, 0.1F);
  std::vector<float> out(30), short_out(29);
  EXPECT_TRUE(f.extractor.extract(window, window, {}, out).ok());  // z is not used
  EXPECT_EQ(f.extractor.extract(window, short_window, {}, out), Error::kSizeMismatch);
  EXPECT_EQ(f.extractor.extract(window, {}, {}, out), Error::kSizeMismatch);
  EXPECT_EQ(f.extractor.extract(window, window, {}, short_out), Error::kBufferTooSmall);
  std::vector<float> bad = window;
  bad[77] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(f.extractor.extract(window, bad, {}, out), Error::kInvalidValue);
  FeatureExtractor unconfigured;
  EXPECT_EQ(unconfigured.extract(window, window, window, out), Error::kInvalidState);
}

}  // namespace
}  // namespace spindle::features
