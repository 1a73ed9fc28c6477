// libFuzzer target: board.conf parsing refuses or accepts any text without a fault, and an
// accepted profile is internally consistent (partitions inside flash, not overlapping).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "spindle/protocol/board_profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spindle::board;
  const auto profile = parse({reinterpret_cast<const char*>(data), size});
  if (!profile.ok()) return 0;
  for (std::size_t i = 0; i < kPartitionCount; ++i) {
    const Partition& p = profile->partitions[i];
    if (p.size == 0 || p.offset + static_cast<std::uint64_t>(p.size) > profile->flash_bytes) {
      std::abort();
    }
    for (std::size_t j = 0; j < i; ++j) {
      const Partition& q = profile->partitions[j];
      if (p.offset < q.end() && q.offset < p.end()) std::abort();
    }
  }
  if (profile->model_arena_bytes > profile->sram_bytes) std::abort();
  return 0;
}
