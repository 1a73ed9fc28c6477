#include "spindle/linkemu/link.hpp"

#include <algorithm>

#include "draws_private.hpp"

namespace spindle::linkemu {

namespace {

using detail::clamp_probability;
using detail::unit_draw;

constexpr std::uint64_t kMicrosPerSecond = 1'000'000;
// The golden-ratio step of splitmix64.
constexpr std::uint64_t kDirectionSeedStep = 0x9E37'79B9'7F4A'7C15ULL;

// Time to put `size` bytes on a link of `rate_bps`, rounded up to a whole microsecond.
Micros serialization_time(std::size_t size, std::uint64_t rate_bps) {
  const std::uint64_t bits = static_cast<std::uint64_t>(size) * 8U;
  return Micros(static_cast<Micros::rep>((bits * kMicrosPerSecond + rate_bps - 1) / rate_bps));
}

}  // namespace

std::uint64_t direction_seed(std::uint64_t seed, Direction direction) {
  return direction == Direction::kToClient ? seed + kDirectionSeedStep : seed;
}

Link::Link(LinkConfig config, std::uint64_t seed) : config_(std::move(config)), rng_(seed) {
  config_.loss = clamp_probability(config_.loss);
  config_.duplicate = clamp_probability(config_.duplicate);
  config_.reorder = clamp_probability(config_.reorder);
  config_.delay = std::max(config_.delay, Micros(0));
  config_.jitter = std::max(config_.jitter, Micros(0));
  config_.reorder_extra = std::max(config_.reorder_extra, Micros(0));
}

std::int64_t Link::jitter_offset() {
  const std::uint64_t word = rng_();
  const auto span = static_cast<std::uint64_t>(config_.jitter.count());
  if (span == 0) return 0;
  // Modulo bias is below 2^-40 for any jitter under ~12 days.
  return static_cast<std::int64_t>(word % (2 * span + 1)) - static_cast<std::int64_t>(span);
}

Link::Draws Link::draw() {
  Draws d{};
  d.loss = unit_draw(rng_);
  d.duplicate = unit_draw(rng_);
  d.reorder = unit_draw(rng_);
  d.jitter = jitter_offset();
  d.duplicate_jitter = jitter_offset();
  return d;
}

bool Link::in_blackout(Micros now) const {
  return std::any_of(config_.blackouts.begin(), config_.blackouts.end(), [now](const Blackout& b) {
    return now >= b.start && now < b.start + b.duration;
  });
}

bool Link::fits_pending(std::size_t size) const {
  return scheduled_.size() < config_.max_pending &&
         scheduled_bytes_ + size <= config_.max_pending_bytes;
}

std::optional<Micros> Link::serialize(Micros now, std::size_t size) {
  if (config_.rate_bps == 0) return now;
  while (!serializer_.empty() && serializer_.front().first <= now) {
    serializer_bytes_ -= serializer_.front().second;
    serializer_.pop_front();
  }
  if (serializer_bytes_ + size > config_.queue_bytes) return std::nullopt;
  const Micros start = std::max(now, link_free_at_);
  link_free_at_ = start + serialization_time(size, config_.rate_bps);
  serializer_.emplace_back(link_free_at_, size);
  serializer_bytes_ += size;
  return link_free_at_;
}

Micros Link::departure_after(Micros serialized, std::int64_t jitter) const {
  const Micros propagation = std::max(config_.delay + Micros(jitter), Micros(0));
  return serialized + propagation;
}

void Link::schedule(Micros at, Datagram datagram) {
  scheduled_bytes_ += datagram.payload.size();
  scheduled_.emplace(std::make_pair(at, next_number_++), std::move(datagram));
}

Schedule Link::submit(Micros now, Datagram datagram) {
  const Draws d = draw();
  const std::size_t size = datagram.payload.size();
  ++stats_.received;
  stats_.bytes_received += size;

  Schedule result;
  if (in_blackout(now)) {
    ++stats_.dropped_blackout;
    result.verdict = Verdict::kDroppedBlackout;
    return result;
  }
  if (d.loss < config_.loss) {
    ++stats_.dropped_loss;
    result.verdict = Verdict::kDroppedLoss;
    return result;
  }
  const std::optional<Micros> serialized = fits_pending(size) ? serialize(now, size) : std::nullopt;
  if (!serialized) {
    ++stats_.dropped_queue;
    result.verdict = Verdict::kDroppedQueue;
    return result;
  }
  result.departure = departure_after(*serialized, d.jitter);
  if (d.reorder < config_.reorder) {
    result.departure += config_.reorder_extra;
    result.reordered = true;
    ++stats_.reordered;
  }
  const bool wants_copy = d.duplicate < config_.duplicate;
  Datagram copy;
  if (wants_copy) copy = datagram;
  schedule(result.departure, std::move(datagram));

  if (wants_copy && fits_pending(size)) {
    if (const std::optional<Micros> copy_serialized = serialize(now, size)) {
      result.duplicated = true;
      result.duplicate_departure = departure_after(*copy_serialized, d.duplicate_jitter);
      ++stats_.duplicated;
      schedule(result.duplicate_departure, std::move(copy));
    }
  }
  return result;
}

std::vector<Datagram> Link::due(Micros now) {
  std::vector<Datagram> out;
  while (!scheduled_.empty() && scheduled_.begin()->first.first <= now) {
    Datagram datagram = std::move(scheduled_.extract(scheduled_.begin()).mapped());
    scheduled_bytes_ -= datagram.payload.size();
    ++stats_.forwarded;
    stats_.bytes += datagram.payload.size();
    out.push_back(std::move(datagram));
  }
  return out;
}

std::optional<Micros> Link::next_due() const {
  if (scheduled_.empty()) return std::nullopt;
  return scheduled_.begin()->first.first;
}

}  // namespace spindle::linkemu
