#include "spindle/app/node.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <optional>

#include "spindle/app/capture_recorder.hpp"
#include "spindle/app/pipeline.hpp"
#include "spindle/board_config.h"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/modelstore/installer.hpp"
#include "spindle/modelstore/model_store.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/os/msgq.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/os/thread.hpp"
#include "spindle/os/work.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/gateway_request.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/status_report.hpp"
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
// The decrypted model lives here while it runs (CONFIG_MODEL_RAM_SIZE of the build board).
constexpr std::size_t kModelRamBytes = CONFIG_MODEL_RAM_SIZE;
constexpr std::size_t kReportQueue = 16;
constexpr std::int64_t kManifestRetryMs = 2000;
// One capture chunk: a raw window of the build board (features chunks pack as many windows
// as fit in the same bytes).
constexpr std::size_t kCaptureBufferBytes =
    capture_buffer_bytes(std::size_t{CONFIG_SENSOR_WINDOW_LENGTH} * CONFIG_SENSOR_AXES * 4);
constexpr std::int64_t kMaxManifestRetryMs = 30000;

// A status report waiting to be sent (the installer runs before the link may be up).
struct QueuedReport {
  std::array<char, kMaxIdSize + 1> model_id{};
  std::uint64_t version = 0;
  status_report::InstallState state{};
  Error reason = Error::kOk;
  std::array<char, status_report::kMaxDetailSize + 1> detail{};
};

// Reports are queued and sent by the network thread, oldest first; when the queue is full
// the oldest is dropped (the registration body still tells the gateway the slot states).
class ReportQueue final : public modelstore::Reporter {
 public:
  void report(const status_report::UpdateReport& r) override {
    if (count_ == kReportQueue) {
      head_ = (head_ + 1) % kReportQueue;
      --count_;
    }
    QueuedReport& q = entries_[(head_ + count_) % kReportQueue];
    q = QueuedReport{};
    std::copy_n(r.model_id.data(), std::min(r.model_id.size(), kMaxIdSize), q.model_id.data());
    q.version = r.version;
    q.state = r.state;
    q.reason = r.reason;
    std::copy_n(r.detail.data(), std::min(r.detail.size(), status_report::kMaxDetailSize),
                q.detail.data());
    ++count_;
  }
  bool empty() const { return count_ == 0; }
  const QueuedReport& front() const { return entries_[head_]; }
  void pop() {
    head_ = (head_ + 1) % kReportQueue;
    --count_;
  }

 private:
  std::array<QueuedReport, kReportQueue> entries_{};
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

// The installer's network: GETs with Block2 through the node's CoAP client.
class CoapBlockSource final : public modelstore::BlockSource {
 public:
  void attach(net::CoapClient* client, std::uint32_t timeout_ms) {
    client_ = client;
    timeout_ms_ = timeout_ms;
  }
  Result<blockwise::Response> fetch(std::string_view path,
                                    const blockwise::BlockOption& block) override {
    if (client_ == nullptr) return Error::kUnavailable;
    std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
    SPINDLE_TRY_ASSIGN(const std::size_t length, blockwise::encode_block_option(block, option));
    net::Request request;
    request.method = net::Method::kGet;
    request.path = path;
    request.block2 = {option.data(), length};
    SPINDLE_TRY_ASSIGN(response_, client_->request(request, timeout_ms_));
    blockwise::Response r;
    r.code = response_.code;
    r.has_block2 = response_.has_block2;
    r.block2 = {response_.block2.data(), response_.block2_size};
    r.etag = {response_.etag.data(), response_.etag_size};
    r.has_size2 = response_.has_size2;
    r.size2 = response_.size2;
    r.payload = response_.body();
    return r;
  }

 private:
  net::CoapClient* client_ = nullptr;
  std::uint32_t timeout_ms_ = 0;
  net::Response response_;
};

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
  // Model store and installer (network thread; boot() runs before the threads start).
  modelstore::ModelStore store;
  std::optional<modelstore::Installer> installer;
  CoapBlockSource block_source;
  ReportQueue reports;
  net::CoapClient client;
  std::array<std::uint8_t, modelstore::kMaxManifestBytes> manifest{};
  std::size_t manifest_size = 0;
  bool manifest_pending = false;  // received and not yet fully handled
  std::int64_t next_manifest_check_ms = 0;
  std::array<std::uint8_t, 256> report_body{};
  // An attestation challenge from the gateway, to answer.
  std::array<std::uint8_t, status_report::kMaxNonceSize> nonce{};
  std::size_t nonce_size = 0;
  // Data capture: the chunk being collected (work queue) or uploaded (network thread).
  CaptureRecorder capture;
  blockwise::Upload upload;
  bool uploading = false;  // `upload` belongs to the ready chunk
};

