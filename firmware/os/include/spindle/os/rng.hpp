// Random bytes for nonces, tokens and jitter (Zephyr: sys_csrand_get / sys_rand_get).
#pragma once

#include <cstdint>
#include <span>

#include "spindle/status.hpp"

namespace spindle::os {

// Fills `out` with cryptographically strong random bytes (getrandom(2) on POSIX, the
// entropy driver on a real board). An empty span succeeds.
// Errors: kIoError if the entropy source fails.
Status random_fill(std::span<std::uint8_t> out);

}  // namespace spindle::os
