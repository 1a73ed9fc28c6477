#include "spindle/app/pipeline.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

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
std::array<float, kMaxFeatures> g_model_input;
// The shadow's, beside the active model's (docs/firmware/shadow.md).
alignas(16) std::array<std::uint8_t, CONFIG_SHADOW_ARENA_SIZE> g_shadow_arena;
inference::Interpreter g_shadow_interpreter;
std::array<float, kMaxFeatures> g_shadow_input;

// Every self-test vector of the manifest through the int8 path, output compared bit for
// bit. Errors: kSelfTestFailed, the runtime's.
Status run_self_tests(inference::Interpreter& interpreter, const manifest::Manifest& manifest) {
  for (std::size_t i = 0; i < manifest.self_test_count; ++i) {
    const auto& vector = manifest.self_tests[i];
    const std::span<const std::int8_t> input(
        reinterpret_cast<const std::int8_t*>(vector.input.data()), vector.input.size());
    Status s = interpreter.invoke_int8(input);
    const auto output = interpreter.int8_output();
    if (s.ok() &&
        (output.size() != vector.expected_output.size() ||
         !std::equal(output.begin(), output.end(),
                     reinterpret_cast<const std::int8_t*>(vector.expected_output.data())))) {
      s = Error::kSelfTestFailed;
    }
    if (!s.ok()) {
      SPINDLE_LOG_ERR(kLog, "self-test %zu of %zu: %s", i + 1, manifest.self_test_count, s.name());
      return s == Status(Error::kSizeMismatch) ? Status(Error::kSelfTestFailed) : s;
    }
  }
  SPINDLE_LOG_INF(kLog, "%zu self-tests passed", manifest.self_test_count);
  return kOk;
}

}  // namespace

Status Pipeline::init(const board::BoardProfile& board, std::span<const std::uint8_t> model,
                      float threshold, os::FlashArea* calibration_area) {
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
  board_ = &board;
  os::LockGuard guard(mutex_);
  has_model_ = false;
  calibration_.stop();
  has_shadow_ = false;
  shadow_calibration_.stop();
  if (calibration_area != nullptr) SPINDLE_TRY(calibration_.attach(calibration_area));
  if (model.empty()) return kOk;
  return load_locked(model, threshold);
}

Status Pipeline::load_locked(std::span<const std::uint8_t> model, float threshold) {
  const board::BoardProfile& board = *board_;
  has_model_ = false;
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
  calibration_.stop(threshold);
  has_model_ = true;
  SPINDLE_LOG_INF(kLog, "model loaded: %zu features, arena %zu of %u bytes, threshold %.4f",
                  g_interpreter.input_size(), g_interpreter.required_arena_bytes(),
                  board.model_arena_bytes, static_cast<double>(threshold));
  return kOk;
}

void Pipeline::suspend() {
  os::LockGuard guard(mutex_);
  has_model_ = false;
  calibration_.stop();
  g_interpreter.unload();
}

Status Pipeline::load(std::span<const std::uint8_t> container, const manifest::Manifest& manifest) {
  if (board_ == nullptr) return Error::kInvalidState;
  os::LockGuard guard(mutex_);
  SPINDLE_TRY(load_locked(container, manifest.threshold));
  const Status tested = run_self_tests(g_interpreter, manifest);
  if (!tested.ok()) {
    has_model_ = false;
    g_interpreter.unload();
    return tested;
  }
  // A promoted shadow keeps what it learned of this machine (suspend_shadow leaves the
  // shadow's calibration in RAM until the next shadow loads).
  const Status calibrated =
      calibration_.start(manifest, g_interpreter.input_size(), &shadow_calibration_);
  if (!calibrated.ok()) {
    SPINDLE_LOG_ERR(kLog, "calibration refused: %s", calibrated.name());
    has_model_ = false;
    calibration_.stop();
    g_interpreter.unload();
    return calibrated;
  }
  return kOk;
}

void Pipeline::suspend_shadow() {
  os::LockGuard guard(mutex_);
  has_shadow_ = false;
  g_shadow_interpreter.unload();
}

Status Pipeline::load_shadow(std::span<const std::uint8_t> container,
                             const manifest::Manifest& manifest) {
  if (board_ == nullptr) return Error::kInvalidState;
  os::LockGuard guard(mutex_);
  has_shadow_ = false;
  shadow_calibration_.stop();
  const board::BoardProfile& board = *board_;
  // The board's shadow arena, within what this build reserved (--board may name a smaller
  // board than the one built for).
  const std::size_t arena = std::min<std::size_t>(g_shadow_arena.size(), board.shadow_arena_bytes);
  const Status loaded = g_shadow_interpreter.load(container, {g_shadow_arena.data(), arena});
  if (!loaded.ok()) {
    SPINDLE_LOG_ERR(kLog, "shadow refused: %s (needs %zu arena bytes, board %s gives %zu)",
                    loaded.name(), g_shadow_interpreter.required_arena_bytes(), board.name().data(),
                    arena);
    return loaded;
  }
  Status s = g_shadow_interpreter.input_size() == g_extractor.feature_count()
                 ? run_self_tests(g_shadow_interpreter, manifest)
                 : Status(Error::kSizeMismatch);
  if (s.ok()) s = shadow_calibration_.start(manifest, g_shadow_interpreter.input_size());
  if (!s.ok()) {
    SPINDLE_LOG_ERR(kLog, "shadow refused: %s", s.name());
    shadow_calibration_.stop();
    g_shadow_interpreter.unload();
    return s;
  }
  shadow_stats_ = {};
  shadow_id_.fill('\0');
  std::memcpy(shadow_id_.data(), manifest.model_id.data(),
              std::min(manifest.model_id.size(), kMaxIdSize));
  shadow_version_ = manifest.version;
  shadow_state_ = shadow_calibration_.state();
  has_shadow_ = true;
  shadow_report_due_ = true;
  SPINDLE_LOG_INF(kLog, "shadow %s v%llu loaded: arena %zu of %zu bytes, threshold %.4f",
                  shadow_id_.data(), static_cast<unsigned long long>(shadow_version_),
                  g_shadow_interpreter.required_arena_bytes(), arena,
                  static_cast<double>(manifest.threshold));
  return kOk;
}

