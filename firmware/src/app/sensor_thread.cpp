// The sensor thread: fills the two window buffers from the sample source, paced to the
// sensor rate (NodeConfig::speed), and hands each full window to the work queue. A window
// for which no buffer is free in time is lost and counted as an overrun, not hidden.
#include "node_state_private.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"

namespace spindle::app::internal {

void sensor_main(void*) {
  const NodeConfig& config = *g_state.config;
  const std::size_t length = config.board.window_length;
  const double window_s = static_cast<double>(length) / config.board.sensor_rate_hz;
  const std::int64_t start_us = os::uptime_us();
  for (std::uint64_t n = 0; !g_stop && (config.window_limit == 0 || n < config.window_limit); ++n) {
    std::uint8_t index = 0;
    if (!g_state.free_windows.get(&index, os::Timeout::millis(500)).ok()) {
      // The work queue is behind: this window's samples are lost; counted, not hidden.
      ++g_state.window_overruns;
      --n;
      continue;
    }
    WindowBuffer& w = g_state.windows[index];
    const Status s = g_state.platform->source->read({w.x.data(), length}, {w.y.data(), length},
                                                    {w.z.data(), length});
    if (s == Status(Error::kUnavailable)) {
      SPINDLE_LOG_INF(kLog, "sample source ended after %llu windows",
                      static_cast<unsigned long long>(n));
      break;
    }
    if (!s.ok()) {
      fail(s, "reading the sensor");
      break;
    }
    w.unix_ms = g_state.platform->wall_clock_ms();
    if (config.speed > 0.0) {
      const auto due_us = start_us + static_cast<std::int64_t>(static_cast<double>(n + 1) *
                                                               window_s * 1e6 / config.speed);
      const std::int64_t wait_us = due_us - os::uptime_us();
      if (wait_us > 0) os::sleep_ms((wait_us + 999) / 1000);
    }
    ++g_state.windows_submitted;
    (void)g_state.full_windows.put(index, os::kNoWait);
    (void)g_state.work_queue.submit(&g_state.window_work);
  }
  g_state.sampling_done = true;
  g_state.network_wake.give();
}

}  // namespace spindle::app::internal
