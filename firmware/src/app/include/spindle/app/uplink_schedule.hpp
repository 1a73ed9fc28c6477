// The network thread's schedule as a pure step function (like blockwise::Download): what
// the uplink does next, in which order, when it backs off, and when a draining node gives
// up. It does no I/O and reads no clock: the caller (network_thread.cpp) asks next() with
// the current time and what it knows, carries out the one action returned, and reports the
// outcome of every task it ran with on_result().
//
// A pass runs the uplink tasks in a fixed order, ending at the first that fails:
//   1. register at /rd (when not registered) or refresh (at three quarters of the lifetime);
//   2. model delivery: the manifest, the installer, install reports, attestation answers;
//   3. one telemetry batch from the flash ring;
//   4. the capture chunk that is ready, if any.
// A pass that succeeded is followed by a short rest (the wait, bounded to kMinWaitMs ..
// kMaxWaitMs, in which notifications and new readings are taken), or by the next pass at
// once while the telemetry backlog drains. A failed pass backs off exponentially from
// initial_backoff_ms to max_backoff_ms, counted from the failure (a request can take 15 s
// by itself); a successful pass resets the back-off. With exit_when_sent, once sampling is
// done the node has drain_timeout_ms to get every reading acknowledged.
#pragma once

#include <cstdint>

namespace spindle::app {

enum class UplinkTask : std::uint8_t { kRegister, kDelivery, kTelemetry, kCapture };

enum class UplinkOutcome : std::uint8_t {
  kDone,       // the task succeeded
  kMore,       // (telemetry) it succeeded and more records wait: no rest before the next pass
  kFailed,     // the network or the gateway failed: the pass ends, back off
  kForgotten,  // the gateway does not know this node (4.03/4.04, refused registration):
               // as kFailed, and the next pass registers anew
};

struct UplinkAction {
  enum class Kind : std::uint8_t {
    kRun,           // run `task`, then on_result()
    kWait,          // listen for `wait_ms` (notifications, a new reading end it early)
    kFinished,      // exit_when_sent: every reading is acknowledged
    kDrainTimeout,  // exit_when_sent: the readings were not delivered in time
  };
  Kind kind = Kind::kWait;
  UplinkTask task = UplinkTask::kRegister;
  std::int64_t wait_ms = 0;
};

// What a finished task changed about reachability, for the log.
enum class LinkChange : std::uint8_t { kNone, kUp, kDown };

struct UplinkScheduleConfig {
  std::uint32_t lifetime_s = 300;  // registration lifetime
  bool exit_when_sent = false;
  std::int64_t drain_timeout_ms = 60000;
  std::int64_t initial_backoff_ms = 1000;
  std::int64_t max_backoff_ms = 30000;
};

// What the caller knows when it asks for the next action.
struct UplinkFacts {
  std::int64_t now_ms = 0;
  bool sampling_done = false;  // the sensor thread ended
  bool all_sent = false;       // every window is processed and its readings acknowledged
};

class UplinkSchedule {
 public:
  static constexpr std::int64_t kMinWaitMs = 50;
  static constexpr std::int64_t kMaxWaitMs = 500;

  explicit UplinkSchedule(const UplinkScheduleConfig& config) : config_(config) {
    backoff_ms_ = config.initial_backoff_ms;
  }

  // The next action. A kRun must be answered with on_result() before next() is asked
  // again; kFinished and kDrainTimeout are final.
  UplinkAction next(const UplinkFacts& facts);

  // The outcome of the task next() returned, stamped with the time it ended.
  LinkChange on_result(UplinkTask task, UplinkOutcome outcome, std::int64_t now_ms);

  // True after a successful registration, until the gateway forgets the node; the
  // register task refreshes at the registration's location while this holds.
  bool registered() const { return registered_; }
  bool online() const { return online_; }
  std::int64_t backoff_ms() const { return backoff_ms_; }

 private:
  bool registration_due(std::int64_t now_ms) const {
    return !registered_ || now_ms >= refresh_at_ms_;
  }

  UplinkScheduleConfig config_;
  bool registered_ = false;
  std::int64_t refresh_at_ms_ = 0;
  bool online_ = true;  // no failure reported since the last success
  std::int64_t backoff_ms_ = 0;
  std::int64_t next_attempt_ms_ = 0;
  std::int64_t drain_deadline_ms_ = -1;
  bool in_pass_ = false;
  UplinkTask next_task_ = UplinkTask::kRegister;
  bool more_ = false;  // this pass's telemetry left a backlog
  bool rest_ = false;  // a pass succeeded: wait once before the next
};

}  // namespace spindle::app
