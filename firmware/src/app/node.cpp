// The node application's start-up: flash partitions, boot counter, telemetry ring, model
// store and installer, then the work queue and the sensor and network threads
// (node_state_private.hpp says who owns what).
#include "spindle/app/node.hpp"

#include <algorithm>

#include "node_state_private.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/telemetry/boot_counter.hpp"
#include "spindle/telemetry/reading.hpp"

namespace spindle::app {
namespace internal {

NodeState g_state;
std::atomic<bool> g_stop{false};

void fail(Status status, const char* what) {
  SPINDLE_LOG_ERR(kLog, "%s: %s", what, status.name());
  Error expected = Error::kOk;
  g_state.failure.compare_exchange_strong(expected, status.error());
  g_stop = true;
}

}  // namespace internal

using namespace internal;

namespace {

// Stacks: the network thread holds a SenML encoding buffer (about 9 KB on a 32-bit MCU) and
// libcoap; the work queue runs features and inference, whose buffers are static.
constexpr std::size_t kSensorStackBytes = 4 * 1024;
constexpr std::size_t kWorkStackBytes = 8 * 1024;
constexpr std::size_t kNetworkStackBytes = 24 * 1024;

alignas(16) std::array<std::uint8_t, kModelRamBytes> g_model_ram;
alignas(16) std::array<std::uint8_t, kShadowModelRamBytes> g_shadow_ram;
std::array<std::uint8_t, kCaptureBufferBytes> g_capture_buffer;

}  // namespace

void request_stop() {
  g_stop = true;
}

Status run_node(const NodeConfig& config, const Platform& platform) {
  if (platform.flash == nullptr || platform.source == nullptr ||
      platform.wall_clock_ms == nullptr) {
    return Error::kInvalidValue;
  }
  SPINDLE_TRY(check_id(config.device_id));
  if (config.board.window_length > kWindowCapacity) return Error::kDoesNotFit;
  if (platform.source->sample_rate_hz() != config.board.sensor_rate_hz) {
    SPINDLE_LOG_WRN(kLog, "sample source runs at %u Hz, board at %u Hz",
                    platform.source->sample_rate_hz(), config.board.sensor_rate_hz);
  }
  g_state.config = &config;
  g_state.platform = &platform;
  g_stop = false;

  const auto& settings = config.board.partition(board::PartitionId::kSettings);
  const auto& telemetry_part = config.board.partition(board::PartitionId::kTelemetry);
  g_state.settings_area.emplace(*platform.flash, settings.offset, settings.size);
  g_state.ring_area.emplace(*platform.flash, telemetry_part.offset, telemetry_part.size);
  SPINDLE_TRY_ASSIGN(g_state.reboots, telemetry::count_boot(&*g_state.settings_area));
  SPINDLE_TRY(g_state.ring.mount(&*g_state.ring_area));
  telemetry::RingEntry newest;
  const Status found = g_state.ring.newest(&newest);
  if (found.ok()) {
    SPINDLE_TRY_ASSIGN(const std::uint32_t last, telemetry::record_seq(newest));
    g_state.next_seq = last + 1;
  } else if (found != Status(Error::kUnavailable)) {
    return found;  // guessing would restart at 1 and the gateway would drop it all
  }
  SPINDLE_LOG_INF(kLog, "%.*s on %s: boot %u, %u unsent readings in flash, next seq %u",
                  static_cast<int>(config.device_id.size()), config.device_id.data(),
                  config.board.name().data(), g_state.reboots + 1, g_state.ring.unacknowledged(),
                  g_state.next_seq);
  const auto& slot0 = config.board.partition(board::PartitionId::kSlot0);
  const auto& slot1 = config.board.partition(board::PartitionId::kSlot1);
  const auto& state_part = config.board.partition(board::PartitionId::kState);
  const auto& calibration_part = config.board.partition(board::PartitionId::kCalibration);
  g_state.slot0_area.emplace(*platform.flash, slot0.offset, slot0.size);
  g_state.slot1_area.emplace(*platform.flash, slot1.offset, slot1.size);
  g_state.state_area.emplace(*platform.flash, state_part.offset, state_part.size);
  g_state.calibration_area.emplace(*platform.flash, calibration_part.offset, calibration_part.size);
  SPINDLE_TRY(
      g_state.store.mount(&*g_state.state_area, &*g_state.slot0_area, &*g_state.slot1_area));
  const bool store_has_model = g_state.store.state().active != modelstore::kNoSlot;
  SPINDLE_TRY(g_state.pipeline.init(
      config.board, store_has_model ? std::span<const std::uint8_t>() : config.model,
      config.threshold, &*g_state.calibration_area));
  modelstore::InstallerConfig installer_config;
  installer_config.device_id = config.device_id;
  installer_config.board = &config.board;
  installer_config.trusted_keys = config.trusted_keys;
  installer_config.model_kek = config.model_kek;
  installer_config.feature_count = features::feature_count(config.board.sensor_axes);
  installer_config.preferred_szx = config.block_szx;
  installer_config.op_set = inference::runtime_op_set();
  installer_config.health_windows = config.health_windows;
  // Only the board's model RAM and shadow RAM are used, so native_sim holds the active
  // model and a shadow to a real board's budget (--board).
  const std::size_t model_ram = std::min<std::size_t>(kModelRamBytes, config.board.model_ram_bytes);
  const std::size_t shadow_ram =
      std::min<std::size_t>(kShadowModelRamBytes, config.board.shadow_model_ram_bytes);
  g_state.installer.emplace(installer_config, g_state.store, g_state.block_source, g_state.pipeline,
                            g_state.reports, std::span<std::uint8_t>(g_model_ram).first(model_ram),
                            std::span<std::uint8_t>(g_shadow_ram).first(shadow_ram),
                            &g_state.activation_conditions);
  g_state.idle.configure(config.board.idle_rms_mg, config.board.idle_windows);
  SPINDLE_TRY(g_state.installer->boot());
  SPINDLE_TRY(g_state.capture.init(
      g_capture_buffer, config.board,
      static_cast<std::uint16_t>(features::feature_count(config.board.sensor_axes))));
  for (std::uint8_t i = 0; i < 2; ++i)
    SPINDLE_TRY(g_state.free_windows.put(i, os::kNoWait));

  SPINDLE_TRY(g_state.work_queue.start("work", kWorkStackBytes, 5));
  SPINDLE_TRY(g_state.network_thread.start(network_main, nullptr, "net", kNetworkStackBytes, 7));
  SPINDLE_TRY(g_state.sensor_thread.start(sensor_main, nullptr, "sensor", kSensorStackBytes, 3));
  (void)g_state.sensor_thread.join();
  // Let the work queue finish the windows already handed over before the network drains.
  while (!g_stop && g_state.windows_processed != g_state.windows_submitted)
    os::sleep_ms(10);
  if (!config.exit_when_sent) {
    while (!g_stop)
      os::sleep_ms(100);
  }
  (void)g_state.network_thread.join();
  g_stop = true;
  (void)g_state.work_queue.drain_and_stop();
  SPINDLE_LOG_INF(kLog, "stopped: %llu windows, %u unsent readings kept in flash, %u overruns",
                  static_cast<unsigned long long>(g_state.windows_processed.load()),
                  g_state.ring.unacknowledged(), g_state.window_overruns.load());
  return Status(g_state.failure.load());
}

}  // namespace spindle::app