void Pipeline::score_shadow(WindowResult* result, float active_threshold) {
  const std::int64_t start_us = os::uptime_us();
  const auto input = shadow_calibration_.input(result->features, g_shadow_input);
  float score = 0.0F;
  const Status s = input.ok() ? g_shadow_interpreter.invoke(*input, &score) : input.status();
  const auto latency_us = static_cast<std::uint32_t>(os::uptime_us() - start_us);
  if (!s.ok()) {
    // The shadow's failure is the shadow's: the active model's window stands.
    SPINDLE_LOG_WRN(kLog, "the shadow failed on a window: %s", s.name());
    return;
  }
  const bool shadow_calibrating = shadow_calibration_.calibrating();
  result->shadow_scored = true;
  result->shadow_score = score;
  result->shadow_anomaly = shadow_calibration_.anomaly(score);
  ShadowStats& st = shadow_stats_;
  ++st.scored;
  ++st.active_histogram[status_report::histogram_bin(result->score, active_threshold)];
  ++st.shadow_histogram[status_report::histogram_bin(score, shadow_calibration_.threshold())];
  if (!result->calibrating && !shadow_calibrating) {
    ++st.compared;
    if (result->anomaly == result->shadow_anomaly) ++st.agreed;
    if (result->anomaly) ++st.active_anomalies;
    if (result->shadow_anomaly) ++st.shadow_anomalies;
  }
  st.latency_total_us += latency_us;
  st.latency_max_us = std::max(st.latency_max_us, latency_us);
  shadow_calibration_.observe(result->features, score);
  const status_report::CalibrationState state = shadow_calibration_.state();
  if (state != shadow_state_ || st.scored % kShadowReportEvery == 0) shadow_report_due_ = true;
  shadow_state_ = state;
}

bool Pipeline::shadow_report(status_report::ShadowReport* out) {
  os::LockGuard guard(mutex_);
  if (!has_shadow_) return false;
  const ShadowStats& st = shadow_stats_;
  *out = {};
  out->model_id = shadow_id_.data();
  out->version = shadow_version_;
  out->scored = st.scored;
  out->compared = st.compared;
  out->agreed = st.agreed;
  out->active_anomalies = st.active_anomalies;
  out->shadow_anomalies = st.shadow_anomalies;
  out->active_histogram = st.active_histogram;
  out->shadow_histogram = st.shadow_histogram;
  out->latency_mean_us =
      st.scored == 0 ? 0 : static_cast<std::uint32_t>(st.latency_total_us / st.scored);
  out->latency_max_us = st.latency_max_us;
  out->calibration = shadow_state_;
  out->arena_high_water = static_cast<std::uint32_t>(g_shadow_interpreter.arena_high_water_mark());
  return true;
}

bool Pipeline::calibration_report(std::span<std::uint8_t> buffer,
                                  status_report::CalibrationReport* out) {
  os::LockGuard guard(mutex_);
  return has_model_ && calibration_.report(buffer, out);
}

Status Pipeline::recalibrate(std::uint64_t after_generation) {
  os::LockGuard guard(mutex_);
  if (!has_model_) return Error::kInvalidState;
  return calibration_.restart(after_generation);
}

Status Pipeline::process(std::span<const float> x, std::span<const float> y,
                         std::span<const float> z, WindowResult* result) {
  const std::int64_t start_us = os::uptime_us();
  const std::size_t count = g_extractor.feature_count();
  SPINDLE_TRY(g_extractor.extract(x, y, z, g_features));
  result->features = {g_features.data(), count};
  result->scored = false;
  os::LockGuard guard(mutex_);
  if (has_model_) {
    SPINDLE_TRY_ASSIGN(const std::span<const float> input,
                       calibration_.input(result->features, g_model_input));
    SPINDLE_TRY(g_interpreter.invoke(input, &result->score));
    result->scored = true;
    result->calibrating = calibration_.calibrating();
    result->anomaly = calibration_.anomaly(result->score);
    const float threshold = calibration_.threshold();  // in force for this window
    calibration_.observe(result->features, result->score);
    result->arena_high_water = static_cast<std::uint32_t>(g_interpreter.arena_high_water_mark());
    // Measured before the shadow runs: the reading's latency is the active model's.
    result->latency_us = static_cast<std::uint32_t>(os::uptime_us() - start_us);
    if (has_shadow_) score_shadow(result, threshold);
    return kOk;
  }
  result->latency_us = static_cast<std::uint32_t>(os::uptime_us() - start_us);
  return kOk;
}

}  // namespace spindle::app
