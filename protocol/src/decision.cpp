#include "spindle/protocol/decision.hpp"

#include <array>

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::decision {
namespace {

// Keys of protocol/cddl/decision.cddl.
enum Key : std::int64_t { kDeviceId = 1, kAction = 2, kModelId = 3, kVersion = 4, kDigest = 5 };
constexpr std::size_t kMaxEntries = 16;  // room for optional (negative-key) extensions
constexpr char kExternalAad[] = "spindle-decision-v1";

Status validate(const Decision& d) {
  SPINDLE_TRY(check_id(d.device_id));
  SPINDLE_TRY(check_id(d.model_id));
  if (static_cast<std::uint8_t>(d.action) > kMaxAction) return Error::kInvalidValue;
  if (d.payload_digest.size() != kDigestSize) return Error::kInvalidValue;
  return kOk;
}

}  // namespace

const char* action_name(Action action) {
  constexpr std::array<const char*, kMaxAction + 1> kNames = {"promote", "discard", "revert"};
  const auto index = static_cast<std::size_t>(action);
  return index < kNames.size() ? kNames[index] : "unknown";
}

std::span<const std::uint8_t> external_aad() {
  return crypto::as_bytes(std::string_view(kExternalAad));
}

Result<std::span<const std::uint8_t>> encode(const Decision& d, std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(d));
  cbor::Writer w(out);
  w.map(5);
  w.uint(kDeviceId).text(d.device_id);
  w.uint(kAction).uint(static_cast<std::uint8_t>(d.action));
  w.uint(kModelId).text(d.model_id);
  w.uint(kVersion).uint(d.version);
  w.uint(kDigest).bytes(d.payload_digest);
  return w.finish();
}

Result<Decision> decode(std::span<const std::uint8_t> payload) {
  cbor::Reader r(payload);
  Decision d;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kDeviceId:
        return codec::read_id(r, &d.device_id);
      case kAction: {
        std::uint8_t action = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &action, 0, kMaxAction));
        d.action = static_cast<Action>(action);
        return kOk;
      }
      case kModelId:
        return codec::read_id(r, &d.model_id);
      case kVersion:
        return codec::read_uint_into(r, &d.version);
      case kDigest:
        return codec::read_fixed_bytes(r, kDigestSize, &d.payload_digest);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kDeviceId, kAction, kModelId, kVersion, kDigest}));
  SPINDLE_TRY(validate(d));
  return d;
}

Result<std::span<const std::uint8_t>> sign(const Decision& decision,
                                           const crypto::EcPrivateKey& key,
                                           std::span<const std::uint8_t> kid,
                                           std::span<std::uint8_t> out) {
  std::array<std::uint8_t, kMaxEncodedSize> payload{};
  SPINDLE_TRY_ASSIGN(const auto encoded, encode(decision, payload));
  return cose::sign(key, kid, encoded, out, external_aad());
}

Result<Decision> verify(std::span<const std::uint8_t> signed_decision,
                        std::span<const cose::TrustedKey> trusted_keys) {
  if (signed_decision.size() > kMaxSignedSize) return Error::kOversize;
  SPINDLE_TRY_ASSIGN(const cose::Sign1 sign1,
                     cose::verify(signed_decision, trusted_keys, external_aad()));
  return decode(sign1.payload);
}

}  // namespace spindle::decision
