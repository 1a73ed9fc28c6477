// firmware/telemetry/boot_counter: counts every boot, across a full partition's erase.
#include "spindle/telemetry/boot_counter.hpp"

#include <gtest/gtest.h>

#include "flash_fixture.hpp"

namespace spindle::telemetry {
namespace {

class BootCounterTest : public test::FlashFixture {};

TEST_F(BootCounterTest, CountsBootsAcrossReboots) {
  for (std::uint32_t expected = 0; expected < 5; ++expected) {
    reboot();
    const auto previous = count_boot(area_.get());
    ASSERT_TRUE(previous.ok());
    EXPECT_EQ(*previous, expected);
  }
}

TEST_F(BootCounterTest, KeepsCountingWhenThePartitionFillsAndIsErased) {
  os::FlashArea one_sector(*flash_, 0, kSector);  // 256 tally blocks
  for (std::uint32_t expected = 0; expected < 600; ++expected) {
    const auto previous = count_boot(&one_sector);
    ASSERT_TRUE(previous.ok()) << expected;
    ASSERT_EQ(*previous, expected);
  }
}

TEST_F(BootCounterTest, ForeignContentRestartsTheCount) {
  std::array<std::uint8_t, 8> junk{1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(area_->write(0, junk).ok());
  const auto previous = count_boot(area_.get());
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(*previous, 0U);
}

}  // namespace
}  // namespace spindle::telemetry
