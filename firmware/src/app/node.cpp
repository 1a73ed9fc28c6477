#include "spindle/app/node.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "spindle/app/pipeline.hpp"
#include "spindle/board_config.h"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/os/msgq.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/os/thread.hpp"
#include "spindle/os/work.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/telemetry/boot_counter.hpp"
#include "spindle/telemetry/flash_ring.hpp"
#include "spindle/telemetry/reading.hpp"

namespace spindle::app {
namespace {

// Capacities fixed by the board this firmware is built for (boards/<board>/board.conf).
constexpr std::size_t kWindowCapacity = CONFIG_SENSOR_WINDOW_LENGTH;
// A 1024-byte pack holds about six readings; peeking more would only cost RAM.
constexpr std::size_t kBatchEntries = 8;
constexpr std::size_t kMaxDatagramPayload = 1024;
// Above libcoap's retransmission span for the client's settings (10.5 s, see ClientConfig).
constexpr std::uint32_t kRequestTimeoutMs = 15000;
constexpr std::int64_t kMaxBackoffMs = 30000;
// Stacks: the network thread holds a SenML encoding buffer (about 9 KB on a 32-bit MCU) and
// libcoap; the work queue runs features and inference, whose buffers are static.
constexpr std::size_t kSensorStackBytes = 4 * 1024;
constexpr std::size_t kWorkStackBytes = 8 * 1024;
constexpr std::size_t kNetworkStackBytes = 24 * 1024;
constexpr const char* kLog = "node";

struct WindowBuffer {
  std::array<float, kWindowCapacity> x{};
  std::array<float, kWindowCapacity> y{};
  std::array<float, kWindowCapacity> z{};
  std::uint64_t unix_ms = 0;
};

// Per-feature running mean and variance (Welford), reset after each statistics record.
struct FeatureAccumulator {
  std::array<double, kMaxFeatures> mean{};
  std::array<double, kMaxFeatures> m2{};
  std::uint32_t windows = 0;

  void add(std::span<const float> features) {
    ++windows;
    for (std::size_t i = 0; i < features.size() && i < kMaxFeatures; ++i) {
      const double value = static_cast<double>(features[i]);
      const double delta = value - mean[i];
      mean[i] += delta / windows;
      m2[i] += delta * (value - mean[i]);
    }
  }
};

// All of the node's state is static, as on a microcontroller.
struct NodeState {
  const NodeConfig* config = nullptr;
  const Platform* platform = nullptr;
  std::array<WindowBuffer, 2> windows;
  os::MessageQueue<std::uint8_t, 2> free_windows;
  os::MessageQueue<std::uint8_t, 2> full_windows;
  os::WorkQueue work_queue;
  os::Mutex ring_mutex;
  telemetry::FlashRing ring;
  os::Semaphore network_wake{0, 1};
  Pipeline pipeline;
  FeatureAccumulator accumulator;
  std::uint32_t next_seq = 1;
  std::uint32_t reboots = 0;
  std::atomic<bool> sampling_done{false};
  // 32-bit: lock-free on every MCU this targets (64-bit atomics are not on Cortex-M4).
  std::atomic<std::uint32_t> windows_submitted{0};
  std::atomic<std::uint32_t> windows_processed{0};
  std::atomic<std::uint32_t> window_overruns{0};
  std::array<telemetry::RingEntry, kBatchEntries> batch_entries{};
  std::array<std::uint8_t, kMaxDatagramPayload> datagram{};
  std::array<std::uint8_t, 512> registration_body{};
  std::atomic<Error> failure{Error::kOk};  // the first fatal error of any thread
};

NodeState g_state;
std::atomic<bool> g_stop{false};

void fail(Status status, const char* what) {
  SPINDLE_LOG_ERR(kLog, "%s: %s", what, status.name());
  Error expected = Error::kOk;
  g_state.failure.compare_exchange_strong(expected, status.error());
  g_stop = true;
}

// ---- work queue: features, inference, durable reading ----

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
  if (!s.ok()) {
    fail(s, "processing a window");
    return;
  }
  telemetry::Reading reading;
  reading.seq = g_state.next_seq++;
  reading.unix_ms = w.unix_ms;
  reading.score = result.scored ? result.score : std::nanf("");
  reading.anomaly = result.anomaly;
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

void on_window_work(os::Work*) {
  std::uint8_t index = 0;
  while (g_state.full_windows.get(&index, os::kNoWait).ok()) {
    process_window(index);
    ++g_state.windows_processed;
    (void)g_state.free_windows.put(index, os::kNoWait);
  }
}

os::Work g_window_work(on_window_work);

// ---- sensor thread ----

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
    (void)g_state.work_queue.submit(&g_window_work);
  }
  g_state.sampling_done = true;
  g_state.network_wake.give();
}