alignas(16) std::array<std::uint8_t, kModelRamBytes> g_model_ram;
std::array<std::uint8_t, kCaptureBufferBytes> g_capture_buffer;

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
    g_state.capture.offer(result.features, {w.x.data(), length}, {w.y.data(), length},
                          {w.z.data(), length});
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

// POSTs `body` to one of the device's own resources: prefix + id + suffix.
Result<net::Response> post_own(net::CoapClient& client, const char* prefix, const char* suffix,
                               int content_format, std::span<const std::uint8_t> body) {
  const NodeConfig& config = *g_state.config;
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "%s%.*s%s", prefix, static_cast<int>(config.device_id.size()),
                config.device_id.data(), suffix);
  net::Request request;
  request.method = net::Method::kPost;
  request.path = path;
  request.content_format = content_format;
  request.payload = body;
  return client.request(request, kRequestTimeoutMs);
}

// POSTs a status report (application/cbor) to /d/{id}/status.
Result<net::Response> post_status(net::CoapClient& client, std::span<const std::uint8_t> body) {
  return post_own(client, "d/", "/status", 60, body);
}

// Takes what a 2.xx answer asks of the node (content-format 60), if anything: an
// attestation challenge to answer, a capture to collect.
void take_gateway_request(const net::Response& response) {
  if (!response.success() || response.content_format != 60 || response.payload_size == 0) return;
  const auto request = gateway_request::decode(response.body());
  if (!request.ok()) {
    SPINDLE_LOG_WRN(kLog, "unreadable gateway request: %s", request.status().name());
    return;
  }
  if (!request->nonce.empty()) {
    std::copy(request->nonce.begin(), request->nonce.end(), g_state.nonce.begin());
    g_state.nonce_size = request->nonce.size();
  }
  if (request->has_capture && g_state.capture.request(request->capture)) {
    SPINDLE_LOG_INF(kLog, "capture %llu: collecting %u %s windows",
                    static_cast<unsigned long long>(request->capture.capture_id),
                    request->capture.windows, capture::kind_name(request->capture.kind));
  }
}

// Answers a pending challenge: a MAC over the nonce, the digest of the model actually
// running (32 zero bytes when none is) and the firmware version.
Status answer_challenge(net::CoapClient& client) {
  if (g_state.nonce_size == 0) return kOk;
  const NodeConfig& config = *g_state.config;
  const std::span<const std::uint8_t> nonce(g_state.nonce.data(), g_state.nonce_size);
  crypto::Digest active{};
  (void)g_state.installer->active_digest(&active);
  SPINDLE_TRY_ASSIGN(const crypto::Digest mac,
                     status_report::attestation_mac(config.attestation_key, config.device_id, nonce,
                                                    active, config.firmware_version));
  status_report::StatusReport report;
  report.kind = status_report::Kind::kAttestation;
  report.attestation = {nonce, active, config.firmware_version, mac};
  SPINDLE_TRY_ASSIGN(const auto body, status_report::encode(report, g_state.report_body));
  SPINDLE_TRY_ASSIGN(const net::Response response, post_status(client, body));
  if (response.code_class() == 5) return Error::kRemoteError;
  if (!response.success()) SPINDLE_LOG_ERR(kLog, "gateway refused the attestation answer");
  SPINDLE_LOG_INF(kLog, "attestation answered");
  g_state.nonce_size = 0;
  return kOk;
}

