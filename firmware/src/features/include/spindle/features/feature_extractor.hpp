// The feature vector the node's model reads: per accelerometer axis, time-domain statistics
// and a Hann-windowed power spectrum condensed into a centroid, a dominant frequency and
// log band energies. Definitions and formulas: docs/firmware/vibration-model.md.
//
// Layout, axis-major (x, then y, then z for the axes in use), kFeaturesPerAxis each:
//   0 rms        g, about the window mean
//   1 peak       g, max |x - mean|
//   2 crest      peak / rms
//   3 kurtosis   m4 / m2^2
//   4 skewness   m3 / m2^1.5
//   5 centroid   Hz, power-weighted mean frequency
//   6 dominant   Hz, strongest bin above DC, refined by a parabola through log power
//   7..14 band0..band7   10 log10(band energy + 1e-12), dB re 1 g^2 (floor -120 dB)
// so 3 axes give 45 features, named "x_rms" .. "z_band7" by feature_name(). The bands are
// logarithmically spaced from kBandLowHz to Nyquist (band 0 reaches down to the first bin
// above DC, band 7 includes Nyquist) and every band holds at least one bin; their band
// energies sum to the window's mean square (Parseval, with the Hann energy correction).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/features/real_fft.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::features {

inline constexpr std::size_t kMinWindowLength = 64;
inline constexpr std::size_t kMaxWindowLength = 4096;
inline constexpr std::size_t kMaxAxes = 3;
inline constexpr std::size_t kBands = 8;
inline constexpr float kBandLowHz = 10.0F;
inline constexpr float kEnergyFloor = 1e-12F;  // g^2, keeps log10 finite for silence

// Position of a feature within its axis' block.
enum class AxisFeature : std::uint8_t {
  kRms,
  kPeak,
  kCrest,
  kKurtosis,
  kSkewness,
  kCentroid,
  kDominant,
  kBand0,  // kBand0 + j for band j
};
inline constexpr std::size_t kFeaturesPerAxis =
    static_cast<std::size_t>(AxisFeature::kBand0) + kBands;

constexpr std::size_t feature_count(std::size_t axes) {
  return axes * kFeaturesPerAxis;
}
static_assert(feature_count(kMaxAxes) <= kMaxFeatures);

// Index in the feature vector of `feature` (band `band` for kBand0) of axis 0 (x) .. 2 (z).
constexpr std::size_t feature_index(std::size_t axis, AxisFeature feature, std::size_t band = 0) {
  return axis * kFeaturesPerAxis + static_cast<std::size_t>(feature) + band;
}

// Stable name of feature `index` ("x_rms", "y_dominant", "z_band3"), the same for every
// configuration; empty for index >= feature_count(kMaxAxes). Null-terminated.
std::string_view feature_name(std::size_t index);

// Scratch bytes a FeatureExtractor needs for `window_length` samples, any alignment:
//   alignas(16) static std::byte scratch[scratch_bytes(CONFIG_SENSOR_WINDOW_LENGTH)];
constexpr std::size_t scratch_bytes(std::size_t window_length) {
  return 16 + RealFft::memory_bytes(window_length) + 2 * window_length * sizeof(float);
}

struct FeatureConfig {
  std::size_t window_length = 1024;  // a power of two, kMinWindowLength..kMaxWindowLength
  std::uint32_t sample_rate_hz = 3200;
  std::size_t axes = 3;  // x / x,y / x,y,z
};

class FeatureExtractor {
 public:
  FeatureExtractor() = default;  // not configured: extract() returns kInvalidState

  // Plans the FFT and the Hann window in `scratch`, which must outlive the extractor and
  // not be shared with another one.
  // Errors: kInvalidValue (window length not a power of two in 64..4096, sample rate
  // outside 100..100000 Hz, axes not 1..3), kBufferTooSmall (scratch smaller than
  // scratch_bytes(window_length)).
  static Result<FeatureExtractor> create(const FeatureConfig& config, std::span<std::byte> scratch);

  // Writes feature_count() features for one window to the front of features_out. Spans of
  // axes beyond config().axes are ignored (they may be empty). On an error the contents of
  // features_out are unspecified.
  // Errors: kInvalidState (not configured), kSizeMismatch (an axis in use does not hold
  // window_length samples), kBufferTooSmall (features_out shorter than feature_count()),
  // kInvalidValue (a sample that is not finite).
  Status extract(std::span<const float> x, std::span<const float> y, std::span<const float> z,
                 std::span<float> features_out);

  std::size_t feature_count() const { return features::feature_count(config_.axes); }
  const FeatureConfig& config() const { return config_; }
  // First FFT bin of band `band` (0..kBands; kBands gives window_length / 2 + 1, one past
  // the Nyquist bin). Bin k is at k * sample_rate / window_length Hz.
  std::size_t band_first_bin(std::size_t band) const;

 private:
  Status extract_axis(std::span<const float> samples, std::span<float> out);

  FeatureConfig config_{};
  RealFft fft_;
  std::span<float> window_;    // Hann coefficients
  std::span<float> work_;      // windowed samples, then their power spectrum
  float energy_scale_ = 0.0F;  // 1 / (N * sum w^2): |X|^2 to mean-square contribution
  std::array<std::uint16_t, kBands + 1> band_first_bin_{};
};

}  // namespace spindle::features
