#include "spindle/protocol/status_report.hpp"

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::status_report {

const char* install_state_name(InstallState state) {
  // Indexed by InstallState (its values are the wire's, 0..kMaxInstallState).
  constexpr std::array<const char*, kMaxInstallState + 1> kNames = {
      "manifest-accepted", "manifest-rejected", "downloading", "downloaded",  "verified",
      "self-test-passed",  "activated",         "confirmed",   "rolled-back", "failed"};
  const auto index = static_cast<std::size_t>(state);
  return index < kNames.size() ? kNames[index] : "unknown";
}
namespace {

enum Key : std::int64_t {
  kKind = 1,
  kModelId = 2,
  kVersion = 3,
  kState = 4,
  kReason = 5,
  kDetail = 6,
  kNonce = 7,
  kActiveDigest = 8,
  kFirmware = 9,
  kMac = 10,
};
constexpr std::size_t kMaxEntries = 16;
constexpr std::uint8_t kMaxReason = static_cast<std::uint8_t>(kLastError);

Status validate(const StatusReport& report) {
  if (report.kind == Kind::kUpdate) {
    const UpdateReport& u = report.update;
    SPINDLE_TRY(check_id(u.model_id));
    if (static_cast<std::uint8_t>(u.state) > kMaxInstallState) return Error::kInvalidValue;
    if (static_cast<std::uint8_t>(u.reason) > kMaxReason) return Error::kInvalidValue;
    if (u.detail.size() > kMaxDetailSize) return Error::kOversize;
    return kOk;
  }
  if (report.kind != Kind::kAttestation) return Error::kInvalidValue;
  const AttestationReport& a = report.attestation;
  if (a.nonce.size() < kMinNonceSize) return Error::kInvalidValue;
  if (a.nonce.size() > kMaxNonceSize) return Error::kOversize;
  if (a.active_digest.size() != kDigestSize || a.mac.size() != kDigestSize) {
    return Error::kInvalidValue;
  }
  if (a.firmware_version.empty()) return Error::kInvalidValue;
  if (a.firmware_version.size() > kMaxVersionTextSize) return Error::kOversize;
  return kOk;
}

}  // namespace

Result<crypto::Digest> attestation_mac(std::span<const std::uint8_t> attestation_key,
                                       std::string_view device_id,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> active_digest,
                                       std::string_view firmware_version) {
  SPINDLE_TRY(check_id(device_id));
  if (nonce.size() < kMinNonceSize || active_digest.size() != kDigestSize ||
      firmware_version.empty()) {
    return Error::kInvalidValue;
  }
  if (nonce.size() > kMaxNonceSize || firmware_version.size() > kMaxVersionTextSize) {
    return Error::kOversize;
  }
  std::uint8_t buffer[32 + kMaxIdSize + kMaxNonceSize + kDigestSize + kMaxVersionTextSize];
  cbor::Writer w(buffer);
  w.array(5)
      .text("spindle-attest-v1")
      .text(device_id)
      .bytes(nonce)
      .bytes(active_digest)
      .text(firmware_version);
  SPINDLE_TRY_ASSIGN(const auto message, w.finish());
  return crypto::hmac_sha256(attestation_key, message);
}

Result<StatusReport> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  StatusReport report;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kKind: {
        std::uint8_t kind = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &kind, 0, 1));
        report.kind = static_cast<Kind>(kind);
        return kOk;
      }
      case kModelId:
        return codec::read_id(r, &report.update.model_id);
      case kVersion:
        return codec::read_uint_into(r, &report.update.version);
      case kState: {
        std::uint8_t state = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &state, 0, kMaxInstallState));
        report.update.state = static_cast<InstallState>(state);
        return kOk;
      }
      case kReason: {
        std::uint8_t reason = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &reason, 0, kMaxReason));
        report.update.reason = static_cast<Error>(reason);
        return kOk;
      }
      case kDetail: {
        SPINDLE_TRY_ASSIGN(report.update.detail, r.read_text(kMaxDetailSize));
        return kOk;
      }
      case kNonce: {
        SPINDLE_TRY_ASSIGN(report.attestation.nonce, r.read_bytes(kMaxNonceSize));
        return kOk;
      }
      case kActiveDigest:
        return codec::read_fixed_bytes(r, kDigestSize, &report.attestation.active_digest);
      case kFirmware: {
        SPINDLE_TRY_ASSIGN(report.attestation.firmware_version, r.read_text(kMaxVersionTextSize));
        return kOk;
      }
      case kMac:
        return codec::read_fixed_bytes(r, kDigestSize, &report.attestation.mac);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kKind}));
  // Each kind has its own fields; a field of the other kind means the sender and this
  // decoder disagree about the message, which is refused rather than half-read.
  constexpr std::int64_t kUpdateKeys[] = {kModelId, kVersion, kState, kReason, kDetail};
  constexpr std::int64_t kAttestationKeys[] = {kNonce, kActiveDigest, kFirmware, kMac};
  if (report.kind == Kind::kUpdate) {
    SPINDLE_TRY(codec::require(seen, {kModelId, kVersion, kState, kReason}));
    for (const std::int64_t k : kAttestationKeys) {
      if (seen.has(k)) return Error::kInvalidValue;
    }
  } else {
    SPINDLE_TRY(codec::require(seen, {kNonce, kActiveDigest, kFirmware, kMac}));
    for (const std::int64_t k : kUpdateKeys) {
      if (seen.has(k)) return Error::kInvalidValue;
    }
  }
  SPINDLE_TRY(validate(report));
  return report;
}

Result<std::span<const std::uint8_t>> encode(const StatusReport& report,
                                             std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(report));
  cbor::Writer w(out);
  if (report.kind == Kind::kUpdate) {
    const UpdateReport& u = report.update;
    const bool detail = !u.detail.empty();
    w.map(5 + (detail ? 1U : 0U));
    w.uint(kKind).uint(0);
    w.uint(kModelId).text(u.model_id);
    w.uint(kVersion).uint(u.version);
    w.uint(kState).uint(static_cast<std::uint8_t>(u.state));
    w.uint(kReason).uint(static_cast<std::uint8_t>(u.reason));
    if (detail) w.uint(kDetail).text(u.detail);
  } else {
    const AttestationReport& a = report.attestation;
    w.map(5);
    w.uint(kKind).uint(1);
    w.uint(kNonce).bytes(a.nonce);
    w.uint(kActiveDigest).bytes(a.active_digest);
    w.uint(kFirmware).text(a.firmware_version);
    w.uint(kMac).bytes(a.mac);
  }
  return w.finish();
}

}  // namespace spindle::status_report
