#include "spindle/gateway/attestation.hpp"

#include <sys/random.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {
namespace {

// Indexed by Verdict.
constexpr std::array<const char*, kVerdictCount> kEventKinds = {
    "attestation", "attestation-mismatch", "attestation-failed", "attestation-stale"};

}  // namespace

Result<Challenge> draw_challenge(std::int64_t now_ms) {
  Challenge challenge;
  if (getrandom(challenge.nonce.data(), challenge.nonce.size(), 0) !=
      static_cast<ssize_t>(challenge.nonce.size())) {
    spdlog::error("attestation: no randomness for a challenge: {}", std::strerror(errno));
    return Error::kIoError;
  }
  challenge.expires_ms = now_ms + kChallengeLifetimeMs;
  return challenge;
}

const char* verdict_event_kind(Verdict verdict) {
  return kEventKinds[static_cast<std::size_t>(verdict)];
}

Verdict judge_attestation(std::span<const std::uint8_t> attestation_key, std::string_view device_id,
                          const status_report::AttestationReport& answer,
                          const Challenge* outstanding, std::int64_t now_ms,
                          std::string_view expected_digest_hex) {
  const auto expected_mac = status_report::attestation_mac(
      attestation_key, device_id, answer.nonce, answer.active_digest, answer.firmware_version);
  if (!expected_mac.ok() || !crypto::equal_constant_time(*expected_mac, answer.mac)) {
    return Verdict::kMacInvalid;
  }
  if (outstanding == nullptr || outstanding->expired(now_ms) ||
      !crypto::equal_constant_time(outstanding->nonce, answer.nonce)) {
    return Verdict::kStale;
  }
  if (expected_digest_hex.empty()) {
    const bool runs_nothing = std::all_of(answer.active_digest.begin(), answer.active_digest.end(),
                                          [](std::uint8_t byte) { return byte == 0; });
    return runs_nothing ? Verdict::kMatch : Verdict::kMismatch;
  }
  std::array<std::uint8_t, kDigestSize> expected{};
  const auto size = hex::decode(expected_digest_hex, expected);
  const bool same = size.ok() && *size == expected.size() &&
                    crypto::equal_constant_time(expected, answer.active_digest);
  return same ? Verdict::kMatch : Verdict::kMismatch;
}

}  // namespace spindle::gateway
