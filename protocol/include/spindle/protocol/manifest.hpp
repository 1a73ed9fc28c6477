// The manifest payload (protocol/cddl/manifest.cddl): what a device should run, carried
// inside a COSE_Sign1 envelope (cose_sign1.hpp). Decoded values are views into the input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::manifest {

using Bytes = std::span<const std::uint8_t>;

struct Encryption {
  std::int64_t alg = 33;  // COSE AES-CCM-64-128-128, the only one this version accepts
  Bytes nonce;            // 7 bytes
  Bytes wrapped_key;      // the content key, AES-KW wrapped with the device's model KEK
};

struct Requirements {
  std::uint32_t arena_bytes = 0;  // RAM the model needs at inference time
  std::uint32_t flash_bytes = 0;  // bytes of a model slot it occupies
  std::uint32_t op_set = 0;       // bit i set: container opcode i is used
};

struct InputSpec {
  std::uint16_t feature_count = 0;
  std::uint32_t sample_rate_hz = 0;
  std::uint16_t window_length = 0;  // samples per window
  std::uint8_t axes = 0;            // accelerometer axes used (1..3)
};

// Training-set statistics of one input feature, the reference for drift checks.
struct FeatureBaseline {
  float mean = 0.0F;
  float stddev = 0.0F;
};

// How a node adapts the model to the machine it is mounted on (docs/firmware/calibration.md).
// A model that carries this was trained on features standardized per machine: the node
// first learns its own machine's per-feature mean and standard deviation over
// `normalization_windows` windows (the baseline, key 10, stands in until then), then scores
// `threshold_windows` windows with that normalization and sets its threshold to their
// `threshold_quantile` times `threshold_margin`, clamped to [threshold_min, threshold_max].
// The manifest's own threshold (key 9) is the one in force until calibration completes;
// no alarm is raised before.
struct Calibration {
  std::uint32_t normalization_windows = 0;  // kMinCalibrationWindows..kMaxCalibrationWindows
  std::uint32_t threshold_windows = 0;      // the same range
  float threshold_quantile = 0.0F;          // 0.5..1
  float threshold_margin = 1.0F;            // 1..1000
  float threshold_min = 0.0F;               // 0 < min <= threshold (key 9) <= max, finite
  float threshold_max = 0.0F;
};

inline constexpr std::uint32_t kMinCalibrationWindows = 16;
inline constexpr std::uint32_t kMaxCalibrationWindows = 65535;
// The highest scores a node keeps while setting its threshold: the quantile is exact
// (linear interpolation between order statistics, as the trainer computes it), so it needs
// every score from the lower of the two order statistics up.
inline constexpr std::size_t kMaxCalibrationTail = 64;

// How many of the highest of `windows` scores the quantile q reads: windows - floor(q *
// (windows - 1)). The manifest refuses a calibration for which this exceeds
// kMaxCalibrationTail.
std::size_t calibration_tail(std::uint32_t windows, float quantile);

// The rules of a calibration section on its own (the manifest decoder adds: a baseline, and
// the manifest's threshold within the bounds). Errors: kInvalidValue (windows, quantile,
// margin or bounds out of range, or a tail longer than kMaxCalibrationTail).
Status check_calibration(const Calibration& calibration);

// An int8 input and the exact int8 output the model must produce for it.
struct SelfTest {
  Bytes input;
  Bytes expected_output;
};

// What the device does with the model once it is verified (docs/firmware/shadow.md): make
// it the active model, or run it in shadow beside the active one, scoring the same windows
// without acting on its verdicts, until a signed decision (decision.hpp) promotes or
// discards it.
enum class ManifestRole : std::uint8_t { kActive = 0, kShadow = 1 };

// When a verified model may take over (docs/firmware/activation.md): at once, inside a
// daily maintenance window (UTC), or while the node's application reports its machine
// idle. The download, verification and self-tests happen ahead; only the switch waits.
// Signed with the rest of the manifest, so the gateway cannot move it.
enum class ActivationMode : std::uint8_t { kImmediate = 0, kWindow = 1, kIdle = 2 };

inline constexpr std::uint32_t kMinutesPerDay = 1440;

struct Activation {
  ActivationMode mode = ActivationMode::kImmediate;  // key 14 absent
  std::uint16_t window_start_min = 0;                // kWindow: minutes after 00:00 UTC, 0..1439
  std::uint16_t window_length_min = 0;               // kWindow: 1..1440; may wrap past midnight
};

// Whether `minute_of_day` (0..1439, UTC) lies in the window [start, start + length), which
// may wrap past midnight. False for a mode other than kWindow.
bool window_contains(const Activation& activation, std::uint32_t minute_of_day);

// The rules of an activation on its own: kWindow needs a start below 1440 and a length of
// 1..1440, the other modes no window. Errors: kInvalidValue.
Status check_activation(const Activation& activation);

struct Manifest {
  std::string_view model_id;
  std::uint64_t version = 0;  // strictly increasing per device (anti-rollback)
  std::string_view device_id;
  Bytes payload_digest;  // SHA-256 of the payload as transferred and stored (ciphertext)
  std::uint32_t payload_size = 0;
  Encryption encryption;
  Requirements requirements;
  InputSpec input;
  float threshold = 0.0F;  // anomaly score above which a window is flagged
  std::array<FeatureBaseline, kMaxFeatures> baseline{};
  std::size_t baseline_count = 0;  // 0 or input.feature_count
  std::array<SelfTest, kMaxSelfTests> self_tests{};
  std::size_t self_test_count = 0;
  bool has_calibration = false;  // key 12; requires the baseline
  Calibration calibration;
  ManifestRole role = ManifestRole::kActive;  // key 13, sent only for kShadow
  Activation activation;                      // key 14, sent only when not immediate
};

// Errors: kBufferTooSmall, kInvalidValue / kOversize when the manifest would not decode
// (the encoder refuses to produce what the decoder rejects).
Result<std::span<const std::uint8_t>> encode(const Manifest& manifest, std::span<std::uint8_t> out);

// Errors: the CBOR reader's, kMissingField, kDuplicateKey, kUnknownCriticalField,
// kOversize, kInvalidValue (ranges, lengths, baseline count, a calibration without a
// baseline, out of its ranges or with too long a tail, an activation mode other than window
// or idle, a window out of range, an idle activation with a window), kMissingField (also: a
// window activation without its start or length), kUnsupportedAlgorithm
// (an encryption alg other than 33).
Result<Manifest> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::manifest
