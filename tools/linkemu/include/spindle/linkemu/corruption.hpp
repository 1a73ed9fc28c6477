// Bit errors on the emulated link: with some probability a datagram leaving the link has
// one uniformly chosen bit of its payload flipped, like a bit error the radio's CRC missed
// (the relay flips it before its own send, so the UDP checksum matches and the receiver
// gets the damaged payload).
//
// Corruption acts on datagrams as they leave a Link (its due() output, copies each on their
// own), so only forwarded datagrams are corrupted and counted. One Corruption serves both
// directions: `limit` counts corrupted datagrams across both, so a test can corrupt
// exactly one. Each direction draws from its own std::mt19937_64, derived from the seed:
// every datagram leaving in a direction draws the same two numbers whatever the outcome,
// so the decision for the n-th datagram of a direction depends only on the seed and n
// (and on how many were corrupted before it, once `limit` is reached).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <span>

#include "spindle/linkemu/link.hpp"

namespace spindle::linkemu {

struct CorruptionConfig {
  double probability = 0;     // per datagram, 0..1
  std::size_t min_bytes = 0;  // shorter datagrams (and empty ones) are never corrupted
  bool to_upstream = true;    // directions it applies to
  bool to_client = true;
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();  // over both directions
};

class Corruption {
 public:
  // An out-of-range probability is clamped to [0, 1].
  Corruption(CorruptionConfig config, std::uint64_t seed);

  // Decides whether `payload`, leaving the link in `direction`, is corrupted and if so
  // flips one bit of it. Returns whether it did; never fails.
  bool apply(Direction direction, std::span<std::uint8_t> payload);

  // Datagrams corrupted so far in `direction`.
  std::uint64_t corrupted(Direction direction) const {
    return corrupted_[static_cast<std::size_t>(direction)];
  }
  const CorruptionConfig& config() const { return config_; }

 private:
  bool applies_to(Direction direction) const;

  CorruptionConfig config_;
  std::array<std::mt19937_64, 2> rng_;  // indexed by Direction
  std::array<std::uint64_t, 2> corrupted_{};
};

}  // namespace spindle::linkemu
