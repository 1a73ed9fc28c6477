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

TEST_F(BootCounterTest, KeepsCountingAcrossSectorSwitches) {
  os::FlashArea two_sectors(*flash_, 0, 2 * kSector);  // 255 tally blocks per sector
  for (std::uint32_t expected = 0; expected < 700; ++expected) {
    const auto previous = count_boot(&two_sectors);
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

TEST_F(BootCounterTest, PowerCutAtEveryFlashOperationNeverLosesOrInventsBoots) {
  // 300 boots cross a sector switch (255 marks per 2 KiB sector).
  constexpr std::uint32_t kBoots = 300;
  std::uint64_t total_ops = 0;
  {
    os::FlashArea area(*flash_, 0, 2 * kSector);
    const std::uint64_t before = flash_->operations();
    for (std::uint32_t i = 0; i < kBoots; ++i)
      ASSERT_TRUE(count_boot(&area).ok());
    total_ops = flash_->operations() - before;
  }
  for (std::uint64_t cut = 0; cut < total_ops; cut += 1) {
    std::filesystem::remove(path_);
    reboot();
    std::uint32_t completed = 0;
    {
      os::FlashArea area(*flash_, 0, 2 * kSector);
      flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
      while (completed < kBoots && count_boot(&area).ok())
        ++completed;
    }
    reboot();
    os::FlashArea area(*flash_, 0, 2 * kSector);
    const auto previous = count_boot(&area);
    ASSERT_TRUE(previous.ok()) << "cut " << cut;
    // The interrupted boot may or may not have been counted; nothing else may change.
    EXPECT_GE(*previous, completed) << "cut " << cut;
    EXPECT_LE(*previous, completed + 1) << "cut " << cut;
  }
}

}  // namespace
}  // namespace spindle::telemetry
