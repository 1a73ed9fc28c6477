#include "spindle/sensor/random.hpp"

#include <cmath>

namespace spindle::sensor {
namespace {

constexpr std::uint32_t rotl(std::uint32_t x, int k) {
  return (x << k) | (x >> (32 - k));
}

constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

Random::Random(std::uint64_t seed) {
  // splitmix64 never yields four zero words from one seed, the one state xoshiro forbids.
  for (std::size_t i = 0; i < state_.size(); i += 2) {
    const std::uint64_t word = splitmix64(seed);
    state_[i] = static_cast<std::uint32_t>(word);
    state_[i + 1] = static_cast<std::uint32_t>(word >> 32);
  }
}

std::uint32_t Random::next_u32() {
  const std::uint32_t result = rotl(state_[1] * 5U, 7) * 9U;
  const std::uint32_t t = state_[1] << 9;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 11);
  return result;
}

float Random::uniform() {
  // The top 24 bits are exact in a float; +1 moves the range from [0, 1) to (0, 1].
  return static_cast<float>((next_u32() >> 8) + 1U) * 0x1.0p-24F;
}

float Random::gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  constexpr float kTwoPi = 6.28318530718F;
  const float radius = std::sqrt(-2.0F * std::log(uniform()));
  const float angle = kTwoPi * uniform();
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

}  // namespace spindle::sensor
