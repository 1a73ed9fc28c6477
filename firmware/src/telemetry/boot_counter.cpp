#include "spindle/telemetry/boot_counter.hpp"

#include <array>
#include <cstring>

namespace spindle::telemetry {
namespace {

// Block 0 holds the total carried over from before the last erase (FF..FF = 0, else
// magic "BOOT" + little-endian u32). Every later block is one tally mark: 00.. = a boot.
constexpr std::uint32_t kBlock = 8;
constexpr std::uint8_t kBaseMagic[4] = {'B', 'O', 'O', 'T'};

bool erased(const std::uint8_t* p) {
  for (std::uint32_t i = 0; i < kBlock; ++i) {
    if (p[i] != 0xFF) return false;
  }
  return true;
}

}  // namespace

Result<std::uint32_t> count_boot(os::FlashArea* area) {
  if (area->write_block_size() == 0 || kBlock % area->write_block_size() != 0 ||
      area->size() < area->sector_size() || area->size() < 2 * kBlock) {
    return Error::kInvalidValue;
  }
  const std::uint32_t blocks = area->size() / kBlock;
  std::array<std::uint8_t, kBlock> block{};
  SPINDLE_TRY(area->read(0, block));
  std::uint32_t base = 0;
  if (!erased(block.data())) {
    if (std::memcmp(block.data(), kBaseMagic, 4) != 0) {
      // Not ours (or torn while being written): start over rather than guess.
      SPINDLE_TRY(area->erase(0, area->size()));
    } else {
      base = static_cast<std::uint32_t>(block[4]) | (static_cast<std::uint32_t>(block[5]) << 8) |
             (static_cast<std::uint32_t>(block[6]) << 16) |
             (static_cast<std::uint32_t>(block[7]) << 24);
    }
  }
  std::uint32_t marks = 0;
  std::uint32_t first_free = 0;
  for (std::uint32_t i = 1; i < blocks; ++i) {
    SPINDLE_TRY(area->read(i * kBlock, block));
    if (erased(block.data())) {
      first_free = i;
      break;
    }
    ++marks;
  }
  const std::uint32_t previous = base + marks;
  if (first_free == 0) {
    // Full: erase and carry the total. A power cut in between loses at most this tally.
    SPINDLE_TRY(area->erase(0, area->size()));
    std::array<std::uint8_t, kBlock> header{};
    std::memcpy(header.data(), kBaseMagic, 4);
    const std::uint32_t total = previous;
    for (int b = 0; b < 4; ++b)
      header[4 + static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(total >> (8 * b));
    SPINDLE_TRY(area->write(0, header));
    first_free = 1;
  }
  block.fill(0x00);
  SPINDLE_TRY(area->write(first_free * kBlock, block));
  return previous;
}

}  // namespace spindle::telemetry
