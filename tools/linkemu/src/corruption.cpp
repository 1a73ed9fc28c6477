#include "spindle/linkemu/corruption.hpp"

#include "draws_private.hpp"

namespace spindle::linkemu {

namespace {

// splitmix64's finalizer: the corruption streams start from seeds unrelated to those of
// the Links (which use direction_seed() as is), so the decisions are not correlated.
std::uint64_t mix(std::uint64_t z) {
  z += 0x9E37'79B9'7F4A'7C15ULL;
  z = (z ^ (z >> 30U)) * 0xBF58'476D'1CE4'E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D0'49BB'1331'11EBULL;
  return z ^ (z >> 31U);
}

}  // namespace

Corruption::Corruption(CorruptionConfig config, std::uint64_t seed)
    : config_(config),
      rng_{std::mt19937_64(mix(direction_seed(seed, Direction::kToUpstream))),
           std::mt19937_64(mix(direction_seed(seed, Direction::kToClient)))} {
  config_.probability = detail::clamp_probability(config_.probability);
}

bool Corruption::applies_to(Direction direction) const {
  return direction == Direction::kToUpstream ? config_.to_upstream : config_.to_client;
}

bool Corruption::apply(Direction direction, std::span<std::uint8_t> payload) {
  const auto index = static_cast<std::size_t>(direction);
  std::mt19937_64& rng = rng_[index];
  const double chance = detail::unit_draw(rng);
  const std::uint64_t position = rng();
  const std::uint64_t so_far = corrupted_[0] + corrupted_[1];
  if (!applies_to(direction) || payload.empty() || payload.size() < config_.min_bytes ||
      so_far >= config_.limit || chance >= config_.probability) {
    return false;
  }
  // Modulo bias is below 2^-40 for any UDP payload.
  const std::uint64_t bit = position % (static_cast<std::uint64_t>(payload.size()) * 8U);
  payload[bit / 8U] ^= static_cast<std::uint8_t>(1U << (bit % 8U));
  ++corrupted_[index];
  return true;
}

}  // namespace spindle::linkemu
