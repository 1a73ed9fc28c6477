// Random draws shared by the impairments of spindle::linkemu (Link and Corruption), so
// every decision is made from a std::mt19937_64 the same way on every standard library.
#pragma once

#include <cstdint>
#include <random>

namespace spindle::linkemu::detail {

// Uniform in [0, 1): the top 53 bits as a double, unlike std::uniform_real_distribution
// the same value on every standard library.
inline double unit_draw(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// A probability clamped to [0, 1]; NaN becomes 0.
inline double clamp_probability(double p) {
  return p >= 0 && p <= 1 ? p : (p > 1 ? 1.0 : 0.0);
}

}  // namespace spindle::linkemu::detail
