// protocol/registration: round trip and refusals.
#include "spindle/protocol/registration.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_support.hpp"

namespace spindle::registration {
namespace {

const std::array<std::uint8_t, 32> kDigest = {0xab};

Registration valid() {
  Registration r;
  r.board = "nucleo_f446re";
  r.firmware_version = "1.2.3";
  r.slots[0] = {SlotState::kActive, "fan-km", 2, kDigest};
  r.slots[1] = {SlotState::kDownloading, "fan-km", 3, {}};
  r.active_slot = 0;
  r.budgets = {
      .sram_bytes = 131072, .arena_bytes = 16384, .model_flash_bytes = 65536, .op_set = 0x3f};
  return r;
}

std::vector<std::uint8_t> encoded(const Registration& r) {
  std::vector<std::uint8_t> buffer(512);
  const auto out = encode(r, buffer);
  EXPECT_TRUE(out.ok()) << out.status().name();
  return {out->begin(), out->end()};
}

TEST(Registration, RoundTripsSlotsBudgetsAndActiveSlot) {
  const auto bytes = encoded(valid());
  const auto r = decode(bytes);
  ASSERT_TRUE(r.ok()) << r.status().name();
  EXPECT_EQ(r->board, "nucleo_f446re");
  EXPECT_EQ(r->firmware_version, "1.2.3");
  EXPECT_EQ(r->slots[0].state, SlotState::kActive);
  EXPECT_EQ(r->slots[0].digest.size(), 32U);
  EXPECT_EQ(r->slots[1].state, SlotState::kDownloading);
  EXPECT_EQ(r->slots[1].version, 3U);
  EXPECT_TRUE(r->slots[1].digest.empty());
  EXPECT_EQ(r->active_slot, 0);
  EXPECT_EQ(r->budgets.arena_bytes, 16384U);
}

TEST(Registration, NoActiveModelIsEncodedAsNull) {
  Registration r = valid();
  r.slots = {};
  r.active_slot = kNoActiveSlot;
  const auto bytes = encoded(r);
  const auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->active_slot, kNoActiveSlot);
}

TEST(Registration, ActiveSlotThatIsEmptyIsInvalid) {
  Registration r = valid();
  r.slots[1] = {};
  r.active_slot = 1;
  std::array<std::uint8_t, 512> buffer{};
  EXPECT_EQ(encode(r, buffer).status(), Status(Error::kInvalidValue));
}

TEST(Registration, SlotStateOutOfRangeIsInvalid) {
  auto bytes = encoded(valid());
  // The first slot map starts with {1: 4}: find "01 04" after the slots key and corrupt it.
  const std::vector<std::uint8_t> needle = {0x03, 0x82, 0xa4, 0x01, 0x04};
  const auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(at, bytes.end());
  *(at + 4) = 0x09;
  EXPECT_EQ(decode(bytes).status(), Status(Error::kInvalidValue));
}

TEST(Registration, OneSlotInsteadOfTwoIsInvalid) {
  auto bytes = encoded(valid());
  const std::vector<std::uint8_t> needle = {0x03, 0x82};
  const auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  ASSERT_NE(at, bytes.end());
  *(at + 1) = 0x81;
  EXPECT_FALSE(decode(bytes).ok());
}

TEST(Registration, EveryTruncationIsRefused) {
  const auto bytes = encoded(valid());
  for (std::size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decode({bytes.data(), n}).ok()) << n;
}

TEST(Registration, NotAMapIsWrongType) {
  const auto bytes = test::from_hex("8105");
  EXPECT_EQ(decode(bytes).status(), Status(Error::kWrongType));
}

}  // namespace
}  // namespace spindle::registration
