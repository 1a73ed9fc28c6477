// The attestation challenge (protocol/cddl/challenge.cddl): a nonce the gateway piggybacks,
// as content-format 60, on its 2.xx answers to a device's registration, refresh and
// telemetry while an attestation is outstanding. The node echoes the nonce in an
// attestation status report (status_report.hpp), MACed with what it actually runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/status.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::challenge {

// Map head, key, byte-string head (two bytes above 23) and the longest nonce.
inline constexpr std::size_t kMaxEncodedSize = 4 + status_report::kMaxNonceSize;

// Encodes {1: nonce}. Errors: kInvalidValue (nonce shorter than
// status_report::kMinNonceSize), kOversize (longer than kMaxNonceSize), kBufferTooSmall.
Result<std::span<const std::uint8_t>> encode(std::span<const std::uint8_t> nonce,
                                             std::span<std::uint8_t> out);

// The nonce, a view into `input`. Errors: the CBOR reader's, kDuplicateKey,
// kUnknownCriticalField (a key >= 0 other than 1; negative keys are skipped), kMissingField,
// kOversize (nonce longer than kMaxNonceSize), kInvalidValue (shorter than kMinNonceSize).
Result<std::span<const std::uint8_t>> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::challenge