Result<std::span<const std::uint8_t>> registration_body() {
  const NodeConfig& config = *g_state.config;
  registration::Registration reg;
  reg.board = config.board.name();
  reg.firmware_version = config.firmware_version;
  const modelstore::StoreState& store = g_state.installer->state();
  bool any = false;
  for (std::size_t i = 0; i < kModelSlots; ++i) {
    const modelstore::SlotInfo& slot = store.slots[i];
    if (slot.state == registration::SlotState::kEmpty) continue;
    any = true;
    reg.slots[i] = {slot.state, slot.id(), slot.version, slot.digest};
  }
  if (store.active != modelstore::kNoSlot && g_state.installer->running()) {
    reg.active_slot = store.active;
  }
  static crypto::Digest model_digest;
  if (!any && !config.model.empty()) {
    // Development: a plaintext model given on the command line.
    model_digest = crypto::Sha256::of(config.model);
    reg.slots[0] = {registration::SlotState::kActive, config.model_id, config.model_version,
                    model_digest};
    reg.active_slot = 0;
  }
  reg.budgets = {.sram_bytes = config.board.sram_bytes,
                 .arena_bytes = config.board.model_arena_bytes,
                 .model_flash_bytes = config.board.model_payload_capacity(),
                 .op_set = inference::runtime_op_set()};
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
  take_gateway_request(response);
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
  const auto answer = post_own(client, "t/", "", 112, batch.bytes);  // application/senml+cbor
  if (!answer.ok()) {
    SPINDLE_LOG_DBG(kLog, "batch of %zu records (seq %u..): %s", batch.entries,
                    telemetry::record_seq(g_state.batch_entries[0]).value(),
                    answer.status().name());
    return answer.status();
  }
  const net::Response& response = *answer;
  take_gateway_request(response);
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

// ---- manifest, install reports ----

Result<net::Response> get_manifest_block(net::CoapClient& client,
                                         const blockwise::BlockOption* block, bool observe) {
  const NodeConfig& config = *g_state.config;
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "d/%.*s/manifest", static_cast<int>(config.device_id.size()),
                config.device_id.data());
  std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
  net::Request request;
  request.method = net::Method::kGet;
  request.path = path;
  request.observe = observe;
  if (block != nullptr) {
    SPINDLE_TRY_ASSIGN(const std::size_t length, blockwise::encode_block_option(*block, option));
    request.block2 = {option.data(), length};
  }
  return client.request(request, kRequestTimeoutMs);
}

// Takes a manifest answer (a notification, or the answer to the observation request) and
// fetches the rest of it when it came in blocks (RFC 7959; the observation itself never
// carries Block2, docs/protocol.md).
Status take_manifest(net::CoapClient& client, const net::Response& first) {
  if (first.code != blockwise::kCoapContent) return Error::kRemoteError;
  std::size_t size = 0;
  const auto append = [&](std::span<const std::uint8_t> part) -> Status {
    if (part.size() > g_state.manifest.size() - size) return Error::kOversize;
    std::copy(part.begin(), part.end(),
              g_state.manifest.begin() + static_cast<std::ptrdiff_t>(size));
    size += part.size();
    return kOk;
  };
  SPINDLE_TRY(append(first.body()));
  if (first.has_block2) {
    SPINDLE_TRY_ASSIGN(blockwise::BlockOption block,
                       blockwise::decode_block_option({first.block2.data(), first.block2_size}));
    if (block.num != 0) return Error::kInvalidValue;
    const std::span<const std::uint8_t> etag(first.etag.data(), first.etag_size);
    while (block.more) {
      const std::uint32_t block_bytes = blockwise::block_size(block.szx);
      const blockwise::BlockOption next{static_cast<std::uint32_t>(size / block_bytes), false,
                                        block.szx};
      SPINDLE_TRY_ASSIGN(const net::Response r, get_manifest_block(client, &next, false));
      if (r.code != blockwise::kCoapContent || !r.has_block2) return Error::kRemoteError;
      if (!std::equal(etag.begin(), etag.end(), r.etag.begin(), r.etag.begin() + r.etag_size)) {
        return Error::kInvalidState;  // changed while being read: the notification follows
      }
      SPINDLE_TRY_ASSIGN(block, blockwise::decode_block_option({r.block2.data(), r.block2_size}));
      if (block.num != next.num || block.szx != next.szx) return Error::kInvalidValue;
      SPINDLE_TRY(append(r.body()));
    }
  }
  g_state.manifest_size = size;
  g_state.manifest_pending = true;  // the installer skips a manifest it handled already
  return kOk;
}

// Sends the queued install reports, oldest first.
Status flush_reports(net::CoapClient& client) {
  while (!g_state.reports.empty()) {
    const QueuedReport& q = g_state.reports.front();
    status_report::StatusReport report;
    report.kind = status_report::Kind::kUpdate;
    report.update.model_id = q.model_id.data();
    report.update.version = q.version;
    report.update.state = q.state;
    report.update.reason = q.reason;
    report.update.detail = q.detail.data();
    const auto body = status_report::encode(report, g_state.report_body);
    if (!body.ok()) {
      SPINDLE_LOG_ERR(kLog, "dropping an install report that does not encode: %s",
                      body.status().name());
      g_state.reports.pop();
      continue;
    }
    SPINDLE_TRY_ASSIGN(const net::Response response, post_status(client, *body));
    if (response.code_class() == 5 || response.code == blockwise::coap_code(4, 29)) {
      return Error::kRemoteError;  // temporary: send it again later
    }
    if (!response.success()) {
      char code[8];
      net::format_code(response.code, code);
      SPINDLE_LOG_ERR(kLog, "gateway refused an install report with %s; dropping it", code);
    }
    g_state.reports.pop();
  }
  return kOk;
}

