// Private to the node application: the state its threads share, and the constants the
// build board fixes. All of it is static, as on a microcontroller: one NodeState, defined
// in node.cpp, sized from boards/<board>/board.conf.
//
// Who touches what: the sensor thread fills `windows` (sensor_thread.cpp); the work queue
// turns full windows into readings in the ring (window_worker.cpp); the network thread owns
// the CoAP client, the registration, the installer and the uplink (network_thread.cpp and
// the uplink_*.cpp files). The ring is shared under `ring_mutex`; counters are atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "spindle/app/capture_recorder.hpp"
#include "spindle/app/idle_detector.hpp"
#include "spindle/app/node.hpp"
#include "spindle/app/pipeline.hpp"
#include "spindle/board_config.h"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/modelstore/installer.hpp"
#include "spindle/modelstore/model_store.hpp"
#include "spindle/net/coap_client.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/os/msgq.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/os/thread.hpp"
#include "spindle/os/work.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/telemetry/flash_ring.hpp"

namespace spindle::app::internal {

// Capacities fixed by the board this firmware is built for (boards/<board>/board.conf).
inline constexpr std::size_t kWindowCapacity = CONFIG_SENSOR_WINDOW_LENGTH;
// A 1024-byte pack holds about six readings; peeking more would only cost RAM.
inline constexpr std::size_t kBatchEntries = 8;
inline constexpr std::size_t kMaxDatagramPayload = 1024;
// Above libcoap's retransmission span for the client's settings (10.5 s, see ClientConfig).
inline constexpr std::uint32_t kRequestTimeoutMs = 15000;
// The decrypted model lives here while it runs (CONFIG_MODEL_RAM_SIZE of the build board);
// a model running in shadow has a RAM of its own, CONFIG_SHADOW_MODEL_RAM_SIZE (smaller on
// the small boards, docs/firmware/shadow.md).
inline constexpr std::size_t kModelRamBytes = CONFIG_MODEL_RAM_SIZE;
inline constexpr std::size_t kShadowModelRamBytes = CONFIG_SHADOW_MODEL_RAM_SIZE;
inline constexpr std::size_t kReportQueue = 16;
// One capture chunk: a raw window of the build board (features chunks pack as many windows
// as fit in the same bytes).
inline constexpr std::size_t kCaptureBufferBytes =
    capture_buffer_bytes(std::size_t{CONFIG_SENSOR_WINDOW_LENGTH} * CONFIG_SENSOR_AXES * 4);
inline constexpr const char* kLog = "node";
// Answers a capture upload cannot follow, in a row, before the capture is dropped.
inline constexpr std::uint32_t kMaxConfusedCaptureAnswers = 3;

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
  void report(const status_report::UpdateReport& r) override;
  bool empty() const { return count_ == 0; }
  const QueuedReport& front() const { return entries_[head_]; }
  void pop();

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
                                    const blockwise::BlockOption& block) override;

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

  void add(std::span<const float> features);
};

// The work queue's handler: processes every full window (window_worker.cpp).
void on_window_work(os::Work* work);

// What the installer's gated activations wait for: the platform's UTC clock and the idle
// detector the work queue feeds.
class NodeActivationConditions final : public modelstore::ActivationConditions {
 public:
  bool utc_now_ms(std::uint64_t* out) override;
  bool machine_idle() override;
};

struct NodeState {
  const NodeConfig* config = nullptr;
  const Platform* platform = nullptr;
  // The board's flash partitions, as areas of the platform's flash (set by run_node).
  std::optional<os::FlashArea> settings_area;
  std::optional<os::FlashArea> ring_area;
  std::optional<os::FlashArea> slot0_area;
  std::optional<os::FlashArea> slot1_area;
  std::optional<os::FlashArea> state_area;
  std::optional<os::FlashArea> calibration_area;
  os::Thread sensor_thread;
  os::Thread network_thread;
  // Sensor thread -> work queue: two window buffers, handed over by index.
  std::array<WindowBuffer, 2> windows;
  os::MessageQueue<std::uint8_t, 2> free_windows;
  os::MessageQueue<std::uint8_t, 2> full_windows;
  os::WorkQueue work_queue;
  os::Work window_work{on_window_work};
  os::Mutex ring_mutex;
  telemetry::FlashRing ring;
  os::Semaphore network_wake{0, 1};
  Pipeline pipeline;
  IdleDetector idle;  // fed by the work queue, read by the installer (network thread)
  NodeActivationConditions activation_conditions;
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
  crypto::Digest development_model_digest{};  // of NodeConfig::model, when one runs
  std::atomic<Error> failure{Error::kOk};     // the first fatal error of any thread
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
  net::Response notification;  // the latest manifest notification taken from the client
  std::array<std::uint8_t, 256 + kMaxFeatures * 8> report_body{};
  std::array<std::uint8_t, kMaxFeatures * 8> calibration_pairs{};
  // A signed decision from the gateway (gateway_request key 4), for the installer.
  std::array<std::uint8_t, decision::kMaxSignedSize> decision{};
  std::size_t decision_size = 0;
  bool decision_pending = false;
  // An attestation challenge from the gateway, to answer.
  std::array<std::uint8_t, status_report::kMaxNonceSize> nonce{};
  std::size_t nonce_size = 0;
  // Data capture: the chunk being collected (work queue) or uploaded (network thread).
  CaptureRecorder capture;
  blockwise::Upload upload;
  bool uploading = false;                      // `upload` belongs to the ready chunk
  std::uint32_t capture_confused_answers = 0;  // in a row, for the ready chunk
};

extern NodeState g_state;
extern std::atomic<bool> g_stop;

// Records the first fatal error of any thread and stops the node.
void fail(Status status, const char* what);

// The sensor thread's entry (sensor_thread.cpp) and the network thread's
// (network_thread.cpp).
void sensor_main(void*);
void network_main(void*);

}  // namespace spindle::app::internal
