// The gateway's side of attestation (docs/delivery.md "Attestation"): the challenge an
// operator asks for, and the verdict on the node's answer to it.
//
// The operator API draws a challenge and hands it to the CoAP side (FleetListener), which
// keeps it outstanding (challenge_book.hpp), piggybacks it on the device's 2.xx answers
// (protocol/challenge.hpp) and judges the attestation status report that answers it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/gateway/record_states.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

inline constexpr std::size_t kChallengeNonceSize = 16;
inline constexpr std::int64_t kChallengeLifetimeMs = 10 * 60 * 1000;
static_assert(kChallengeNonceSize >= status_report::kMinNonceSize &&
              kChallengeNonceSize <= status_report::kMaxNonceSize);

struct Challenge {
  std::array<std::uint8_t, kChallengeNonceSize> nonce{};
  std::int64_t expires_ms = 0;  // wall clock (clock.hpp now_ms)

  bool expired(std::int64_t now_ms) const { return now_ms >= expires_ms; }
};

// A fresh random nonce (getrandom), valid kChallengeLifetimeMs from `now_ms`.
// Errors: kIoError (the kernel gave no randomness; logged).
Result<Challenge> draw_challenge(std::int64_t now_ms);

// The verdict is a record state of the store (record_states.hpp), named there:
// attestation_verdict_name gives "match", "mismatch", "mac-invalid", "stale".
using Verdict = AttestationVerdict;
inline constexpr std::size_t kVerdictCount = kAttestationVerdictCount;

// The event recorded with the verdict: "attestation", "attestation-mismatch",
// "attestation-failed", "attestation-stale".
const char* verdict_event_kind(Verdict verdict);

// Judges an attestation answer, in this order:
//   1. the MAC must verify under the device's attestation key, else kMacInvalid (an answer
//      that does not prove the key says nothing, and does not use up the challenge);
//   2. the nonce must be the outstanding, unexpired challenge, else kStale;
//   3. the active digest must be `expected_digest_hex`, the payload digest of the device's
//      current deployment, else kMismatch. With nothing deployed ("") the node must run
//      nothing, which it reports as the all-zero digest.
// `outstanding` is null when no challenge is outstanding. A caller consumes the challenge
// on kMatch and kMismatch.
Verdict judge_attestation(std::span<const std::uint8_t> attestation_key, std::string_view device_id,
                          const status_report::AttestationReport& answer,
                          const Challenge* outstanding, std::int64_t now_ms,
                          std::string_view expected_digest_hex);

}  // namespace spindle::gateway
