// app/pipeline: a candidate in shadow scores the same real windows as the active model
// (simulated accelerometer, real features, real int8 runtime) and is compared with it; the
// active model's verdicts stand. The same model in shadow agrees on every window; one with a
// lower threshold disagrees on exactly the windows between the two thresholds. A shadow
// calibrates on this machine in RAM, leaving the active model's stored calibration alone,
// and a promoted shadow keeps its calibration.
#include "spindle/app/pipeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "scratch_file.hpp"
#include "spindle/boards/board_lookup.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/os/posix/file_flash.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/sensor/vibration_simulator.hpp"

namespace spindle::app {
namespace {

constexpr std::size_t kWindows = 96;

class PipelineShadowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    auto board = boards::load_board("native_sim", &problem);
    ASSERT_TRUE(board.ok()) << problem;
    board_ = *board;
    const std::size_t features = features::feature_count(board_.sensor_axes);
    const std::vector<std::size_t> widths = {features, 8, features};
    auto random = modelkit::random_autoencoder(widths, 5);
    ASSERT_TRUE(random.ok());
    auto packed = modelkit::pack_autoencoder(random->model, random->calibration);
    ASSERT_TRUE(packed.ok());
    container_ = packed->container;
    manifest_.model_id = "vib-ae";
    manifest_.version = 1;
    manifest_.threshold = 1.0F;
    ASSERT_TRUE(pipeline_.init(board_, {}, 0.0F).ok());
    ASSERT_TRUE(pipeline_.load(container_, manifest_).ok());
  }

  // The next window of a healthy machine, seeded so every run sees the same windows.
  WindowResult next_window() {
    const std::size_t n = board_.window_length;
    std::vector<float> x(n), y(n), z(n);
    EXPECT_TRUE(simulator_.read(x, y, z).ok());
    WindowResult result;
    EXPECT_TRUE(pipeline_.process(x, y, z, &result).ok());
    EXPECT_TRUE(result.scored);
    return result;
  }

  // The active model's scores on the first kWindows windows.
  std::vector<float> active_scores() {
    std::vector<float> scores;
    for (std::size_t i = 0; i < kWindows; ++i)
      scores.push_back(next_window().score);
    simulator_ = sensor::VibrationSimulator();  // the same windows again
    return scores;
  }

  static float median(std::vector<float> scores) {
    std::nth_element(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(kWindows / 2),
                     scores.end());
    return scores[kWindows / 2];
  }

  // The shadow report, checked against what the wire accepts.
  status_report::ShadowReport report() {
    status_report::StatusReport r;
    r.kind = status_report::Kind::kShadow;
    EXPECT_TRUE(pipeline_.shadow_report(&r.shadow));
    std::array<std::uint8_t, 512> body{};
    const auto encoded = status_report::encode(r, body);
    EXPECT_TRUE(encoded.ok()) << encoded.status().name();
    return r.shadow;
  }

  board::BoardProfile board_;
  std::vector<std::uint8_t> container_;
  manifest::Manifest manifest_;
  Pipeline pipeline_;
  sensor::VibrationSimulator simulator_;
};

TEST_F(PipelineShadowTest, TheSameModelInShadowAgreesOnEveryWindow) {
  const std::vector<float> scores = active_scores();
  manifest_.threshold = median(scores);  // half the windows flagged: the verdicts vary
  ASSERT_TRUE(pipeline_.load(container_, manifest_).ok());
  status_report::ShadowReport unused;
  EXPECT_FALSE(pipeline_.shadow_report(&unused));  // no shadow yet
  manifest_.version = 2;
  ASSERT_TRUE(pipeline_.load_shadow(container_, manifest_).ok());
  EXPECT_TRUE(pipeline_.take_shadow_report_due());
  for (std::size_t i = 0; i < kWindows; ++i) {
    const WindowResult r = next_window();
    ASSERT_TRUE(r.shadow_scored);
    EXPECT_EQ(r.score, scores[i]);  // the active model's window is what it was alone
    EXPECT_EQ(r.shadow_score, r.score);
    EXPECT_EQ(r.shadow_anomaly, r.anomaly);
    // A report every 64 windows scored by both.
    EXPECT_EQ(pipeline_.take_shadow_report_due(), i + 1 == Pipeline::kShadowReportEvery) << i;
  }
  const status_report::ShadowReport r = report();
  EXPECT_EQ(r.model_id, "vib-ae");
  EXPECT_EQ(r.version, 2U);
  EXPECT_EQ(r.scored, kWindows);
  EXPECT_EQ(r.compared, kWindows);
  EXPECT_EQ(r.agreed, kWindows);
  EXPECT_EQ(r.active_anomalies, r.shadow_anomalies);
  EXPECT_GT(r.active_anomalies, 0U);
  EXPECT_LT(r.active_anomalies, kWindows);
  EXPECT_EQ(r.active_histogram, r.shadow_histogram);
  EXPECT_EQ(std::accumulate(r.shadow_histogram.begin(), r.shadow_histogram.end(), 0U), kWindows);
  EXPECT_GE(r.latency_max_us, r.latency_mean_us);
  EXPECT_GT(r.arena_high_water, 0U);
  EXPECT_EQ(r.calibration, status_report::CalibrationState::kNone);

  // Suspended, it scores nothing more and reports nothing.
  pipeline_.suspend_shadow();
  EXPECT_FALSE(next_window().shadow_scored);
  EXPECT_FALSE(pipeline_.shadow_report(&unused));
}

