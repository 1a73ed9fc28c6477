// Counts boots in a small flash partition, power-safely and without an erase per boot:
// each boot clears one more write block (a tally), and only a full partition is erased and
// restarted with the running total in its first block.
#pragma once

#include <cstdint>

#include "spindle/os/flash.hpp"
#include "spindle/protocol/status.hpp"

namespace spindle::telemetry {

// Records this boot and returns how many boots there were before it (0 on a fresh node).
// Errors: kInvalidValue (a write block that does not divide 8 bytes, an area smaller than
// one sector), the flash device's errors.
Result<std::uint32_t> count_boot(os::FlashArea* area);

}  // namespace spindle::telemetry
