// app/model_calibration: a model with a calibration section is adapted to the machine
// before it raises an alarm; the calibration survives a reset and belongs to one model
// version; the operator's reset begins the next generation once; a model without the
// section runs as trained.
#include "spindle/app/model_calibration.hpp"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <memory>

#include "scratch_file.hpp"
#include "spindle/os/posix/file_flash.hpp"

namespace spindle::app {
namespace {

constexpr std::size_t kFeatures = 2;
constexpr std::uint32_t kSector = 4096;

class ModelCalibrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reboot();
    manifest_.model_id = "vib-ae";
    manifest_.version = 3;
    manifest_.threshold = 2.0F;
    manifest_.baseline_count = kFeatures;
    manifest_.baseline[0] = {100.0F, 10.0F};  // the fleet's
    manifest_.baseline[1] = {0.0F, 1.0F};
    manifest_.has_calibration = true;
    manifest_.calibration = {.normalization_windows = 16,
                             .threshold_windows = 16,
                             .threshold_quantile = 1.0F,
                             .threshold_margin = 2.0F,
                             .threshold_min = 0.5F,
                             .threshold_max = 8.0F};
  }

  void reboot() {
    flash_ = std::make_unique<os::posix::FileFlash>();
    ASSERT_TRUE(flash_->open(path_.c_str(), 2 * kSector, kSector, 4).ok());
    area_ = std::make_unique<os::FlashArea>(*flash_, 0, 2 * kSector);
    calibration_ = std::make_unique<ModelCalibration>();
    ASSERT_TRUE(calibration_->attach(area_.get()).ok());
  }

  // One window of this machine (feature 0 around 50, not the fleet's 100), scored `score`.
  void window(float score, float wobble = 1.0F) {
    const std::array<float, kFeatures> raw = {50.0F + wobble, 3.0F};
    calibration_->observe(raw, score);
  }

  std::array<float, kFeatures> input_of(std::array<float, kFeatures> raw) {
    std::array<float, kFeatures> scratch{};
    const auto in = calibration_->input(raw, scratch);
    EXPECT_TRUE(in.ok());
    return {(*in)[0], (*in)[1]};
  }

  spindle::test::ScratchFile scratch_{".flash"};
  const std::filesystem::path path_ = scratch_.path();
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> area_;
  std::unique_ptr<ModelCalibration> calibration_;
  manifest::Manifest manifest_;
};

TEST_F(ModelCalibrationTest, NoAlarmUntilCalibratedThenTheMachinesOwnThreshold) {
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  EXPECT_TRUE(calibration_->calibrating());
  // Normalizing: the fleet's baseline stands in, and a huge score raises nothing.
  EXPECT_FLOAT_EQ(input_of({110.0F, 0.0F})[0], 1.0F);
  EXPECT_FALSE(calibration_->anomaly(1000.0F));
  for (int i = 0; i < 16; ++i)
    window(0.0F, i % 2 == 0 ? 1.0F : -1.0F);
  // Thresholding: the machine's own normalization (mean 50, stddev 1, floored at 2.5).
  EXPECT_FLOAT_EQ(input_of({55.0F, 3.0F})[0], 2.0F);
  EXPECT_FALSE(calibration_->anomaly(1000.0F));
  for (int i = 0; i < 16; ++i)
    window(static_cast<float>(i) * 0.1F);  // highest 1.5: threshold 3.0
  EXPECT_FALSE(calibration_->calibrating());
  EXPECT_FALSE(calibration_->anomaly(2.9F));
  EXPECT_TRUE(calibration_->anomaly(3.1F));
  std::array<std::uint8_t, kFeatures * 8> pairs{};
  status_report::CalibrationReport report;
  ASSERT_TRUE(calibration_->report(pairs, &report));
  EXPECT_EQ(report.state, status_report::CalibrationState::kCalibrated);
  EXPECT_EQ(report.generation, 1U);
  EXPECT_EQ(report.windows_done, 32U);
  EXPECT_EQ(report.windows_total, 32U);
  EXPECT_FLOAT_EQ(report.threshold, 3.0F);
  EXPECT_EQ(report.normalization.size(), kFeatures * 8);
}

TEST_F(ModelCalibrationTest, ACalibrationSurvivesAResetForTheSameModelVersionOnly) {
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  for (int i = 0; i < 32; ++i)
    window(i < 16 ? 0.0F : 1.0F);
  ASSERT_FALSE(calibration_->calibrating());
  reboot();
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  EXPECT_FALSE(calibration_->calibrating());
  EXPECT_TRUE(calibration_->anomaly(2.5F));  // threshold 2.0 = 1.0 x margin 2
  manifest_.version = 4;                     // a new version calibrates again
  reboot();
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  EXPECT_TRUE(calibration_->calibrating());
}

TEST_F(ModelCalibrationTest, APhaseInterruptedByAResetStartsAgainKeepingWhatWasLearned) {
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  for (int i = 0; i < 20; ++i)  // normalized, and 4 windows into the threshold
    window(0.0F);
  reboot();
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  std::array<std::uint8_t, kFeatures * 8> pairs{};
  status_report::CalibrationReport report;
  ASSERT_TRUE(calibration_->report(pairs, &report));
  EXPECT_EQ(report.state, status_report::CalibrationState::kThresholding);
  EXPECT_EQ(report.windows_done, 16U);
}

TEST_F(ModelCalibrationTest, TheOperatorsResetBeginsTheNextGenerationOnce) {
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  for (int i = 0; i < 32; ++i)
    window(1.0F);
  ASSERT_TRUE(calibration_->restart(1).ok());
  EXPECT_TRUE(calibration_->calibrating());
  for (int i = 0; i < 5; ++i)
    window(1.0F);
  // The gateway repeats its request until it hears of generation 2: nothing happens again.
  ASSERT_TRUE(calibration_->restart(1).ok());
  std::array<std::uint8_t, kFeatures * 8> pairs{};
  status_report::CalibrationReport report;
  ASSERT_TRUE(calibration_->report(pairs, &report));
  EXPECT_EQ(report.generation, 2U);
  EXPECT_EQ(report.windows_done, 5U);
}

TEST_F(ModelCalibrationTest, AModelWithoutCalibrationRunsAsTrained) {
  manifest_.has_calibration = false;
  ASSERT_TRUE(calibration_->start(manifest_, kFeatures).ok());
  EXPECT_FALSE(calibration_->calibrating());
  EXPECT_TRUE(calibration_->anomaly(2.5F));
  EXPECT_FLOAT_EQ(input_of({110.0F, 7.0F})[0], 110.0F);  // raw
  std::array<std::uint8_t, kFeatures * 8> pairs{};
  status_report::CalibrationReport report;
  ASSERT_TRUE(calibration_->report(pairs, &report));
  EXPECT_EQ(report.state, status_report::CalibrationState::kNone);
  EXPECT_EQ(calibration_->restart(0), Status(Error::kInvalidState));
}

TEST_F(ModelCalibrationTest, ACalibrationWhoseBaselineDoesNotFitTheModelIsRefused) {
  manifest_.baseline_count = 1;
  EXPECT_EQ(calibration_->start(manifest_, kFeatures), Status(Error::kInvalidValue));
}

}  // namespace
}  // namespace spindle::app
