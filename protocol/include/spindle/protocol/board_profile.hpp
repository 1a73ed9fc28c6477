// Board profiles: the Kconfig-style boards/<name>/board.conf, read at run time by the
// gateway (compatibility checks) and by a native_sim node holding itself to a real board's
// budgets. The firmware build reads the same file into a generated header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::board {

inline constexpr std::size_t kMaxBoardName = 32;
inline constexpr std::size_t kMaxConfText = 8192;

struct Partition {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
  std::uint32_t end() const { return offset + size; }
};

// kCalibration: the node's per-machine calibration record (docs/firmware/calibration.md).
enum class PartitionId : std::uint8_t {
  kSlot0,
  kSlot1,
  kState,
  kTelemetry,
  kSettings,
  kCalibration,
};
inline constexpr std::size_t kPartitionCount = 6;

inline constexpr std::uint32_t kMaxIdleRmsMg = 10000;
inline constexpr std::uint32_t kMaxIdleWindows = 65535;

struct BoardProfile {
  std::array<char, kMaxBoardName + 1> name_storage{};
  std::uint32_t sram_bytes = 0;
  std::uint32_t cpu_clock_hz = 0;
  std::uint32_t flash_bytes = 0;
  std::uint32_t flash_sector_bytes = 0;
  std::uint32_t flash_write_block_bytes = 0;
  std::array<Partition, kPartitionCount> partitions{};
  std::uint32_t model_arena_bytes = 0;
  // RAM for the decrypted model container while it runs (weights are read in place).
  std::uint32_t model_ram_bytes = 0;
  // The same two for a candidate running in shadow beside the active model
  // (docs/firmware/shadow.md): at most the active model's; 0 and 0 on a board that has no
  // room for a shadow.
  std::uint32_t shadow_arena_bytes = 0;
  std::uint32_t shadow_model_ram_bytes = 0;
  std::uint32_t sensor_rate_hz = 0;
  std::uint8_t sensor_axes = 0;
  std::uint32_t window_length = 0;
  // The machine counts as idle (a gated activation may switch models, docs/firmware/
  // activation.md) when the overall vibration RMS of idle_windows windows in a row stays
  // below idle_rms_mg: the sensor's noise floor with the rotor stopped, plus a margin.
  std::uint32_t idle_rms_mg = 0;   // 1..10000 milli-g
  std::uint32_t idle_windows = 0;  // 1..65535

  std::string_view name() const { return name_storage.data(); }
  const Partition& partition(PartitionId id) const {
    return partitions[static_cast<std::size_t>(id)];
  }
  // The largest model payload (ciphertext and tag) a slot holds: the smaller slot less its
  // first sector, which keeps the slot's signed manifest (docs/delivery.md).
  std::uint32_t model_payload_capacity() const {
    const std::uint32_t slot =
        partition(PartitionId::kSlot0).size < partition(PartitionId::kSlot1).size
            ? partition(PartitionId::kSlot0).size
            : partition(PartitionId::kSlot1).size;
    return slot > flash_sector_bytes ? slot - flash_sector_bytes : 0;
  }
  // The largest model payload (ciphertext and tag) this board can install and run: it must
  // fit a slot and, decrypted in place, the model RAM.
  std::uint32_t model_capacity() const {
    const std::uint32_t slot = model_payload_capacity();
    return model_ram_bytes < slot ? model_ram_bytes : slot;
  }
  // The largest model payload this board can run in shadow (0: none).
  std::uint32_t shadow_model_capacity() const {
    const std::uint32_t slot = model_payload_capacity();
    return shadow_model_ram_bytes < slot ? shadow_model_ram_bytes : slot;
  }
};

// Where parsing stopped, for an error message an operator can act on.
struct ParseError {
  std::size_t line = 0;  // 1-based; 0 when the problem is not on one line
  std::string_view key;  // the CONFIG_ key involved, when there is one
};

// Parses board.conf text: `CONFIG_NAME=value` lines, `#` comments, blank lines; values are
// decimal or 0x-hex integers, or a "quoted" string for CONFIG_BOARD.
// Errors: kMalformed (a line that is not KEY=VALUE, a bad number), kUnknownCriticalField
// (a CONFIG_ key this version does not know), kDuplicateKey, kMissingField,
// kInvalidValue (zero sizes, partitions not sector-aligned, overlapping or beyond flash,
// arena larger than SRAM, model RAM larger than what the arena leaves of it, window length not a
// power of two, axes not 1..3, an idle level outside 1..10000 mg or idle windows outside
// 1..65535), kOversize (text or name too long). `error` (optional) says where.
Result<BoardProfile> parse(std::string_view text, ParseError* error = nullptr);

}  // namespace spindle::board
