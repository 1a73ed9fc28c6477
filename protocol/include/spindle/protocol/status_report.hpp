// What a node POSTs to /d/{id}/status (protocol/cddl/status_report.cddl): either an update
// report (one transition of the model-install state machine, with its reason) or an
// attestation answer (a MAC over the gateway's nonce and what the node actually runs).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::status_report {

enum class Kind : std::uint8_t { kUpdate = 0, kAttestation = 1 };

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
};
inline constexpr std::uint8_t kMaxInstallState = 9;

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

struct StatusReport {
  Kind kind = Kind::kUpdate;
  UpdateReport update;            // when kind == kUpdate
  AttestationReport attestation;  // when kind == kAttestation
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

// Errors: kBufferTooSmall; kInvalidValue / kOversize for content the decoder would refuse.
Result<std::span<const std::uint8_t>> encode(const StatusReport& report,
                                             std::span<std::uint8_t> out);

// Errors: the CBOR reader's, kMissingField, kDuplicateKey, kUnknownCriticalField,
// kOversize, kInvalidValue (unknown kind, state or reason; a field of the other kind).
Result<StatusReport> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::status_report
