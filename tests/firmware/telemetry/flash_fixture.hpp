// A file-backed NOR flash in a fresh temporary file, for the telemetry tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "scratch_file.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/os/posix/file_flash.hpp"

namespace spindle::telemetry::test {

class FlashFixture : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kSector = 2048;
  static constexpr std::uint32_t kSectors = 4;

  void SetUp() override { reboot(); }

  // Opens the flash file again, as a node does after a reset.
  void reboot() {
    flash_ = std::make_unique<os::posix::FileFlash>();
    ASSERT_TRUE(flash_->open(path_.c_str(), kSector * kSectors, kSector, 8).ok());
    area_ = std::make_unique<os::FlashArea>(*flash_, 0, kSector * kSectors);
  }

  spindle::test::ScratchFile scratch_{".flash"};
  const std::filesystem::path path_ = scratch_.path();
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> area_;
};

}  // namespace spindle::telemetry::test
