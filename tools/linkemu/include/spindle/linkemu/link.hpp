// One direction of an emulated link: the pure core of spindle-linkemu, with no I/O. The
// caller supplies the time (microseconds since the emulation started) and the link owns a
// seeded std::mt19937_64, so a run is reproducible: the same seed and the same submissions
// at the same times give the same decisions.
//
// What happens to a submitted datagram, in this order:
//   1. inside a blackout window            -> dropped (dropped_blackout)
//   2. with probability `loss`             -> dropped (dropped_loss), like netem's loss on
//                                             enqueue: a lost datagram takes no link time
//   3. rate limit: it waits for the link to be free, then takes size * 8 / rate to
//      serialize; when the bytes waiting for (or on) the serializer would exceed
//      queue_bytes                         -> dropped (dropped_queue, drop-tail)
//   4. it leaves at serialization end + delay + uniform jitter in [-jitter, +jitter]
//      (never before serialization end); with probability `reorder` it gets reorder_extra
//      on top, so datagrams behind it overtake it (reordered)
//   5. with probability `duplicate` a copy follows it through steps 3-4 with its own
//      jitter (duplicated; no copy when the queue has no room for it)
// Every submission draws the same five random numbers whatever the outcome, so a datagram's
// decisions depend only on the seed and its position in the sequence, not on the other
// settings.
//
// Accounting: received + duplicated == forwarded + dropped_loss + dropped_queue +
// dropped_blackout + pending().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

namespace spindle::linkemu {

using Micros = std::chrono::microseconds;

// The two directions of the relay: client -> upstream ("up") and upstream -> client
// ("down").
enum class Direction : std::uint8_t { kToUpstream, kToClient };

// The seed of a direction's decisions, derived from the one --seed: the client-bound
// direction steps it by the golden ratio (as splitmix64 does), so the two directions do
// not make the same decisions.
std::uint64_t direction_seed(std::uint64_t seed, Direction direction);

// Everything is dropped at start <= t < start + duration.
struct Blackout {
  Micros start{0};
  Micros duration{0};
};

struct LinkConfig {
  Micros delay{0};
  Micros jitter{0};                  // uniform +/-; the total delay is clamped at 0
  std::uint64_t rate_bps = 0;        // bits per second; 0: unlimited (no serialization)
  std::size_t queue_bytes = 65'536;  // bytes waiting for or on the serializer (rate > 0)
  double loss = 0;                   // probabilities, 0..1
  double duplicate = 0;
  double reorder = 0;
  Micros reorder_extra{20'000};  // added to a reordered datagram's delay
  std::vector<Blackout> blackouts;
  // Bounds on everything scheduled but not yet due, whatever the rate (the delay line
  // holds rate x delay worth of traffic); past them a datagram is dropped_queue.
  std::size_t max_pending = 65'536;
  std::size_t max_pending_bytes = 64U << 20;
};

struct LinkStats {
  std::uint64_t received = 0;   // submitted
  std::uint64_t forwarded = 0;  // handed out by due(), copies included
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_queue = 0;
  std::uint64_t dropped_blackout = 0;
  std::uint64_t duplicated = 0;  // extra copies scheduled
  std::uint64_t reordered = 0;   // datagrams given reorder_extra
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes = 0;  // bytes forwarded
};

// A datagram and an opaque flow number the caller uses to route it (the relay's session).
struct Datagram {
  std::uint64_t flow = 0;
  std::vector<std::uint8_t> payload;
};

enum class Verdict : std::uint8_t { kScheduled, kDroppedBlackout, kDroppedLoss, kDroppedQueue };

// What submit() decided. departure and duplicate_departure are meaningful only when the
// verdict is kScheduled (and, for the copy, when duplicated).
struct Schedule {
  Verdict verdict = Verdict::kScheduled;
  Micros departure{0};
  bool reordered = false;
  bool duplicated = false;
  Micros duplicate_departure{0};
};

class Link {
 public:
  // Preconditions (the command line checks them): probabilities in [0, 1], non-negative
  // times, queue_bytes > 0. Out-of-range probabilities are clamped.
  Link(LinkConfig config, std::uint64_t seed);

  // Takes a datagram arriving at `now` (not earlier than a previous call's `now`) and
  // decides its fate. Never fails: a drop is a verdict, counted in stats().
  Schedule submit(Micros now, Datagram datagram);

  // Removes and returns the datagrams that leave at or before `now`, earliest first (ties
  // in submission order). Empty when nothing is due.
  std::vector<Datagram> due(Micros now);

  // When the earliest scheduled datagram leaves; nullopt when nothing is scheduled.
  std::optional<Micros> next_due() const;

  std::size_t pending() const { return scheduled_.size(); }
  const LinkStats& stats() const { return stats_; }
  const LinkConfig& config() const { return config_; }

  bool in_blackout(Micros now) const;

 private:
  struct Draws {
    double loss;
    double duplicate;
    double reorder;
    std::int64_t jitter;
    std::int64_t duplicate_jitter;
  };

  Draws draw();
  std::int64_t jitter_offset();  // uniform in [-jitter, +jitter]
  // Serializes `size` bytes arriving at `now`; nullopt when the queue has no room.
  std::optional<Micros> serialize(Micros now, std::size_t size);
  bool fits_pending(std::size_t size) const;
  Micros departure_after(Micros serialized, std::int64_t jitter) const;
  void schedule(Micros at, Datagram datagram);

  LinkConfig config_;
  std::mt19937_64 rng_;
  LinkStats stats_;
  // Datagrams on or waiting for the serializer: (serialization end, size).
  std::deque<std::pair<Micros, std::size_t>> serializer_;
  std::size_t serializer_bytes_ = 0;
  Micros link_free_at_{0};
  // Keyed by (departure, submission number): one order for due(), ties kept FIFO.
  std::map<std::pair<Micros, std::uint64_t>, Datagram> scheduled_;
  std::size_t scheduled_bytes_ = 0;
  std::uint64_t next_number_ = 0;
};

}  // namespace spindle::linkemu