// ---- network thread ----

Result<std::span<const std::uint8_t>> registration_body() {
  const NodeConfig& config = *g_state.config;
  registration::Registration reg;
  reg.board = config.board.name();
  reg.firmware_version = config.firmware_version;
  static crypto::Digest model_digest;
  if (!config.model.empty()) {
    model_digest = crypto::Sha256::of(config.model);
    reg.slots[0] = {registration::SlotState::kActive, config.model_id, config.model_version,
                    model_digest};
    reg.active_slot = 0;
  }
  reg.budgets = {.sram_bytes = config.board.sram_bytes,
                 .arena_bytes = config.board.model_arena_bytes,
                 .model_flash_bytes = config.board.partition(board::PartitionId::kSlot0).size,
                 .op_set = 0x7E};  // container opcodes 1..6
  return registration::encode(reg, g_state.registration_body);
}

struct Registrar {
  bool registered = false;
  std::array<char, net::kMaxLocation> location{};
  std::size_t location_size = 0;
  std::int64_t refresh_at_ms = 0;
};

Status register_or_refresh(net::CoapClient& client, Registrar& r) {
  const NodeConfig& config = *g_state.config;
  SPINDLE_TRY_ASSIGN(const auto body, registration_body());
  // A registration names the endpoint; an update (RFC 9176 section 5.1) only the lifetime.
  char query[96];
  if (r.registered) {
    std::snprintf(query, sizeof query, "lt=%u", static_cast<unsigned>(config.lifetime_s));
  } else {
    std::snprintf(query, sizeof query, "ep=%.*s&lt=%u", static_cast<int>(config.device_id.size()),
                  config.device_id.data(), static_cast<unsigned>(config.lifetime_s));
  }
  net::Request request;
  request.method = net::Method::kPost;
  request.path = r.registered ? std::string_view(r.location.data(), r.location_size) : "rd";
  request.query = query;
  request.content_format = 60;  // application/cbor
  request.payload = body;
  SPINDLE_TRY_ASSIGN(const net::Response response, client.request(request, kRequestTimeoutMs));
  if (!response.success()) {
    char code[8];
    net::format_code(response.code, code);
    SPINDLE_LOG_WRN(kLog, "registration answered %s", code);
    r.registered = false;
    return Error::kRemoteError;
  }
  if (!r.registered) {
    if (response.location_size == 0) return Error::kRemoteError;
    std::copy(response.location.begin(), response.location.begin() + response.location_size,
              r.location.begin());
    r.location_size = response.location_size;
    SPINDLE_LOG_INF(kLog, "registered at /%.*s, lifetime %u s", static_cast<int>(r.location_size),
                    r.location.data(), config.lifetime_s);
  }
  r.registered = true;
  // Refresh at three quarters of the lifetime, so one lost refresh still leaves time.
  r.refresh_at_ms = os::uptime_ms() + static_cast<std::int64_t>(config.lifetime_s) * 750;
  return kOk;
}