// One pass of the model-delivery work: keep the manifest observed, install what it names,
// confirm or revert on health, send the reports. Errors: the network's (back off).
Status manifest_work(net::CoapClient& client, std::int64_t* retry_at_ms,
                     std::int64_t* retry_delay_ms) {
  modelstore::Installer& installer = *g_state.installer;
  const NodeConfig& config = *g_state.config;
  const bool observing = client.observing();
  if (!observing || os::uptime_ms() >= g_state.next_manifest_check_ms) {
    // (Re-)register the observation, or read the manifest again in case a notification
    // was lost.
    SPINDLE_TRY_ASSIGN(const net::Response first, get_manifest_block(client, nullptr, !observing));
    g_state.next_manifest_check_ms =
        os::uptime_ms() + static_cast<std::int64_t>(config.manifest_check_s) * 1000;
    const Status taken = take_manifest(client, first);
    if (!taken.ok()) SPINDLE_LOG_WRN(kLog, "manifest not read: %s", taken.name());
  }
  static net::Response notification;
  if (client.take_notification(&notification)) {
    const Status taken = take_manifest(client, notification);
    if (!taken.ok()) SPINDLE_LOG_WRN(kLog, "manifest notification not read: %s", taken.name());
  }
  if (g_state.manifest_pending && os::uptime_ms() >= *retry_at_ms) {
    const Status installed =
        installer.on_manifest({g_state.manifest.data(), g_state.manifest_size});
    if (installed == Status(Error::kPowerLoss) || installed == Status(Error::kIoError)) {
      return installed;
    }
    if (installed.ok()) {
      g_state.manifest_pending = false;
      *retry_delay_ms = kManifestRetryMs;
    } else {
      SPINDLE_LOG_WRN(kLog, "model install interrupted (%s); retrying in %lld ms", installed.name(),
                      static_cast<long long>(*retry_delay_ms));
      *retry_at_ms = os::uptime_ms() + *retry_delay_ms;
      *retry_delay_ms = std::min(*retry_delay_ms * 2, kMaxManifestRetryMs);
    }
  }
  const Status polled = installer.poll();
  if (!polled.ok()) return polled;
  SPINDLE_TRY(flush_reports(client));
  return answer_challenge(client);
}

