// protocol/board_profile: every committed boards/*/board.conf parses and is consistent; bad
// files are refused with the reason and the line or key.
#include "spindle/protocol/board_profile.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_support.hpp"

namespace spindle::board {
namespace {

std::string read_text(const std::filesystem::path& path) {
  const auto bytes = test::read_file(path.string());
  return {bytes.begin(), bytes.end()};
}

const std::filesystem::path kBoards = std::filesystem::path(SPINDLE_VECTORS_DIR) / "../../boards";

TEST(BoardProfile, EveryCommittedBoardParsesAndIsNamedAfterItsFolder) {
  int boards = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kBoards)) {
    if (!entry.is_directory()) continue;
    // boards/include and boards/src are the lookup module's own code (spindle::boards).
    const std::string folder = entry.path().filename().string();
    if (folder == "include" || folder == "src") continue;
    const std::string text = read_text(entry.path() / "board.conf");
    ParseError where;
    const auto profile = parse(text, &where);
    ASSERT_TRUE(profile.ok()) << entry.path() << ": " << profile.status().name() << " line "
                              << where.line << " " << where.key;
    EXPECT_EQ(profile->name(), entry.path().filename().string());
    ++boards;
  }
  EXPECT_GE(boards, 4);  // native_sim and at least three real MCU profiles
}

TEST(BoardProfile, ReadsTheNrf52840Figures) {
  const auto p = parse(read_text(kBoards / "nrf52840dk/board.conf"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->sram_bytes, 262144U);
  EXPECT_EQ(p->flash_sector_bytes, 4096U);
  EXPECT_EQ(p->partition(PartitionId::kSlot1).offset, 0xC0000U);
  EXPECT_EQ(p->partition(PartitionId::kSlot1).size, 0x20000U);
  EXPECT_EQ(p->model_arena_bytes, 16384U);
  EXPECT_EQ(p->sensor_axes, 3U);
}

std::string valid_text() {
  return read_text(kBoards / "nucleo_l476rg/board.conf");
}

std::string replace_line(std::string text, const std::string& key, const std::string& line) {
  const auto at = text.find(key + "=");
  const auto eol = text.find('\n', at);
  return text.replace(at, eol - at, line);
}

TEST(BoardProfile, UnknownKeyIsUnknownCriticalFieldWithItsLine) {
  ParseError where;
  const std::string text = valid_text() + "CONFIG_WIFI=1\n";  // `where.key` points into it
  const auto p = parse(text, &where);
  EXPECT_EQ(p.status(), Status(Error::kUnknownCriticalField));
  EXPECT_EQ(where.key, "CONFIG_WIFI");
  EXPECT_GT(where.line, 10U);
}

TEST(BoardProfile, DuplicateKeyIsDuplicateKey) {
  EXPECT_EQ(parse(valid_text() + "CONFIG_SRAM_SIZE=1\n").status(), Status(Error::kDuplicateKey));
}

TEST(BoardProfile, MissingKeyIsMissingFieldNamingIt) {
  ParseError where;
  const auto text = replace_line(valid_text(), "CONFIG_SENSOR_AXES", "# no axes");
  EXPECT_EQ(parse(text, &where).status(), Status(Error::kMissingField));
  EXPECT_EQ(where.key, "CONFIG_SENSOR_AXES");
}

TEST(BoardProfile, LineWithoutEqualsOrBadNumberIsMalformed) {
  EXPECT_EQ(parse(valid_text() + "CONFIG_SRAM_SIZE\n").status(), Status(Error::kMalformed));
  EXPECT_EQ(parse(replace_line(valid_text(), "CONFIG_SRAM_SIZE", "CONFIG_SRAM_SIZE=12k")).status(),
            Status(Error::kMalformed));
}

TEST(BoardProfile, OverlappingPartitionsAreInvalid) {
  ParseError where;
  const auto text = replace_line(valid_text(), "CONFIG_PARTITION_SLOT1_OFFSET",
                                 "CONFIG_PARTITION_SLOT1_OFFSET=0x88000");
  EXPECT_EQ(parse(text, &where).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(where.key, "CONFIG_PARTITION_SLOT1_OFFSET");
}

TEST(BoardProfile, PartitionBeyondFlashIsInvalid) {
  const auto text = replace_line(valid_text(), "CONFIG_PARTITION_SETTINGS_SIZE",
                                 "CONFIG_PARTITION_SETTINGS_SIZE=0x100000");
  EXPECT_EQ(parse(text).status(), Status(Error::kInvalidValue));
}

TEST(BoardProfile, UnalignedPartitionIsInvalid) {
  const auto text = replace_line(valid_text(), "CONFIG_PARTITION_STATE_OFFSET",
                                 "CONFIG_PARTITION_STATE_OFFSET=0xA0100");
  EXPECT_EQ(parse(text).status(), Status(Error::kInvalidValue));
}

TEST(BoardProfile, ArenaLargerThanSramIsInvalid) {
  const auto text =
      replace_line(valid_text(), "CONFIG_MODEL_ARENA_SIZE", "CONFIG_MODEL_ARENA_SIZE=200000");
  EXPECT_EQ(parse(text).status(), Status(Error::kInvalidValue));
}

TEST(BoardProfile, ModelRamMustFitBesideTheArena) {
  // nucleo_l476rg: 128 KiB of SRAM, 8 KiB arena.
  const auto too_big =
      replace_line(valid_text(), "CONFIG_MODEL_RAM_SIZE", "CONFIG_MODEL_RAM_SIZE=126977");
  EXPECT_EQ(parse(too_big).status(), Status(Error::kInvalidValue));
  const auto fits =
      replace_line(valid_text(), "CONFIG_MODEL_RAM_SIZE", "CONFIG_MODEL_RAM_SIZE=16384");
  const auto profile = parse(fits);
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->model_capacity(), 16384U);  // below the slot's 62 KiB
}

TEST(BoardProfile, AShadowGetsAtMostTheActiveModelsMemoryAndAllOfItMustFitTheSram) {
  // nucleo_l476rg: 128 KiB of SRAM, 8 KiB arena and 16 KiB model RAM, 4 + 8 KiB for a shadow.
  const auto profile = parse(valid_text());
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->shadow_arena_bytes, 4096U);
  EXPECT_EQ(profile->shadow_model_capacity(), 8192U);
  const auto refused = [](const std::string& text, std::string_view key) {
    ParseError error;
    EXPECT_EQ(parse(text, &error).status(), Status(Error::kInvalidValue)) << key;
    EXPECT_EQ(error.key, key);
  };
  refused(replace_line(valid_text(), "CONFIG_SHADOW_ARENA_SIZE", "CONFIG_SHADOW_ARENA_SIZE=8193"),
          "CONFIG_SHADOW_ARENA_SIZE");  // more than the active arena
  refused(replace_line(valid_text(), "CONFIG_SHADOW_MODEL_RAM_SIZE",
                       "CONFIG_SHADOW_MODEL_RAM_SIZE=16385"),
          "CONFIG_SHADOW_MODEL_RAM_SIZE");  // more than the active model RAM
  refused(replace_line(valid_text(), "CONFIG_SHADOW_ARENA_SIZE", "CONFIG_SHADOW_ARENA_SIZE=0"),
          "CONFIG_SHADOW_ARENA_SIZE");  // one without the other
  // Both 0: a board with no room for a shadow.
  auto none = replace_line(valid_text(), "CONFIG_SHADOW_ARENA_SIZE", "CONFIG_SHADOW_ARENA_SIZE=0");
  none = replace_line(none, "CONFIG_SHADOW_MODEL_RAM_SIZE", "CONFIG_SHADOW_MODEL_RAM_SIZE=0");
  ASSERT_TRUE(parse(none).ok());
  EXPECT_EQ(parse(none)->shadow_model_capacity(), 0U);
  // Active and shadow memory together beyond the SRAM.
  auto big = replace_line(valid_text(), "CONFIG_MODEL_RAM_SIZE", "CONFIG_MODEL_RAM_SIZE=65536");
  big = replace_line(big, "CONFIG_SHADOW_MODEL_RAM_SIZE", "CONFIG_SHADOW_MODEL_RAM_SIZE=65536");
  refused(big, "CONFIG_SHADOW_MODEL_RAM_SIZE");
}

