#include "spindle/app/pipeline.hpp"

#include <array>
#include <cstddef>

#include "spindle/board_config.h"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"

namespace spindle::app {
namespace {

constexpr const char* kLog = "pipeline";
constexpr std::size_t kWindowCapacity = CONFIG_SENSOR_WINDOW_LENGTH;

// Static memory sized from the board this firmware is built for.
alignas(16) std::array<std::byte, features::scratch_bytes(kWindowCapacity)> g_feature_scratch;
alignas(16) std::array<std::uint8_t, CONFIG_MODEL_ARENA_SIZE> g_arena;
features::FeatureExtractor g_extractor;
inference::Interpreter g_interpreter;
std::array<float, kMaxFeatures> g_features;

}  // namespace

Status Pipeline::init(const board::BoardProfile& board, std::span<const std::uint8_t> model,
                      float threshold) {
  if (board.window_length > kWindowCapacity || board.model_arena_bytes > g_arena.size()) {
    SPINDLE_LOG_ERR(kLog, "board %s needs window %u / arena %u; this build has %zu / %zu",
                    board.name().data(), board.window_length, board.model_arena_bytes,
                    kWindowCapacity, g_arena.size());
    return Error::kDoesNotFit;
  }
  features::FeatureConfig config;
  config.window_length = board.window_length;
  config.sample_rate_hz = board.sensor_rate_hz;
  config.axes = board.sensor_axes;
  auto extractor = features::FeatureExtractor::create(config, g_feature_scratch);
  SPINDLE_TRY(extractor.status());
  g_extractor = std::move(extractor).value();
  threshold_ = threshold;
  has_model_ = false;
  if (model.empty()) return kOk;
  // Only the board's arena is used, so native_sim holds a model to a real board's budget.
  const Status loaded = g_interpreter.load(model, {g_arena.data(), board.model_arena_bytes});
  if (!loaded.ok()) {
    SPINDLE_LOG_ERR(kLog, "model refused: %s (needs %zu arena bytes, board %s gives %u)",
                    loaded.name(), g_interpreter.required_arena_bytes(), board.name().data(),
                    board.model_arena_bytes);
    return loaded;
  }
  if (g_interpreter.input_size() != g_extractor.feature_count()) {
    SPINDLE_LOG_ERR(kLog, "model takes %zu inputs, the node extracts %zu features",
                    g_interpreter.input_size(), g_extractor.feature_count());
    g_interpreter.unload();
    return Error::kSizeMismatch;
  }
  has_model_ = true;
  SPINDLE_LOG_INF(kLog, "model loaded: %zu features, arena %zu of %u bytes, threshold %.4f",
                  g_interpreter.input_size(), g_interpreter.required_arena_bytes(),
                  board.model_arena_bytes, static_cast<double>(threshold));
  return kOk;
}

Status Pipeline::process(std::span<const float> x, std::span<const float> y,
                         std::span<const float> z, WindowResult* result) {
  const std::int64_t start_us = os::uptime_us();
  const std::size_t count = g_extractor.feature_count();
  SPINDLE_TRY(g_extractor.extract(x, y, z, g_features));
  result->features = {g_features.data(), count};
  result->scored = false;
  if (has_model_) {
    SPINDLE_TRY(g_interpreter.invoke(result->features, &result->score));
    result->scored = true;
    result->anomaly = result->score > threshold_;
    result->arena_high_water = static_cast<std::uint32_t>(g_interpreter.arena_high_water_mark());
  }
  result->latency_us = static_cast<std::uint32_t>(os::uptime_us() - start_us);
  return kOk;
}

}  // namespace spindle::app
