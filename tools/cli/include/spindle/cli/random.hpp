// The operating system's random bytes (getrandom) for the host tools: content keys, nonces
// and signing keys. Header-only.
#pragma once

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace spindle::cli {

// Fills `out` with `length` random bytes; mbedTLS's f_rng signature, so it can be a
// crypto::RandomSource. Returns 0, or -1 when getrandom fails.
inline int system_random(void* /*context*/, unsigned char* out, std::size_t length) {
  std::size_t done = 0;
  while (done < length) {
    const ssize_t n = ::getrandom(out + done, length - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

// N random bytes. Throws std::runtime_error when the system has none to give.
template <std::size_t N>
std::array<std::uint8_t, N> random_bytes() {
  std::array<std::uint8_t, N> out{};
  if (system_random(nullptr, out.data(), out.size()) != 0) {
    throw std::runtime_error("getrandom failed: no random bytes for a key");
  }
  return out;
}

}  // namespace spindle::cli
