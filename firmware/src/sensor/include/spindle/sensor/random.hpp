// A small, seeded, reproducible pseudo-random generator for the simulator (not for keys or
// nonces: those come from spindle::os::random_fill). xoshiro128** 1.1 (Blackman & Vigna,
// https://prng.di.unimi.it/), seeded through splitmix64, Gaussians by Box-Muller: the same
// seed gives the same sequence on every platform with IEEE-754 float and a conforming libm.
#pragma once

#include <array>
#include <cstdint>

namespace spindle::sensor {

class Random {
 public:
  explicit Random(std::uint64_t seed = 0);

  std::uint32_t next_u32();
  // Uniform in (0, 1], 24 bits of resolution (never 0, so log() is safe).
  float uniform();
  // Standard normal (mean 0, variance 1).
  float gaussian();

 private:
  std::array<std::uint32_t, 4> state_{};
  float spare_ = 0.0F;
  bool has_spare_ = false;
};

}  // namespace spindle::sensor
