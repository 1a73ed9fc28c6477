// calibration/calibration_store: the calibration record survives resets, and a power cut at
// any flash operation of a save leaves either the previous record or the new one, never a
// broken one.
#include "spindle/calibration/calibration_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "scratch_file.hpp"
#include "spindle/os/posix/file_flash.hpp"

namespace spindle::calibration {
namespace {

class CalibrationStoreTest : public ::testing::Test {
 protected:
  static constexpr std::uint32_t kSector = 2048;  // nucleo_l476rg's, the smallest board's

  void SetUp() override { reboot(); }

  void reboot() {
    flash_ = std::make_unique<os::posix::FileFlash>();
    ASSERT_TRUE(flash_->open(path_.c_str(), 2 * kSector, kSector, 8).ok());
    area_ = std::make_unique<os::FlashArea>(*flash_, 0, 2 * kSector);
  }

  static Record record(std::uint32_t generation, Phase phase, float threshold) {
    Record r;
    r.set_id("vib-ae");
    r.version = 7;
    r.progress.phase = phase;
    r.progress.generation = generation;
    r.progress.windows_done = phase == Phase::kNormalizing ? 0 : 300;
    r.progress.threshold = threshold;
    r.progress.clamp = ThresholdClamp::kUpper;
    r.progress.normalization.count = phase == Phase::kNormalizing ? 0 : 45;
    for (std::size_t i = 0; i < r.progress.normalization.count; ++i) {
      r.progress.normalization.mean[i] = static_cast<float>(i) + 0.5F;
      r.progress.normalization.stddev[i] = 0.25F * static_cast<float>(generation);
    }
    return r;
  }

  static void expect_same(const Record& a, const Record& b) {
    EXPECT_EQ(a.id(), b.id());
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.progress.phase, b.progress.phase);
    EXPECT_EQ(a.progress.generation, b.progress.generation);
    EXPECT_EQ(a.progress.windows_done, b.progress.windows_done);
    EXPECT_EQ(a.progress.threshold, b.progress.threshold);
    EXPECT_EQ(a.progress.clamp, b.progress.clamp);
    ASSERT_EQ(a.progress.normalization.count, b.progress.normalization.count);
    for (std::size_t i = 0; i < a.progress.normalization.count; ++i) {
      EXPECT_EQ(a.progress.normalization.mean[i], b.progress.normalization.mean[i]);
      EXPECT_EQ(a.progress.normalization.stddev[i], b.progress.normalization.stddev[i]);
    }
  }

  spindle::test::ScratchFile scratch_{".flash"};
  const std::filesystem::path path_ = scratch_.path();
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> area_;
};

TEST_F(CalibrationStoreTest, AFreshPartitionHoldsNoRecord) {
  CalibrationStore store;
  ASSERT_TRUE(store.mount(area_.get()).ok());
  EXPECT_FALSE(store.has_record());
}

TEST_F(CalibrationStoreTest, TheNewestRecordSurvivesAReset) {
  {
    CalibrationStore store;
    ASSERT_TRUE(store.mount(area_.get()).ok());
    for (std::uint32_t g = 1; g <= 5; ++g)
      ASSERT_TRUE(store.save(record(g, Phase::kCalibrated, 0.5F * static_cast<float>(g))).ok());
  }
  reboot();
  CalibrationStore store;
  ASSERT_TRUE(store.mount(area_.get()).ok());
  ASSERT_TRUE(store.has_record());
  expect_same(store.record(), record(5, Phase::kCalibrated, 2.5F));
}

TEST_F(CalibrationStoreTest, ATornCopyIsIgnoredAndTheOtherStands) {
  CalibrationStore store;
  ASSERT_TRUE(store.mount(area_.get()).ok());
  ASSERT_TRUE(store.save(record(1, Phase::kThresholding, 1.0F)).ok());  // sector 0
  ASSERT_TRUE(store.save(record(2, Phase::kCalibrated, 2.0F)).ok());    // sector 1
  // Clear bits in the middle of sector 1's record, as a torn write would leave it.
  std::array<std::uint8_t, 8> zeros{};
  ASSERT_TRUE(area_->write(kSector + 200, zeros).ok());
  CalibrationStore again;
  ASSERT_TRUE(again.mount(area_.get()).ok());
  ASSERT_TRUE(again.has_record());
  expect_same(again.record(), record(1, Phase::kThresholding, 1.0F));
}

TEST_F(CalibrationStoreTest, RefusesARecordThatWouldNotReadBack) {
  CalibrationStore store;
  ASSERT_TRUE(store.mount(area_.get()).ok());
  Record bad = record(1, Phase::kCalibrated, 1.0F);
  bad.set_id("not a valid id");
  EXPECT_EQ(store.save(bad), Status(Error::kInvalidValue));
  Record zero_generation = record(1, Phase::kCalibrated, 1.0F);
  zero_generation.progress.generation = 0;
  EXPECT_EQ(store.save(zero_generation), Status(Error::kInvalidValue));
  EXPECT_FALSE(store.has_record());
}

TEST_F(CalibrationStoreTest, RefusesAPartitionTooSmallForTwoCopies) {
  os::FlashArea one_sector(*flash_, 0, kSector);
  CalibrationStore store;
  EXPECT_EQ(store.mount(&one_sector), Status(Error::kInvalidValue));
}

TEST_F(CalibrationStoreTest, PowerCutAtEveryFlashOperationLeavesThePreviousOrTheNewRecord) {
  // Six saves: a calibration begun, normalized, calibrated, then reset and done again.
  const std::array<Record, 6> saves = {
      record(1, Phase::kNormalizing, 0.0F),  record(1, Phase::kThresholding, 0.0F),
      record(1, Phase::kCalibrated, 1.25F),  record(2, Phase::kNormalizing, 0.0F),
      record(2, Phase::kThresholding, 0.0F), record(2, Phase::kCalibrated, 0.75F)};
  std::uint64_t total_ops = 0;
  {
    CalibrationStore store;
    ASSERT_TRUE(store.mount(area_.get()).ok());
    const std::uint64_t before = flash_->operations();
    for (const Record& r : saves)
      ASSERT_TRUE(store.save(r).ok());
    total_ops = flash_->operations() - before;
  }
  ASSERT_EQ(total_ops, 2 * saves.size());  // an erase and a write each
  for (std::uint64_t cut = 0; cut < total_ops; ++cut) {
    std::filesystem::remove(path_);
    reboot();
    std::size_t completed = 0;
    {
      CalibrationStore store;
      ASSERT_TRUE(store.mount(area_.get()).ok());
      flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
      while (completed < saves.size() && store.save(saves[completed]).ok())
        ++completed;
    }
    reboot();
    CalibrationStore store;
    ASSERT_TRUE(store.mount(area_.get()).ok()) << "cut " << cut;
    if (completed == 0) {
      EXPECT_FALSE(store.has_record()) << "cut " << cut;
    } else {
      ASSERT_TRUE(store.has_record()) << "cut " << cut;
      expect_same(store.record(), saves[completed - 1]);
    }
    // And the store goes on working after the reset.
    ASSERT_TRUE(store.save(saves.back()).ok()) << "cut " << cut;
  }
}

}  // namespace
}  // namespace spindle::calibration
