// Wall-clock time as the gateway stamps records and events with it.
#pragma once

#include <chrono>
#include <cstdint>

namespace spindle::gateway {

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace spindle::gateway