// Uploads the capture chunk that is ready, block by block (RFC 7959 Block1), to
// /d/{id}/capture. A lost answer leaves the block to send again on the next pass, so
// progress survives link loss; 4.08 (the gateway lost the earlier blocks) starts the chunk
// over. Errors: the network's, kRemoteError (4.29, 5.xx: back off and resend).
Status upload_capture(net::CoapClient& client) {
  const NodeConfig& config = *g_state.config;
  const std::span<const std::uint8_t> chunk = g_state.capture.ready_chunk();
  if (chunk.empty()) return kOk;
  if (!g_state.uploading) {
    SPINDLE_TRY(g_state.upload.start(static_cast<std::uint32_t>(chunk.size()), config.block_szx));
    g_state.uploading = true;
  }
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "d/%.*s/capture", static_cast<int>(config.device_id.size()),
                config.device_id.data());
  blockwise::Upload& upload = g_state.upload;
  while (!upload.done()) {
    std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
    SPINDLE_TRY_ASSIGN(const std::size_t option_size,
                       blockwise::encode_block_option(upload.block(), option));
    net::Request request;
    request.method = net::Method::kPost;
    request.path = path;
    request.content_format = 60;  // application/cbor
    request.payload = chunk.subspan(upload.offset(), upload.length());
    request.block1 = {option.data(), option_size};
    SPINDLE_TRY_ASSIGN(const net::Response response, client.request(request, kRequestTimeoutMs));
    std::optional<blockwise::BlockOption> echoed;
    if (response.has_block1) {
      const auto decoded =
          blockwise::decode_block_option({response.block1.data(), response.block1_size});
      if (decoded.ok()) echoed = *decoded;
    }
    const auto step = upload.on_answer(response.code, echoed);
    if (step.ok()) continue;
    char code[8];
    net::format_code(response.code, code);
    if (response.code_class() == 5 || response.code == blockwise::coap_code(4, 29)) {
      return Error::kRemoteError;  // temporary: the same block again after a back-off
    }
    const std::string_view diagnostic(reinterpret_cast<const char*>(response.payload.data()),
                                      response.payload_size);
    if (step.status() == Status(Error::kRemoteError)) {
      // Refused for good (unknown or finished capture, a chunk the gateway will not take).
      SPINDLE_LOG_ERR(kLog, "gateway refused capture chunk with %s (%.*s); capture dropped", code,
                      static_cast<int>(diagnostic.size()), diagnostic.data());
      g_state.capture.abandon();
      g_state.uploading = false;
      return kOk;
    }
    SPINDLE_LOG_WRN(kLog, "capture upload answered %s (%s); sending the chunk again", code,
                    step.status().name());
    g_state.uploading = false;
    return Error::kRemoteError;
  }
  g_state.uploading = false;
  g_state.capture.acknowledged();
  const CaptureProgress progress = g_state.capture.progress();
  SPINDLE_LOG_INF(kLog, "capture %llu: %u of %u windows delivered (%u skipped while uploading)",
                  static_cast<unsigned long long>(progress.capture_id),
                  progress.windows_acknowledged, progress.windows_total, progress.windows_skipped);
  return kOk;
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
  net::CoapClient& client = g_state.client;
  net::ClientConfig client_config = config.client;
  client_config.cancel = &g_stop;  // a stop request ends a waiting request at once
  Status s = client.start(client_config);
  if (!s.ok()) {
    fail(s, "starting the CoAP client");
    return;
  }
  g_state.block_source.attach(&client, kRequestTimeoutMs);
  Registrar registrar;
  std::int64_t manifest_retry_at_ms = 0;
  std::int64_t manifest_retry_delay_ms = kManifestRetryMs;
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
        step = manifest_work(client, &manifest_retry_at_ms, &manifest_retry_delay_ms);
        if (step == Status(Error::kPowerLoss) || step == Status(Error::kIoError)) {
          fail(step, "installing a model");
          break;
        }
      }
      if (step.ok() && registrar.registered) {
        const auto sent = send_batch(client, registrar);
        step = sent.status();
        more = sent.ok() && *sent > 0;
      }
      if (step.ok() && registrar.registered) step = upload_capture(client);
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
    // Listen for notifications while waiting; a new reading or a notification ends the wait.
    const std::int64_t until = os::uptime_ms() + wait;
    while (!g_stop && !client.has_notification()) {
      const std::int64_t left = until - os::uptime_ms();
      if (left <= 0) break;
      client.poll(static_cast<std::uint32_t>(left < 20 ? left : 20));
      if (g_state.network_wake.take(os::kNoWait).ok()) break;
    }
  }
  g_state.block_source.attach(nullptr, 0);
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
  const auto& slot0 = config.board.partition(board::PartitionId::kSlot0);
  const auto& slot1 = config.board.partition(board::PartitionId::kSlot1);
  const auto& state_part = config.board.partition(board::PartitionId::kState);
  static os::FlashArea slot0_area(*platform.flash, slot0.offset, slot0.size);
  static os::FlashArea slot1_area(*platform.flash, slot1.offset, slot1.size);
  static os::FlashArea state_area(*platform.flash, state_part.offset, state_part.size);
  SPINDLE_TRY(g_state.store.mount(&state_area, &slot0_area, &slot1_area));
  const bool store_has_model = g_state.store.state().active != modelstore::kNoSlot;
  SPINDLE_TRY(g_state.pipeline.init(
      config.board, store_has_model ? std::span<const std::uint8_t>() : config.model,
      config.threshold));
  modelstore::InstallerConfig installer_config;
  installer_config.device_id = config.device_id;
  installer_config.board = &config.board;
  installer_config.trusted_keys = config.trusted_keys;
  installer_config.model_kek = config.model_kek;
  installer_config.feature_count = features::feature_count(config.board.sensor_axes);
  installer_config.preferred_szx = config.block_szx;
  installer_config.op_set = inference::runtime_op_set();
  installer_config.health_windows = config.health_windows;
  g_state.installer.emplace(
      installer_config, g_state.store, g_state.block_source, g_state.pipeline, g_state.reports,
      std::span<std::uint8_t>(g_model_ram)
          .first(std::min<std::size_t>(g_model_ram.size(), config.board.model_ram_bytes)));
  SPINDLE_TRY(g_state.installer->boot());
  SPINDLE_TRY(g_state.capture.init(
      g_capture_buffer, config.board,
      static_cast<std::uint16_t>(features::feature_count(config.board.sensor_axes))));
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