// Sends one batch; returns how many records the gateway confirmed (0: nothing to send).
Result<std::size_t> send_batch(net::CoapClient& client, Registrar& r) {
  const NodeConfig& config = *g_state.config;
  std::size_t count = 0;
  {
    os::LockGuard guard(g_state.ring_mutex);
    SPINDLE_TRY_ASSIGN(count, g_state.ring.peek(g_state.batch_entries));
  }
  if (count == 0) return std::size_t{0};
  const auto encoded = telemetry::encode_batch(
      config.device_id, {g_state.batch_entries.data(), count}, g_state.datagram);
  if (encoded.status() == Status(Error::kMalformed)) {
    // The oldest record does not decode (e.g. written by other firmware): no gateway will
    // ever take it, so it must not block the ones behind it. Dropped and counted.
    SPINDLE_LOG_ERR(kLog, "dropping an undecodable telemetry record");
    os::LockGuard guard(g_state.ring_mutex);
    SPINDLE_TRY(g_state.ring.acknowledge(g_state.batch_entries[0]));
    g_state.ring.count_dropped(1);
    return std::size_t{1};
  }
  SPINDLE_TRY(encoded.status());
  const telemetry::Batch& batch = *encoded;
  char path[8 + kMaxIdSize];
  std::snprintf(path, sizeof path, "t/%.*s", static_cast<int>(config.device_id.size()),
                config.device_id.data());
  net::Request request;
  request.method = net::Method::kPost;
  request.path = path;
  request.content_format = 112;  // application/senml+cbor
  request.payload = batch.bytes;
  const auto answer = client.request(request, kRequestTimeoutMs);
  if (!answer.ok()) {
    SPINDLE_LOG_DBG(kLog, "batch of %zu records (seq %u..): %s", batch.entries,
                    telemetry::record_seq(g_state.batch_entries[0]).value(),
                    answer.status().name());
    return answer.status();
  }
  const net::Response& response = *answer;
  const std::uint8_t code_class = response.code_class();
  SPINDLE_LOG_DBG(kLog, "batch of %zu records (seq %u..): %u.%02u", batch.entries,
                  telemetry::record_seq(g_state.batch_entries[0]).value(), code_class,
                  response.code & 31U);
  const std::uint8_t detail = static_cast<std::uint8_t>(response.code & 31U);
  if (code_class == 4 && (detail == 3 || detail == 4)) {
    // 4.03 / 4.04: the gateway does not know us (expired, restarted): register again.
    r.registered = false;
    return Error::kRemoteError;
  }
  // 4.00 Bad Request, 4.02 Bad Option, 4.15 Unsupported Content-Format: the gateway refuses
  // these very bytes and resending cannot change that; they are dropped, counted and
  // logged rather than blocking every later reading. Any other error (4.29 Too Many
  // Requests, 5.xx, ...) is temporary: back off and send the same records again.
  const bool refused = code_class == 4 && (detail == 0 || detail == 2 || detail == 15);
  if (refused) {
    char code[8];
    net::format_code(response.code, code);
    SPINDLE_LOG_ERR(kLog, "gateway refused a batch of %zu records with %s; dropping them",
                    batch.entries, code);
  } else if (code_class != 2) {
    return Error::kRemoteError;
  }
  os::LockGuard guard(g_state.ring_mutex);
  for (std::size_t i = 0; i < batch.entries; ++i) {
    const Status s = g_state.ring.acknowledge(g_state.batch_entries[i]);
    if (!s.ok()) return s;
  }
  if (refused) g_state.ring.count_dropped(static_cast<std::uint32_t>(batch.entries));
  return batch.entries;
}

bool all_sent() {
  // Every window handed to the work queue has been processed into the ring.
  if (!g_state.sampling_done) return false;
  if (g_state.windows_processed != g_state.windows_submitted) return false;
  os::LockGuard guard(g_state.ring_mutex);
  return g_state.ring.unacknowledged() == 0;
}

