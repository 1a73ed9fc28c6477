#include "spindle/features/feature_extractor.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <memory>

#include "spindle/features/time_features.hpp"

namespace spindle::features {
namespace {

constexpr float kTwoPi = 6.28318530718F;

std::span<float> as_floats(std::span<std::byte> bytes, std::size_t count) {
  return {static_cast<float*>(static_cast<void*>(bytes.data())), count};
}

// Parabolic interpolation of the peak at bin k through the log power of bins k-1, k, k+1
// (exact for a Gaussian peak, within a few hundredths of a bin for a Hann-windowed tone).
float refine_peak(std::span<const float> energy, std::size_t k) {
  if (k < 2 || k + 1 >= energy.size()) return 0.0F;  // bin 0 (DC) is not a neighbour
  const float a = std::log(energy[k - 1] + kEnergyFloor);
  const float b = std::log(energy[k] + kEnergyFloor);
  const float c = std::log(energy[k + 1] + kEnergyFloor);
  const float curvature = a - 2.0F * b + c;
  if (!(curvature < 0.0F)) return 0.0F;
  return std::clamp(0.5F * (a - c) / curvature, -0.5F, 0.5F);
}

}  // namespace

Result<FeatureExtractor> FeatureExtractor::create(const FeatureConfig& config,
                                                  std::span<std::byte> scratch) {
  const std::size_t n = config.window_length;
  if (n < kMinWindowLength || n > kMaxWindowLength || !std::has_single_bit(n)) {
    return Error::kInvalidValue;
  }
  if (config.sample_rate_hz < 100 || config.sample_rate_hz > 100000) return Error::kInvalidValue;
  if (config.axes < 1 || config.axes > kMaxAxes) return Error::kInvalidValue;
  if (scratch.size() < scratch_bytes(n)) return Error::kBufferTooSmall;

  void* base = scratch.data();
  std::size_t space = scratch.size();
  if (std::align(16, scratch_bytes(n) - 16, base, space) == nullptr) return Error::kBufferTooSmall;
  scratch = scratch.subspan(scratch.size() - space);

  FeatureExtractor fx;
  fx.config_ = config;
  const std::size_t fft_bytes = RealFft::memory_bytes(n);
  SPINDLE_TRY_ASSIGN(fx.fft_, RealFft::create(n, scratch.first(fft_bytes)));
  fx.window_ = as_floats(scratch.subspan(fft_bytes), n);
  fx.work_ = as_floats(scratch.subspan(fft_bytes + n * sizeof(float)), n);

  // Periodic Hann window (the DFT-even form used for spectral analysis).
  float sum_squares = 0.0F;
  for (std::size_t i = 0; i < n; ++i) {
    const float w = 0.5F - 0.5F * std::cos(kTwoPi * static_cast<float>(i) / static_cast<float>(n));
    fx.window_[i] = w;
    sum_squares += w * w;
  }
  fx.energy_scale_ = 1.0F / (static_cast<float>(n) * sum_squares);

  // Band edges: geometric from kBandLowHz to Nyquist, rounded up to bins, and pushed apart
  // so that every band keeps at least one bin.
  const std::size_t half = n / 2;
  const float bin_hz = static_cast<float>(config.sample_rate_hz) / static_cast<float>(n);
  const float nyquist = 0.5F * static_cast<float>(config.sample_rate_hz);
  fx.band_first_bin_[0] = 1;
  fx.band_first_bin_[kBands] = static_cast<std::uint16_t>(half + 1);
  for (std::size_t j = 1; j < kBands; ++j) {
    const float exponent = static_cast<float>(j) / static_cast<float>(kBands);
    const float edge_hz = kBandLowHz * std::pow(nyquist / kBandLowHz, exponent);
    std::size_t bin = static_cast<std::size_t>(std::ceil(edge_hz / bin_hz));
    bin = std::max<std::size_t>(bin, fx.band_first_bin_[j - 1] + 1U);
    bin = std::min<std::size_t>(bin, half + 1 - (kBands - j));
    fx.band_first_bin_[j] = static_cast<std::uint16_t>(bin);
  }
  return fx;
}

std::size_t FeatureExtractor::band_first_bin(std::size_t band) const {
  return band <= kBands ? band_first_bin_[band] : 0;
}

Status FeatureExtractor::extract(std::span<const float> x, std::span<const float> y,
                                 std::span<const float> z, std::span<float> features_out) {
  if (work_.empty()) return Error::kInvalidState;
  const std::array<std::span<const float>, kMaxAxes> axes = {x, y, z};
  for (std::size_t a = 0; a < config_.axes; ++a) {
    if (axes[a].size() != config_.window_length) return Error::kSizeMismatch;
  }
  if (features_out.size() < feature_count()) return Error::kBufferTooSmall;
  for (std::size_t a = 0; a < config_.axes; ++a) {
    SPINDLE_TRY(
        extract_axis(axes[a], features_out.subspan(a * kFeaturesPerAxis, kFeaturesPerAxis)));
  }
  return kOk;
}

Status FeatureExtractor::extract_axis(std::span<const float> samples, std::span<float> out) {
  SPINDLE_TRY_ASSIGN(const TimeFeatures t, time_features(samples));
  const auto at = [&out](AxisFeature f) -> float& { return out[static_cast<std::size_t>(f)]; };
  at(AxisFeature::kRms) = t.rms;
  at(AxisFeature::kPeak) = t.peak;
  at(AxisFeature::kCrest) = t.crest;
  at(AxisFeature::kKurtosis) = t.kurtosis;
  at(AxisFeature::kSkewness) = t.skewness;

  const std::size_t n = config_.window_length;
  const std::size_t half = n / 2;
  for (std::size_t i = 0; i < n; ++i)
    work_[i] = window_[i] * (samples[i] - t.mean);
  const std::span<float> energy = work_.first(half + 1);
  SPINDLE_TRY(fft_.power_spectrum(work_, energy));

  // One-sided spectrum: every bin but DC and Nyquist stands for two.
  const float bin_hz = static_cast<float>(config_.sample_rate_hz) / static_cast<float>(n);
  float total = 0.0F;
  float moment = 0.0F;
  std::size_t strongest = 1;
  for (std::size_t k = 1; k <= half; ++k) {
    energy[k] *= (k == half ? 1.0F : 2.0F) * energy_scale_;
    total += energy[k];
    moment += energy[k] * static_cast<float>(k);
    if (energy[k] > energy[strongest]) strongest = k;
  }
  const bool silent = !(total > 0.0F);
  at(AxisFeature::kCentroid) = silent ? 0.0F : moment / total * bin_hz;
  at(AxisFeature::kDominant) =
      silent ? 0.0F : (static_cast<float>(strongest) + refine_peak(energy, strongest)) * bin_hz;

  for (std::size_t j = 0; j < kBands; ++j) {
    float band = 0.0F;
    for (std::size_t k = band_first_bin_[j]; k < band_first_bin_[j + 1]; ++k)
      band += energy[k];
    out[static_cast<std::size_t>(AxisFeature::kBand0) + j] =
        10.0F * std::log10(band + kEnergyFloor);
  }
  return kOk;
}

}  // namespace spindle::features
