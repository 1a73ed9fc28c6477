// Counts boots in the first two sectors of a flash area, power-safely and without an
// erase per boot: each boot clears one more write block (a tally); a full sector hands the
// running total to the other one before it is reused (details in boot_counter.cpp). The
// rest of the area is left alone.
#pragma once

#include <cstdint>

#include "spindle/os/flash.hpp"
#include "spindle/status.hpp"

namespace spindle::telemetry {

// Records this boot and returns how many boots there were before it (0 on a fresh node).
// Errors: kInvalidValue (a write block that does not divide 8 bytes, an area smaller than
// two sectors), the flash device's errors.
Result<std::uint32_t> count_boot(os::FlashArea* area);

}  // namespace spindle::telemetry
