// What a node POSTs to /d/{id}/status (protocol/cddl/status_report.cddl): an update report
// (one transition of the model-install state machine, with its reason), an attestation
// answer (a MAC over the gateway's nonce and what the node actually runs), or a
// calibration report (how far the node has adapted the active model to its machine), or a
// shadow report (how a candidate running in shadow compares with the active model).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::status_report {

enum class Kind : std::uint8_t { kUpdate = 0, kAttestation = 1, kCalibration = 2, kShadow = 3 };

// Stages of a model installation as the node reports them.
enum class InstallState : std::uint8_t {
  kManifestAccepted = 0,
  kManifestRejected = 1,
  kDownloading = 2,
  kDownloaded = 3,
  kVerified = 4,
  kSelfTestPassed = 5,
  kActivated = 6,
  kConfirmed = 7,
  kRolledBack = 8,
  kFailed = 9,
  kShadowing = 10,         // verified, loaded beside the active model, scoring in shadow
  kDiscarded = 11,         // a shadow dropped by a signed discard decision
  kDecisionRejected = 12,  // a signed decision the node refused (reason says why)
  // Verified and self-tested in the inactive slot (or promoted from shadow), waiting for the
  // manifest's activation condition (a maintenance window, the machine idle); the running
  // model keeps running until then.
  kAwaitingActivation = 13,
};
inline constexpr std::uint8_t kMaxInstallState = 13;

// Stable name of a state ("manifest-accepted", "rolled-back", ...), as operators see it.
const char* install_state_name(InstallState state);

inline constexpr std::size_t kMaxDetailSize = 64;
inline constexpr std::size_t kMinNonceSize = 8;
inline constexpr std::size_t kMaxNonceSize = 32;

struct UpdateReport {
  std::string_view model_id;
  std::uint64_t version = 0;
  InstallState state = InstallState::kManifestAccepted;
  Error reason = Error::kOk;  // why (kOk for a transition that is simply progress)
  std::string_view detail;    // optional free text for operators
};

struct AttestationReport {
  std::span<const std::uint8_t> nonce;          // echoed from the gateway's challenge
  std::span<const std::uint8_t> active_digest;  // SHA-256 of the active slot's payload
  std::string_view firmware_version;
  std::span<const std::uint8_t> mac;  // attestation_mac() over the above
};

// Where the active model's per-machine calibration stands (docs/firmware/calibration.md).
enum class CalibrationState : std::uint8_t {
  kNone = 0,          // the model carries no calibration: it runs as trained
  kNormalizing = 1,   // learning the machine's feature statistics; no alarms yet
  kThresholding = 2,  // scoring with them to set the threshold; no alarms yet
  kCalibrated = 3,    // adapted; alarms on
};
inline constexpr std::uint8_t kMaxCalibrationState = 3;
// "none", "normalizing", "thresholding", "calibrated".
const char* calibration_state_name(CalibrationState state);

// Whether the learned threshold hit one of the manifest's bounds.
enum class ThresholdClamp : std::uint8_t { kNone = 0, kLower = 1, kUpper = 2 };
inline constexpr std::uint8_t kMaxThresholdClamp = 2;
// "none", "lower", "upper".
const char* threshold_clamp_name(ThresholdClamp clamp);

struct CalibrationReport {
  std::string_view model_id;
  std::uint64_t version = 0;
  CalibrationState state = CalibrationState::kNone;
  std::uint32_t generation = 0;     // calibrations of this model on this device, 1 = first
  std::uint32_t windows_done = 0;   // of this calibration so far
  std::uint32_t windows_total = 0;  // the manifest's normalization + threshold windows
  float threshold = 0.0F;           // in force: the manifest's until calibrated
  ThresholdClamp clamp = ThresholdClamp::kNone;
  // The machine's per-feature (mean, stddev) the node learned, as float32 little-endian
  // pairs in feature order (the packing of telemetry's feature_stats); empty while
  // normalizing or without calibration.
  std::span<const std::uint8_t> normalization;
};

// Score histograms of a shadow report: bin i counts windows whose score / threshold lies in
// [i / kHistogramBinsPerThreshold, (i + 1) / kHistogramBinsPerThreshold), the last bin
// everything above; each model's score against its own threshold in force.
inline constexpr std::size_t kHistogramBins = 16;
inline constexpr std::uint32_t kHistogramBinsPerThreshold = 8;
// The bin of `score` against `threshold` (> 0); NaN falls in the last bin.
std::size_t histogram_bin(float score, float threshold);

// How a candidate running in shadow compares with the active model on the same windows
// (docs/firmware/shadow.md). Counters are cumulative since the shadow was loaded (a reboot
// starts them again).
struct ShadowReport {
  std::string_view model_id;  // the shadow's
  std::uint64_t version = 0;
  std::uint32_t scored = 0;            // windows both models scored
  std::uint32_t compared = 0;          // of those, judged by both (neither calibrating)
  std::uint32_t agreed = 0;            // of those compared, the same verdict (<= compared)
  std::uint32_t active_anomalies = 0;  // of those compared (<= compared)
  std::uint32_t shadow_anomalies = 0;
  std::array<std::uint32_t, kHistogramBins> active_histogram{};  // every scored window
  std::array<std::uint32_t, kHistogramBins> shadow_histogram{};
  std::uint32_t latency_mean_us = 0;                       // the shadow's inference, per window
  std::uint32_t latency_max_us = 0;                        // >= the mean
  CalibrationState calibration = CalibrationState::kNone;  // the shadow's own
  std::uint32_t arena_high_water = 0;                      // the shadow's arena, bytes
};

struct StatusReport {
  Kind kind = Kind::kUpdate;
  UpdateReport update;            // when kind == kUpdate
  AttestationReport attestation;  // when kind == kAttestation
  CalibrationReport calibration;  // when kind == kCalibration
  ShadowReport shadow;            // when kind == kShadow
};

// HMAC-SHA256, keyed with the device's attestation key (crypto::KeyPurpose::kAttestation),
// over the CBOR array ["spindle-attest-v1", device_id, nonce, active_digest,
// firmware_version]. Binding the device id stops one device's answer being replayed as
// another's. Errors: kInvalidValue / kOversize for out-of-range inputs.
Result<crypto::Digest> attestation_mac(std::span<const std::uint8_t> attestation_key,
                                       std::string_view device_id,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> active_digest,
                                       std::string_view firmware_version);

// Errors: kBufferTooSmall; kInvalidValue / kOversize for content the decoder would refuse
// (for a calibration report also: windows_done above windows_total, a threshold that is
// not finite and positive, normalization bytes not a whole number of pairs, normalization
// present while normalizing or absent once past it; for a shadow report: agreed or an
// anomaly count above compared, compared above scored, a histogram whose bins do not add
// up to scored, a mean latency above the maximum).
Result<std::span<const std::uint8_t>> encode(const StatusReport& report,
                                             std::span<std::uint8_t> out);

// Errors: the CBOR reader's, kMissingField, kDuplicateKey, kUnknownCriticalField,
// kOversize, kInvalidValue (unknown kind, state, clamp or reason; a field of another kind;
// what encode() refuses).
Result<StatusReport> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::status_report