TEST(BoardProfile, TheIdleLevelAndWindowsAreReadAndMustBeInRange) {
  const auto profile = parse(valid_text());
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->idle_rms_mg, 25U);
  EXPECT_EQ(profile->idle_windows, 188U);  // 30 s of 0.16 s windows
  const auto refused = [](const std::string& text, std::string_view key) {
    ParseError error;
    EXPECT_EQ(parse(text, &error).status(), Status(Error::kInvalidValue)) << key;
    EXPECT_EQ(error.key, key);
  };
  refused(replace_line(valid_text(), "CONFIG_IDLE_RMS_MG", "CONFIG_IDLE_RMS_MG=0"),
          "CONFIG_IDLE_RMS_MG");
  refused(replace_line(valid_text(), "CONFIG_IDLE_RMS_MG", "CONFIG_IDLE_RMS_MG=10001"),
          "CONFIG_IDLE_RMS_MG");
  refused(replace_line(valid_text(), "CONFIG_IDLE_WINDOWS", "CONFIG_IDLE_WINDOWS=0"),
          "CONFIG_IDLE_WINDOWS");
  refused(replace_line(valid_text(), "CONFIG_IDLE_WINDOWS", "CONFIG_IDLE_WINDOWS=65536"),
          "CONFIG_IDLE_WINDOWS");
  EXPECT_TRUE(
      parse(replace_line(valid_text(), "CONFIG_IDLE_WINDOWS", "CONFIG_IDLE_WINDOWS=65535")).ok());
  ParseError where;
  EXPECT_EQ(parse(replace_line(valid_text(), "CONFIG_IDLE_WINDOWS", "# none"), &where).status(),
            Status(Error::kMissingField));
  EXPECT_EQ(where.key, "CONFIG_IDLE_WINDOWS");
}

TEST(BoardProfile, WindowLengthMustBeAPowerOfTwo) {
  const auto text =
      replace_line(valid_text(), "CONFIG_SENSOR_WINDOW_LENGTH", "CONFIG_SENSOR_WINDOW_LENGTH=1000");
  EXPECT_EQ(parse(text).status(), Status(Error::kInvalidValue));
}

TEST(BoardProfile, UnquotedBoardNameIsMalformed) {
  const auto text = replace_line(valid_text(), "CONFIG_BOARD", "CONFIG_BOARD=nucleo");
  EXPECT_EQ(parse(text).status(), Status(Error::kMalformed));
}

}  // namespace
}  // namespace spindle::board
