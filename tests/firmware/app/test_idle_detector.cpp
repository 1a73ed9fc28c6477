// app/idle_detector: the idle condition of gated activation on real simulated windows
// (the reference machine through the node's feature extractor, with the board's level):
// a stopped machine is idle after the board's number of quiet windows, a running one never,
// and one window of the machine starting again ends it.
#include "spindle/app/idle_detector.hpp"

#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <string>
#include <vector>

#include "spindle/boards/board_lookup.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/sensor/vibration_simulator.hpp"

namespace spindle::app {
namespace {

class IdleDetectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    const auto board = boards::load_board("native_sim", &error);
    ASSERT_TRUE(board.ok());
    board_ = *board;
    features::FeatureConfig config;
    config.window_length = board_.window_length;
    config.sample_rate_hz = board_.sensor_rate_hz;
    config.axes = board_.sensor_axes;
    scratch_.resize(features::scratch_bytes(config.window_length));
    auto extractor = features::FeatureExtractor::create(config, scratch_);
    ASSERT_TRUE(extractor.ok());
    extractor_ = *extractor;
    detector_.configure(board_.idle_rms_mg, board_.idle_windows);
  }

  // Runs `windows` windows of `sim` through the extractor into the detector; returns how
  // many of them ended idle.
  std::uint32_t feed(sensor::VibrationSimulator& sim, std::uint32_t windows) {
    std::vector<float> x(board_.window_length), y(x.size()), z(x.size());
    std::array<float, kMaxFeatures> out{};
    std::uint32_t idle = 0;
    for (std::uint32_t i = 0; i < windows; ++i) {
      EXPECT_TRUE(sim.read(x, y, z).ok());
      EXPECT_TRUE(extractor_.extract(x, y, z, out).ok());
      detector_.observe({out.data(), extractor_.feature_count()}, board_.sensor_axes);
      if (detector_.idle()) ++idle;
    }
    return idle;
  }

  board::BoardProfile board_;
  std::vector<std::byte> scratch_;
  features::FeatureExtractor extractor_;
  IdleDetector detector_;
};

TEST_F(IdleDetectorTest, ARunningMachineIsNeverIdle) {
  for (const std::uint64_t seed : {1U, 2U, 3U}) {
    sensor::SimulatorConfig config;
    config.seed = seed;
    auto sim = sensor::VibrationSimulator::create(config);
    ASSERT_TRUE(sim.ok());
    EXPECT_EQ(feed(sim.value(), 4 * board_.idle_windows), 0U) << "seed " << seed;
  }
}

TEST_F(IdleDetectorTest, AStoppedMachineIsIdleAfterTheBoardsWindowsAndNoLongerOnceItRuns) {
  const double window_s =
      static_cast<double>(board_.window_length) / static_cast<double>(board_.sensor_rate_hz);
  sensor::SimulatorConfig config;
  config.stop = {static_cast<float>(10 * window_s), static_cast<float>(40 * window_s)};
  auto sim = sensor::VibrationSimulator::create(config);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(feed(sim.value(), 10), 0U);  // running
  // Stopped: quiet from the first window, idle from the board's idle_windows-th on.
  ASSERT_LT(board_.idle_windows, 30U);
  EXPECT_EQ(feed(sim.value(), board_.idle_windows - 1), 0U);
  EXPECT_EQ(feed(sim.value(), 1), 1U);
  EXPECT_EQ(feed(sim.value(), 30 - board_.idle_windows), 30 - board_.idle_windows);
  // The machine starts again: not idle at its first window.
  EXPECT_EQ(feed(sim.value(), 1), 0U);
  EXPECT_FALSE(detector_.idle());
}

TEST_F(IdleDetectorTest, OneLoudWindowStartsTheCountAgain) {
  IdleDetector d;
  d.configure(25, 3);
  std::array<float, 45> quiet{};
  std::array<float, 45> loud{};
  loud[features::feature_index(1, features::AxisFeature::kRms)] = 0.03F;
  quiet[features::feature_index(2, features::AxisFeature::kRms)] = 0.02F;
  EXPECT_FLOAT_EQ(IdleDetector::overall_rms(loud, 3), 0.03F);
  d.observe(quiet, 3);
  d.observe(quiet, 3);
  d.observe(loud, 3);
  d.observe(quiet, 3);
  d.observe(quiet, 3);
  EXPECT_FALSE(d.idle());
  d.observe(quiet, 3);
  EXPECT_TRUE(d.idle());
  // A vector too short for its axes, or NaN, is not quiet.
  d.observe(std::span<const float>(quiet).first(10), 3);
  EXPECT_FALSE(d.idle());
  std::array<float, 45> nan = quiet;
  nan[0] = std::numeric_limits<float>::quiet_NaN();
  for (int i = 0; i < 5; ++i)
    d.observe(nan, 3);
  EXPECT_FALSE(d.idle());
}

}  // namespace
}  // namespace spindle::app
