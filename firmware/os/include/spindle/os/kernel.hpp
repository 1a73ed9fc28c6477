// Time and sleeping, the kernel facade's clock (Zephyr: k_timeout_t, k_uptime_get, k_sleep).
//
// Every facade call that may block takes a Timeout. A Timeout counts milliseconds because
// that is the resolution the node needs (sample windows, retries, health periods) and it
// keeps the arithmetic free of tick conversions on both backends.
#pragma once

#include <cstdint>

namespace spindle::os {

struct Timeout {
  // Milliseconds to wait: 0 polls, any negative value waits forever.
  std::int64_t ms;

  static constexpr Timeout millis(std::int64_t milliseconds) { return Timeout{milliseconds}; }

  constexpr bool is_no_wait() const { return ms == 0; }
  constexpr bool is_forever() const { return ms < 0; }

  friend constexpr bool operator==(Timeout a, Timeout b) = default;
};

inline constexpr Timeout kNoWait{0};
inline constexpr Timeout kForever{-1};

// Milliseconds since the node started (process start on native_sim). Monotonic; never
// fails.
std::int64_t uptime_ms();

// Microseconds since the node started, for latency measurements. Monotonic; never fails.
std::int64_t uptime_us();

// Puts the calling thread to sleep for at least `ms` milliseconds; `ms <= 0` only yields
// the processor. Never fails.
void sleep_ms(std::int64_t ms);

}  // namespace spindle::os