TEST_F(PipelineShadowTest, AShadowWithALowerThresholdDisagreesOnTheWindowsBetween) {
  const std::vector<float> scores = active_scores();
  const float threshold = median(scores);
  manifest_.threshold = threshold;
  ASSERT_TRUE(pipeline_.load(container_, manifest_).ok());
  manifest_.version = 2;
  manifest_.threshold = threshold / 2;
  ASSERT_TRUE(pipeline_.load_shadow(container_, manifest_).ok());
  const auto between = static_cast<std::uint32_t>(std::count_if(
      scores.begin(), scores.end(), [&](float s) { return s > threshold / 2 && s <= threshold; }));
  ASSERT_GT(between, 0U);
  for (std::size_t i = 0; i < kWindows; ++i)
    (void)next_window();
  const status_report::ShadowReport r = report();
  EXPECT_EQ(r.compared, kWindows);
  EXPECT_EQ(r.agreed, kWindows - between);
  EXPECT_EQ(r.shadow_anomalies, r.active_anomalies + between);
  // Each against its own threshold: the shadow's scores sit twice as high in its bins.
  EXPECT_NE(r.active_histogram, r.shadow_histogram);
}

TEST_F(PipelineShadowTest, AShadowCalibratesInRamAndIsComparedOnlyOnceCalibrated) {
  // The active model's calibration store, on a flash file whose bytes must not change.
  const spindle::test::ScratchFile scratch(".flash");
  os::posix::FileFlash flash;
  ASSERT_TRUE(flash.open(scratch.path().c_str(), 2 * 4096, 4096, 4).ok());
  os::FlashArea area(flash, 0, 2 * 4096);
  ASSERT_TRUE(pipeline_.init(board_, {}, 0.0F, &area).ok());
  ASSERT_TRUE(pipeline_.load(container_, manifest_).ok());
  const auto bytes = [&] {
    std::ifstream in(scratch.path(), std::ios::binary);
    return std::vector<char>{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  };
  const std::vector<char> before = bytes();

  manifest::Manifest shadow = manifest_;
  shadow.version = 2;
  shadow.has_calibration = true;
  shadow.baseline_count = features::feature_count(board_.sensor_axes);
  for (std::size_t i = 0; i < shadow.baseline_count; ++i)
    shadow.baseline[i] = {0.0F, 1.0F};
  shadow.calibration = {.normalization_windows = 16,
                        .threshold_windows = 16,
                        .threshold_quantile = 1.0F,
                        .threshold_margin = 2.0F,
                        .threshold_min = 1e-6F,
                        .threshold_max = 1e6F};
  ASSERT_TRUE(pipeline_.load_shadow(container_, shadow).ok());
  ASSERT_TRUE(pipeline_.take_shadow_report_due());
  EXPECT_EQ(report().calibration, status_report::CalibrationState::kNormalizing);
  std::vector<status_report::CalibrationState> reported;
  for (std::size_t i = 0; i < 40; ++i) {
    (void)next_window();
    if (pipeline_.take_shadow_report_due()) reported.push_back(report().calibration);
  }
  // A report at each change of the shadow's calibration state.
  EXPECT_EQ(reported, (std::vector<status_report::CalibrationState>{
                          status_report::CalibrationState::kThresholding,
                          status_report::CalibrationState::kCalibrated}));
  const status_report::ShadowReport r = report();
  EXPECT_EQ(r.scored, 40U);
  EXPECT_EQ(r.compared, 40U - 32U);  // judged by both only once the shadow is calibrated
  EXPECT_EQ(bytes(), before);

  // Promoted (suspended as the shadow, loaded as the active model), it keeps what it
  // learned: alarms on at once, and stored now as the active model's calibration.
  pipeline_.suspend_shadow();
  ASSERT_TRUE(pipeline_.load(container_, shadow).ok());
  std::array<std::uint8_t, 512> pairs{};
  status_report::CalibrationReport calibration;
  ASSERT_TRUE(pipeline_.calibration_report(pairs, &calibration));
  EXPECT_EQ(calibration.version, 2U);
  EXPECT_EQ(calibration.state, status_report::CalibrationState::kCalibrated);
  EXPECT_FALSE(next_window().calibrating);
  EXPECT_NE(bytes(), before);
}

}  // namespace
}  // namespace spindle::app
