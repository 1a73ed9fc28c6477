// random_fill on getrandom(2).
#include <sys/random.h>

#include <cerrno>

#include "spindle/os/rng.hpp"

namespace spindle::os {

Status random_fill(std::span<std::uint8_t> out) {
  std::size_t filled = 0;
  while (filled < out.size()) {
    // Requests of up to 256 bytes are never cut short, larger ones may be; EINTR can
    // arrive before any byte is read.
    const ssize_t got = getrandom(out.data() + filled, out.size() - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Error::kIoError;
    }
    filled += static_cast<std::size_t>(got);
  }
  return kOk;
}

}  // namespace spindle::os
