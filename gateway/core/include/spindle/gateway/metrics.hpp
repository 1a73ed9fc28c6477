// The gateway's Prometheus metrics: counters and gauges updated lock-free from the CoAP,
// writer and HTTP threads, rendered in the text exposition format for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "spindle/gateway/attestation.hpp"
#include "spindle/gateway/rollout.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {

// The CoAP resources requests are counted by (a fixed set keeps label cardinality bounded).
enum class CoapResource : std::uint8_t {
  kWellKnownCore,
  kRegister,
  kRefresh,
  kManifest,
  kModel,
  kStatus,
  kTelemetry,
  kCapture,
  kOther,
};
inline constexpr std::size_t kCoapResourceCount = 9;
const char* coap_resource_name(CoapResource resource);

// Response classes: 2.xx, 4.xx, 5.xx.
enum class ResponseClass : std::uint8_t { kSuccess, kClientError, kServerError };
inline constexpr std::size_t kResponseClassCount = 3;

class Metrics {
 public:
  void count_request(CoapResource resource) { increment(requests_[index(resource)]); }
  void count_response(CoapResource resource, ResponseClass response);
  void count_rate_limited() { increment(rate_limited_); }
  void count_refused_identity() { increment(refused_identities_); }
  void count_telemetry(std::uint64_t fresh, std::uint64_t duplicates);
  void count_rejected_batch() { increment(rejected_batches_); }
  void count_block_served(std::uint64_t bytes);
  void count_commit(std::uint64_t jobs);
  void count_http_request(int status);
  void count_attestation(Verdict verdict) {
    increment(attestations_[static_cast<std::size_t>(verdict)]);
  }

  void count_capture_requested() { increment(captures_requested_); }
  void count_capture_completed() { increment(captures_completed_); }
  // A capture chunk's fate: stored (with its windows), re-sent and skipped, or refused.
  void count_capture_chunk_stored(std::uint64_t windows) {
    increment(capture_chunks_stored_);
    increment(capture_windows_, windows);
  }
  void count_capture_chunk_duplicate() { increment(capture_chunks_duplicate_); }
  void count_capture_chunk_refused() { increment(capture_chunks_refused_); }

  // Per-machine adaptation (docs/gateway/drift.md). Fleet-wide, never per device: label
  // cardinality stays bounded at 100k devices. set_adaptation takes the store's counts at
  // start-up; the changes that commit afterwards move them.
  void set_adaptation(const AdaptationCounts& counts);
  // A device's latest calibration report went from `before` (none: its first) to `after`.
  void count_calibration_change(std::optional<status_report::CalibrationState> before,
                                status_report::CalibrationState after);
  // A device's drift state was stepped: whether it was and is drifting, and the events.
  void count_drift(bool was_drifting, bool drifting, std::uint64_t started, std::uint64_t cleared);
  // What the drift capture policy did with devices that started drifting: captures opened,
  // skipped because one was open, skipped for the daily cap.
  void count_drift_captures(std::uint64_t opened, std::uint64_t skipped_open,
                            std::uint64_t skipped_cap) {
    increment(drift_captures_opened_, opened);
    increment(drift_captures_skipped_open_, skipped_open);
    increment(drift_captures_skipped_cap_, skipped_cap);
  }
  std::uint64_t devices_drifting() const {
    return devices_drifting_.load(std::memory_order_relaxed);
  }
  std::uint64_t devices_in_calibration_state(status_report::CalibrationState state) const {
    return devices_by_calibration_[static_cast<std::size_t>(state)].load(std::memory_order_relaxed);
  }

  // Staged rollouts (rollout_driver.hpp): each rollout's phase, devices per step and every
  // gate's value, threshold and verdict, as of its latest step. The newest
  // kMaxRolloutsShown rollouts are shown (label cardinality stays bounded).
  void set_rollout(std::int64_t id, std::string_view phase,
                   std::span<const rollout::GateResult> gates,
                   const std::array<std::uint64_t, kRolloutDeviceStepCount>& steps);
  // A rollout halted because `gate` failed.
  void count_rollout_halt(std::string_view gate);
  static constexpr std::size_t kMaxRolloutsShown = 16;

  void set_devices(std::uint64_t registered, std::uint64_t online);
  void set_block_transfers_in_flight(std::uint64_t transfers) {
    block_transfers_in_flight_.store(transfers, std::memory_order_relaxed);
  }
  void set_write_queue_depth(std::uint64_t depth) {
    write_queue_depth_.store(depth, std::memory_order_relaxed);
  }

  std::uint64_t devices_online() const { return devices_online_.load(std::memory_order_relaxed); }
  std::uint64_t telemetry_records() const {
    return telemetry_records_.load(std::memory_order_relaxed);
  }

  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

 private:
  using Counter = std::atomic<std::uint64_t>;
  static void increment(Counter& counter, std::uint64_t by = 1) {
    counter.fetch_add(by, std::memory_order_relaxed);
  }
  static std::size_t index(CoapResource resource) { return static_cast<std::size_t>(resource); }
  void render_rollouts(std::string& out) const;

  std::array<Counter, kCoapResourceCount> requests_{};
  std::array<std::array<Counter, kResponseClassCount>, kCoapResourceCount> responses_{};
  Counter rate_limited_{0};
  Counter refused_identities_{0};
  Counter telemetry_records_{0};
  Counter telemetry_duplicates_{0};
  Counter rejected_batches_{0};
  Counter blocks_served_{0};
  Counter block_bytes_served_{0};
  Counter commits_{0};
  Counter committed_jobs_{0};
  std::array<Counter, 5> http_requests_{};  // by status class 1xx..5xx
  std::array<Counter, kVerdictCount> attestations_{};
  Counter captures_requested_{0};
  Counter captures_completed_{0};
  Counter capture_chunks_stored_{0};
  Counter capture_chunks_duplicate_{0};
  Counter capture_chunks_refused_{0};
  Counter capture_windows_{0};
  Counter drift_started_{0};
  Counter drift_cleared_{0};
  Counter drift_captures_opened_{0};
  Counter drift_captures_skipped_open_{0};
  Counter drift_captures_skipped_cap_{0};
  std::array<std::atomic<std::uint64_t>, status_report::kMaxCalibrationState + 1>
      devices_by_calibration_{};
  std::atomic<std::uint64_t> devices_drifting_{0};
  std::atomic<std::uint64_t> devices_registered_{0};
  std::atomic<std::uint64_t> devices_online_{0};
  std::atomic<std::uint64_t> block_transfers_in_flight_{0};
  std::atomic<std::uint64_t> write_queue_depth_{0};

  struct RolloutGauges {
    std::string phase;
    std::vector<rollout::GateResult> gates;
    std::array<std::uint64_t, kRolloutDeviceStepCount> steps{};
  };
  mutable std::mutex rollouts_mutex_;  // the HTTP thread renders, the rollout driver sets
  std::map<std::int64_t, RolloutGauges> rollouts_;
  std::map<std::string, std::uint64_t, std::less<>> rollout_halts_;
};

}  // namespace spindle::gateway
