// The work queue's job: each full window through features and inference, then its reading
// (and every stats_every windows the feature statistics) durably into the flash ring, then
// the network thread is woken. A window also feeds an outstanding data capture.
#include <cmath>

#include "node_state_private.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/telemetry/reading.hpp"

namespace spindle::app::internal {

void FeatureAccumulator::add(std::span<const float> features) {
  ++windows;
  for (std::size_t i = 0; i < features.size() && i < kMaxFeatures; ++i) {
    const double value = static_cast<double>(features[i]);
    const double delta = value - mean[i];
    mean[i] += delta / windows;
    m2[i] += delta * (value - mean[i]);
  }
}

namespace {

void append_record(telemetry::RecordKind kind, std::span<const std::uint8_t> payload) {
  os::LockGuard guard(g_state.ring_mutex);
  const Status s = g_state.ring.append(static_cast<std::uint8_t>(kind), payload);
  if (!s.ok()) fail(s, "appending to the telemetry ring");
}

void process_window(std::uint8_t index) {
  const NodeConfig& config = *g_state.config;
  const std::size_t length = config.board.window_length;
  WindowBuffer& w = g_state.windows[index];
  WindowResult result;
  const Status s = g_state.pipeline.process({w.x.data(), length}, {w.y.data(), length},
                                            {w.z.data(), length}, &result);
  if (!s.ok() && g_state.installer->running()) {
    // The model failed on this window: the installer reverts a model still on trial; the
    // window is lost and counted as unscored.
    SPINDLE_LOG_ERR(kLog, "the model failed on a window: %s", s.name());
    g_state.installer->on_window_scored(false);
    result.scored = false;
  } else if (!s.ok()) {
    fail(s, "processing a window");
    return;
  } else if (result.scored) {
    g_state.installer->on_window_scored(true);
  }
  if (s.ok()) {
    g_state.idle.observe(result.features, config.board.sensor_axes);
    g_state.capture.offer(result.features, {w.x.data(), length}, {w.y.data(), length},
                          {w.z.data(), length});
  }
  telemetry::Reading reading;
  reading.seq = g_state.next_seq++;
  reading.unix_ms = w.unix_ms;
  reading.score = result.scored ? result.score : std::nanf("");
  reading.anomaly = result.anomaly;
  reading.calibrating = result.calibrating;
  reading.latency_us = result.latency_us;
  reading.arena_high_water = result.arena_high_water;
  reading.uptime_s = static_cast<std::uint32_t>(os::uptime_ms() / 1000);
  reading.reboots = g_state.reboots;
  reading.ring_dropped = g_state.ring.dropped();
  std::array<std::uint8_t, telemetry::kMaxRecordPayload> payload{};
  const auto size = telemetry::serialize(reading, payload);
  if (!size.ok()) {
    fail(size.status(), "serializing a reading");
    return;
  }
  append_record(telemetry::RecordKind::kReading, {payload.data(), *size});

  g_state.accumulator.add(result.features);
  if (g_state.accumulator.windows >= config.stats_every) {
    telemetry::FeatureStats stats;
    stats.seq = g_state.next_seq++;
    stats.unix_ms = w.unix_ms;
    stats.windows = static_cast<std::uint16_t>(g_state.accumulator.windows);
    stats.count = static_cast<std::uint8_t>(result.features.size());
    for (std::size_t i = 0; i < stats.count; ++i) {
      stats.mean[i] = static_cast<float>(g_state.accumulator.mean[i]);
      stats.stddev[i] =
          static_cast<float>(std::sqrt(g_state.accumulator.m2[i] / g_state.accumulator.windows));
    }
    g_state.accumulator = {};
    const auto stats_size = telemetry::serialize(stats, payload);
    if (!stats_size.ok()) {
      fail(stats_size.status(), "serializing feature statistics");
      return;
    }
    append_record(telemetry::RecordKind::kFeatureStats, {payload.data(), *stats_size});
  }
  g_state.network_wake.give();
}

}  // namespace

bool NodeActivationConditions::utc_now_ms(std::uint64_t* out) {
  // The platform's wall clock is UTC (native_sim: the host's; an MCU board: its RTC once
  // set). A board without one gives no time, and window activations wait.
  const Platform* platform = g_state.platform;
  if (platform == nullptr || platform->wall_clock_ms == nullptr) return false;
  *out = platform->wall_clock_ms();
  return *out != 0;
}

bool NodeActivationConditions::machine_idle() {
  return g_state.idle.idle();
}

void on_window_work(os::Work*) {
  std::uint8_t index = 0;
  while (g_state.full_windows.get(&index, os::kNoWait).ok()) {
    process_window(index);
    ++g_state.windows_processed;
    (void)g_state.free_windows.put(index, os::kNoWait);
  }
}

}  // namespace spindle::app::internal