void network_main(void*) {
  const NodeConfig& config = *g_state.config;
  net::CoapClient client;
  net::ClientConfig client_config = config.client;
  client_config.cancel = &g_stop;  // a stop request ends a waiting request at once
  Status s = client.start(client_config);
  if (!s.ok()) {
    fail(s, "starting the CoAP client");
    return;
  }
  Registrar registrar;
  std::int64_t backoff_ms = 1000;
  std::int64_t next_attempt_ms = 0;
  std::int64_t drain_deadline_ms = -1;
  bool was_online = true;
  while (!g_stop) {
    const std::int64_t now = os::uptime_ms();
    if (now >= next_attempt_ms) {
      Status step = kOk;
      bool more = false;
      if (!registrar.registered || now >= registrar.refresh_at_ms) {
        step = register_or_refresh(client, registrar);
      }
      if (step.ok() && registrar.registered) {
        const auto sent = send_batch(client, registrar);
        step = sent.status();
        more = sent.ok() && *sent > 0;
      }
      if (step.ok()) {
        if (!was_online) SPINDLE_LOG_INF(kLog, "gateway reachable again");
        was_online = true;
        backoff_ms = 1000;
        if (more) continue;  // keep draining the backlog
      } else {
        if (was_online) {
          SPINDLE_LOG_WRN(kLog, "gateway unreachable (%s); readings stay in flash", step.name());
        }
        was_online = false;
        // From now, not from before the request: a request can take 15 s by itself.
        next_attempt_ms = os::uptime_ms() + backoff_ms;
        backoff_ms = backoff_ms * 2 > kMaxBackoffMs ? kMaxBackoffMs : backoff_ms * 2;
      }
    }
    if (config.exit_when_sent && g_state.sampling_done) {
      if (drain_deadline_ms < 0) {
        drain_deadline_ms =
            os::uptime_ms() + static_cast<std::int64_t>(config.drain_timeout_s) * 1000;
      }
      if (all_sent()) {
        SPINDLE_LOG_INF(kLog, "all readings delivered");
        g_stop = true;
        break;
      }
      if (os::uptime_ms() > drain_deadline_ms) {
        fail(Error::kTimeout, "delivering the remaining readings");
        break;
      }
    }
    std::int64_t wait = next_attempt_ms - os::uptime_ms();
    if (wait < 50) wait = 50;
    if (wait > 500) wait = 500;
    (void)g_state.network_wake.take(os::Timeout::millis(wait));
  }
  client.stop();
}

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
  static os::FlashArea settings_area(*platform.flash, settings.offset, settings.size);
  static os::FlashArea ring_area(*platform.flash, telemetry_part.offset, telemetry_part.size);
  SPINDLE_TRY_ASSIGN(g_state.reboots, telemetry::count_boot(&settings_area));
  SPINDLE_TRY(g_state.ring.mount(&ring_area));
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
  SPINDLE_TRY(g_state.pipeline.init(config.board, config.model, config.threshold));
  for (std::uint8_t i = 0; i < 2; ++i)
    SPINDLE_TRY(g_state.free_windows.put(i, os::kNoWait));

  SPINDLE_TRY(g_state.work_queue.start("work", kWorkStackBytes, 5));
  static os::Thread network;
  static os::Thread sensor;
  SPINDLE_TRY(network.start(network_main, nullptr, "net", kNetworkStackBytes, 7));
  SPINDLE_TRY(sensor.start(sensor_main, nullptr, "sensor", kSensorStackBytes, 3));
  (void)sensor.join();
  // Let the work queue finish the windows already handed over before the network drains.
  while (!g_stop && g_state.windows_processed != g_state.windows_submitted)
    os::sleep_ms(10);
  if (!config.exit_when_sent) {
    while (!g_stop)
      os::sleep_ms(100);
  }
  (void)network.join();
  g_stop = true;
  (void)g_state.work_queue.drain_and_stop();
  SPINDLE_LOG_INF(kLog, "stopped: %llu windows, %u unsent readings kept in flash, %u overruns",
                  static_cast<unsigned long long>(g_state.windows_processed.load()),
                  g_state.ring.unacknowledged(), g_state.window_overruns.load());
  return Status(g_state.failure.load());
}

}  // namespace spindle::app
