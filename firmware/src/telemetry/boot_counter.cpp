#include "spindle/telemetry/boot_counter.hpp"

#include <array>

#include "spindle/support/little_endian.hpp"

namespace spindle::telemetry {
namespace {

using support::load32;
using support::store32;

// Two sectors used in turn. Each starts with a header block holding the total carried over
// from the other sector, as (count, ~count) so that a torn header is recognisable; every
// later block is one tally mark (anything but FF..FF = a boot). The sector with the
// larger valid base is current. When it is full, the other sector is erased and given the
// running total before the full one is ever touched, so a power cut at any step loses
// nothing: until the new header is complete the old sector still counts.
constexpr std::uint32_t kBlock = 8;

bool erased(const std::array<std::uint8_t, kBlock>& block) {
  for (const std::uint8_t b : block) {
    if (b != 0xFF) return false;
  }
  return true;
}

struct SectorState {
  bool valid = false;
  std::uint32_t base = 0;
  std::uint32_t marks = 0;
  std::uint32_t first_free = 0;  // block index; 0 when the sector is full
};

Result<SectorState> read_sector(os::FlashArea* area, std::uint32_t sector, std::uint32_t blocks) {
  const std::uint32_t start = sector * area->sector_size();
  std::array<std::uint8_t, kBlock> block{};
  SPINDLE_TRY(area->read(start, block));
  SectorState s;
  const std::uint32_t base = load32(block.data());
  if (load32(block.data() + 4) != ~base) return s;  // erased, torn or foreign: not ours
  s.valid = true;
  s.base = base;
  for (std::uint32_t i = 1; i < blocks; ++i) {
    SPINDLE_TRY(area->read(start + i * kBlock, block));
    if (erased(block)) {
      s.first_free = i;
      return s;
    }
    ++s.marks;
  }
  return s;
}

Status start_sector(os::FlashArea* area, std::uint32_t sector, std::uint32_t base) {
  SPINDLE_TRY(area->erase(sector * area->sector_size(), area->sector_size()));
  std::array<std::uint8_t, kBlock> header{};
  store32(header.data(), base);
  store32(header.data() + 4, ~base);
  return area->write(sector * area->sector_size(), header);
}

}  // namespace

Result<std::uint32_t> count_boot(os::FlashArea* area) {
  if (area->write_block_size() == 0 || kBlock % area->write_block_size() != 0 ||
      area->sector_size() < 2 * kBlock || area->size() < 2 * area->sector_size()) {
    return Error::kInvalidValue;
  }
  const std::uint32_t blocks = area->sector_size() / kBlock;
  SPINDLE_TRY_ASSIGN(const SectorState a, read_sector(area, 0, blocks));
  SPINDLE_TRY_ASSIGN(const SectorState b, read_sector(area, 1, blocks));
  std::uint32_t current = 0;
  SectorState state = a;
  if (b.valid && (!a.valid || b.base > a.base)) {
    current = 1;
    state = b;
  }
  if (!state.valid) {
    // A fresh node (or one whose counter sectors hold something else): start at zero.
    SPINDLE_TRY(start_sector(area, 0, 0));
    current = 0;
    state = {true, 0, 0, 1};
  }
  const std::uint32_t previous = state.base + state.marks;
  if (state.first_free == 0) {
    current = 1 - current;
    SPINDLE_TRY(start_sector(area, current, previous));
    state.first_free = 1;
  }
  std::array<std::uint8_t, kBlock> mark{};
  SPINDLE_TRY(area->write(current * area->sector_size() + state.first_free * kBlock, mark));
  return previous;
}

}  // namespace spindle::telemetry
