// A signed operator decision about one device's models (protocol/cddl/decision.cddl,
// docs/delivery.md "Decisions"): promote the candidate running in shadow to the active
// model, discard it, or revert from the active model to the one still in the other slot.
//
// A decision is a COSE_Sign1 (ES256) over the CBOR map below, signed with the external AAD
// "spindle-decision-v1" so that no manifest or package signature ever verifies as one. It
// names the device and exactly one model (id, version, payload digest): the node carries it
// out only while that model is where the action expects it (the shadow slot for promote and
// discard, the active slot for revert), so a decision cannot be replayed against any other
// model, and one that already took effect changes nothing. The gateway holds no signing
// key: spindlectl signs every decision a rollout may release when the rollout is created,
// and the gateway only decides when to send it (piggybacked, gateway_request key 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::decision {

enum class Action : std::uint8_t { kPromote = 0, kDiscard = 1, kRevert = 2 };
inline constexpr std::uint8_t kMaxAction = 2;
// "promote", "discard", "revert".
const char* action_name(Action action);

struct Decision {
  std::string_view device_id;
  Action action = Action::kPromote;
  std::string_view model_id;  // the model the action is about
  std::uint64_t version = 0;
  std::span<const std::uint8_t> payload_digest;  // 32 bytes: its payload (ciphertext) digest
};

// Map head, five keys, two ids, a version, a digest.
inline constexpr std::size_t kMaxEncodedSize =
    1 + 5 + 2 * (2 + kMaxIdSize) + 1 + 9 + 2 + kDigestSize;
inline constexpr std::size_t kMaxSignedSize = kMaxEncodedSize + cose::kSign1Overhead;

// The external AAD every decision signature covers.
std::span<const std::uint8_t> external_aad();

// Errors: kInvalidValue (an id check_id refuses, an action above kMaxAction, a digest not
// 32 bytes), kBufferTooSmall.
Result<std::span<const std::uint8_t>> encode(const Decision& decision, std::span<std::uint8_t> out);

// Errors: the CBOR reader's, kDuplicateKey, kUnknownCriticalField, kMissingField,
// kInvalidValue (what encode() refuses).
Result<Decision> decode(std::span<const std::uint8_t> payload);

// Encodes and signs into `out`. Errors: encode()'s, cose::sign()'s.
Result<std::span<const std::uint8_t>> sign(const Decision& decision,
                                           const crypto::EcPrivateKey& key,
                                           std::span<const std::uint8_t> kid,
                                           std::span<std::uint8_t> out);

// Verifies the COSE_Sign1 against the trusted keys (with external_aad()) and decodes its
// payload; the views point into `signed_decision`. Errors: kOversize (longer than
// kMaxSignedSize), cose::verify()'s, decode()'s.
Result<Decision> verify(std::span<const std::uint8_t> signed_decision,
                        std::span<const cose::TrustedKey> trusted_keys);

}  // namespace spindle::decision
