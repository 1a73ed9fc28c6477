// The attestation challenges outstanding, one per device at most (docs/delivery.md
// "Attestation"): what the CoAP side piggybacks on a device's 2.xx answers and judges its
// attestation report against (attestation.hpp judge_attestation).
//
// A challenge is outstanding from issue() until it expires, is replaced by a newer one,
// or is used up by a verdict that proves something about it (kMatch, kMismatch). A verdict
// that could not be stored was not given: the challenge it used up comes back, unless a
// new one was issued meanwhile (the node's next answer must find the nonce it used).
//
// One thread owns a ChallengeBook (the CoAP thread); it does no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "spindle/gateway/attestation.hpp"

namespace spindle::gateway {

class ChallengeBook {
 public:
  // Makes `challenge` the device's outstanding one, replacing any earlier one.
  void issue(std::string_view device_id, const Challenge& challenge);

  // The device's outstanding challenge, null when none is (an expired one is dropped).
  // The pointer is valid until the next call that changes the book.
  const Challenge* outstanding(std::string_view device_id, std::int64_t now_ms);

  // After `verdict` was reached on an answer: a kMatch or kMismatch uses the outstanding
  // challenge up, and it is returned (to give back should the verdict not be stored);
  // any other verdict leaves it outstanding and returns nullopt.
  std::optional<Challenge> consume(std::string_view device_id, Verdict verdict);

  // The verdict that used `consumed` up could not be stored: it is outstanding again,
  // unless the device has another challenge outstanding by now. Nothing when nullopt.
  void give_back(std::string_view device_id, const std::optional<Challenge>& consumed);

  // Drops every challenge expired at `now_ms` (housekeeping).
  void drop_expired(std::int64_t now_ms);

  std::size_t size() const { return challenges_.size(); }

 private:
  std::unordered_map<std::string, Challenge> challenges_;
};

}  // namespace spindle::gateway
