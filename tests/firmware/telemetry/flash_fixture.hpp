// A file-backed NOR flash in a fresh temporary file, for the telemetry tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "spindle/os/flash.hpp"
#include "spindle/os/posix/file_flash.hpp"

namespace spindle::telemetry::test {

class FlashFixture : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kSector = 2048;
  static constexpr std::uint32_t kSectors = 4;

  void SetUp() override {
    path_ =
        std::filesystem::path(::testing::TempDir()) /
        (std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".flash");
    std::filesystem::remove(path_);
    reboot();
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // Opens the flash file again, as a node does after a reset.
  void reboot() {
    flash_ = std::make_unique<os::posix::FileFlash>();
    ASSERT_TRUE(flash_->open(path_.c_str(), kSector * kSectors, kSector, 8).ok());
    area_ = std::make_unique<os::FlashArea>(*flash_, 0, kSector * kSectors);
  }

  std::filesystem::path path_;
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> area_;
};

}  // namespace spindle::telemetry::test
