#include "spindle/protocol/board_profile.hpp"

#include <cstring>

namespace spindle::board {
namespace {

enum class Field : std::uint8_t {
  kBoard,
  kSram,
  kCpuClock,
  kFlashSize,
  kSectorSize,
  kWriteBlock,
  kPartitionFirst,  // offset, size per partition follow in PartitionId order
  kArena = kPartitionFirst + 2 * kPartitionCount,
  kModelRam,
  kShadowArena,
  kShadowModelRam,
  kSensorRate,
  kSensorAxes,
  kWindowLength,
  kIdleRms,
  kIdleWindows,
  kCount,
};
constexpr std::size_t kFieldCount = static_cast<std::size_t>(Field::kCount);

constexpr std::array<std::string_view, kFieldCount> kKeys = {
    "CONFIG_BOARD",
    "CONFIG_SRAM_SIZE",
    "CONFIG_CPU_CLOCK_HZ",
    "CONFIG_FLASH_SIZE",
    "CONFIG_FLASH_SECTOR_SIZE",
    "CONFIG_FLASH_WRITE_BLOCK_SIZE",
    "CONFIG_PARTITION_SLOT0_OFFSET",
    "CONFIG_PARTITION_SLOT0_SIZE",
    "CONFIG_PARTITION_SLOT1_OFFSET",
    "CONFIG_PARTITION_SLOT1_SIZE",
    "CONFIG_PARTITION_STATE_OFFSET",
    "CONFIG_PARTITION_STATE_SIZE",
    "CONFIG_PARTITION_TELEMETRY_OFFSET",
    "CONFIG_PARTITION_TELEMETRY_SIZE",
    "CONFIG_PARTITION_SETTINGS_OFFSET",
    "CONFIG_PARTITION_SETTINGS_SIZE",
    "CONFIG_PARTITION_CALIBRATION_OFFSET",
    "CONFIG_PARTITION_CALIBRATION_SIZE",
    "CONFIG_MODEL_ARENA_SIZE",
    "CONFIG_MODEL_RAM_SIZE",
    "CONFIG_SHADOW_ARENA_SIZE",
    "CONFIG_SHADOW_MODEL_RAM_SIZE",
    "CONFIG_SENSOR_RATE_HZ",
    "CONFIG_SENSOR_AXES",
    "CONFIG_SENSOR_WINDOW_LENGTH",
    "CONFIG_IDLE_RMS_MG",
    "CONFIG_IDLE_WINDOWS",
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

Result<std::uint32_t> parse_number(std::string_view text) {
  if (text.empty()) return Error::kMalformed;
  std::uint64_t value = 0;
  unsigned base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  for (const char c : text) {
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return Error::kMalformed;
    }
    value = value * base + digit;
    if (value > 0xFFFFFFFFU) return Error::kInvalidValue;
  }
  return static_cast<std::uint32_t>(value);
}

bool power_of_two(std::uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

Status validate(const BoardProfile& b, ParseError* error) {
  auto fail = [&](Field field) {
    if (error != nullptr) {
      error->line = 0;
      error->key = kKeys[static_cast<std::size_t>(field)];
    }
    return Status(Error::kInvalidValue);
  };
  if (b.name().empty()) return fail(Field::kBoard);
  if (b.sram_bytes == 0) return fail(Field::kSram);
  if (b.cpu_clock_hz == 0) return fail(Field::kCpuClock);
  if (b.flash_sector_bytes == 0 || !power_of_two(b.flash_sector_bytes)) {
    return fail(Field::kSectorSize);
  }
  if (b.flash_bytes == 0 || b.flash_bytes % b.flash_sector_bytes != 0) {
    return fail(Field::kFlashSize);
  }
  if (!power_of_two(b.flash_write_block_bytes) ||
      b.flash_write_block_bytes > b.flash_sector_bytes) {
    return fail(Field::kWriteBlock);
  }
  for (std::size_t i = 0; i < kPartitionCount; ++i) {
    const Partition& p = b.partitions[i];
    const auto offset_field =
        static_cast<Field>(static_cast<std::size_t>(Field::kPartitionFirst) + 2 * i);
    const auto size_field = static_cast<Field>(static_cast<std::size_t>(offset_field) + 1);
    if (p.size == 0 || p.size % b.flash_sector_bytes != 0) return fail(size_field);
    if (p.offset % b.flash_sector_bytes != 0) return fail(offset_field);
    if (p.offset > b.flash_bytes || p.size > b.flash_bytes - p.offset) return fail(size_field);
    for (std::size_t j = 0; j < i; ++j) {
      const Partition& q = b.partitions[j];
      if (p.offset < q.end() && q.offset < p.end()) return fail(offset_field);
    }
  }
  if (b.model_arena_bytes == 0 || b.model_arena_bytes > b.sram_bytes) return fail(Field::kArena);
  if (b.model_ram_bytes == 0 || b.model_ram_bytes > b.sram_bytes - b.model_arena_bytes) {
    return fail(Field::kModelRam);
  }
  // A shadow model (docs/firmware/shadow.md) gets its own arena and RAM, never more than the
  // active model's; both 0 on a board with no room for one.
  if (b.shadow_arena_bytes > b.model_arena_bytes ||
      (b.shadow_arena_bytes == 0) != (b.shadow_model_ram_bytes == 0)) {
    return fail(Field::kShadowArena);
  }
  if (b.shadow_model_ram_bytes > b.model_ram_bytes ||
      b.shadow_model_ram_bytes >
          b.sram_bytes - b.model_arena_bytes - b.model_ram_bytes - b.shadow_arena_bytes) {
    return fail(Field::kShadowModelRam);
  }
  if (b.sensor_rate_hz == 0) return fail(Field::kSensorRate);
  if (b.sensor_axes < 1 || b.sensor_axes > 3) return fail(Field::kSensorAxes);
  if (!power_of_two(b.window_length) || b.window_length < 64 || b.window_length > 4096) {
    return fail(Field::kWindowLength);
  }
  // Idle is a quiet machine, not a dead sensor: a level of 0 could never be reached, and
  // above 10 g no running machine would be told from a stopped one.
  if (b.idle_rms_mg == 0 || b.idle_rms_mg > kMaxIdleRmsMg) return fail(Field::kIdleRms);
  if (b.idle_windows == 0 || b.idle_windows > kMaxIdleWindows) return fail(Field::kIdleWindows);
  return kOk;
}

}  // namespace

Result<BoardProfile> parse(std::string_view text, ParseError* error) {
  if (text.size() > kMaxConfText) return Error::kOversize;
  BoardProfile b;
  bool seen[kFieldCount] = {};
  std::size_t line_number = 0;
  auto fail = [&](Error e, std::string_view key) {
    if (error != nullptr) {
      error->line = line_number;
      error->key = key;
    }
    return Status(e);
  };
  while (!text.empty()) {
    ++line_number;
    const std::size_t eol = text.find('\n');
    std::string_view line = trim(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) return fail(Error::kMalformed, {});
    const std::string_view key = trim(line.substr(0, eq));
    const std::string_view value = trim(line.substr(eq + 1));
    std::size_t field = kFieldCount;
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      if (kKeys[i] == key) field = i;
    }
    if (field == kFieldCount) return fail(Error::kUnknownCriticalField, key);
    if (seen[field]) return fail(Error::kDuplicateKey, key);
    seen[field] = true;
    if (static_cast<Field>(field) == Field::kBoard) {
      if (value.size() < 2 || value.front() != '"' || value.back() != '"') {
        return fail(Error::kMalformed, key);
      }
      const std::string_view name = value.substr(1, value.size() - 2);
      if (name.size() > kMaxBoardName) return fail(Error::kOversize, key);
      std::memcpy(b.name_storage.data(), name.data(), name.size());
      b.name_storage[name.size()] = '\0';
      continue;
    }
    const auto number = parse_number(value);
    if (!number.ok()) return fail(number.status().error(), key);
    const std::uint32_t v = *number;
    const auto f = static_cast<Field>(field);
    if (f >= Field::kPartitionFirst && f < Field::kArena) {
      const std::size_t index = (field - static_cast<std::size_t>(Field::kPartitionFirst)) / 2;
      const bool is_offset = (field - static_cast<std::size_t>(Field::kPartitionFirst)) % 2 == 0;
      (is_offset ? b.partitions[index].offset : b.partitions[index].size) = v;
      continue;
    }
    switch (f) {
      case Field::kSram:
        b.sram_bytes = v;
        break;
      case Field::kCpuClock:
        b.cpu_clock_hz = v;
        break;
      case Field::kFlashSize:
        b.flash_bytes = v;
        break;
      case Field::kSectorSize:
        b.flash_sector_bytes = v;
        break;
      case Field::kWriteBlock:
        b.flash_write_block_bytes = v;
        break;
      case Field::kArena:
        b.model_arena_bytes = v;
        break;
      case Field::kModelRam:
        b.model_ram_bytes = v;
        break;
      case Field::kShadowArena:
        b.shadow_arena_bytes = v;
        break;
      case Field::kShadowModelRam:
        b.shadow_model_ram_bytes = v;
        break;
      case Field::kSensorRate:
        b.sensor_rate_hz = v;
        break;
      case Field::kSensorAxes:
        if (v > 255) return fail(Error::kInvalidValue, key);
        b.sensor_axes = static_cast<std::uint8_t>(v);
        break;
      case Field::kWindowLength:
        b.window_length = v;
        break;
      case Field::kIdleRms:
        b.idle_rms_mg = v;
        break;
      case Field::kIdleWindows:
        b.idle_windows = v;
        break;
      default:
        return fail(Error::kMalformed, key);
    }
  }
  line_number = 0;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (!seen[i]) return fail(Error::kMissingField, kKeys[i]);
  }
  SPINDLE_TRY(validate(b, error));
  return b;
}

}  // namespace spindle::board
