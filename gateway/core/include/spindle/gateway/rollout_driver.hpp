// Runs the staged rollouts (rollout.hpp) against the store: at every tick it reads what the
// gateway observed of each rollout's devices (install reports, calibration and shadow
// reports, telemetry summaries), steps each rollout that is not finished, and applies the
// step's actions in ONE writer job with the new state (deployments of candidate or previous
// manifests, device steps, an event), so that a gateway killed at any moment restarts from a
// state whose actions are all done or all undone. Once the job has committed it tells the
// CoAP side (FleetListener): new deployments to serve and notify, decisions to send or stop
// sending.
//
// Operator commands (pause, resume, abort) step the rollout at once, under the same lock as
// the ticks. The latest gates of every rollout are kept for the API's progress view and the
// metrics.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "spindle/gateway/fleet_listener.hpp"
#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/rollout.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/gateway/writer.hpp"

namespace spindle::gateway {

struct RolloutDriverOptions {
  std::chrono::milliseconds interval{1000};  // between ticks
  std::size_t max_control_devices = 200;     // waiting devices sampled for the control rate
};

// A rollout as the API shows it: the stored record, its devices, and the gates of its
// latest step (empty before the first tick since start-up).
struct RolloutView {
  StoredRollout rollout;
  rollout::Plan plan;
  std::vector<StoredRolloutDevice> devices;
  std::vector<rollout::GateResult> gates;
  std::int64_t evaluated_ms = 0;
};

class RolloutDriver {
 public:
  RolloutDriver(Writer& writer, std::unique_ptr<Store> reader, FleetListener& listener,
                Metrics& metrics, RolloutDriverOptions options = {});
  ~RolloutDriver();
  RolloutDriver(const RolloutDriver&) = delete;
  RolloutDriver& operator=(const RolloutDriver&) = delete;

  // Ticks on a thread of its own every options.interval until stop(). Idempotent.
  void start();
  void stop();

  // One pass: steps every rollout that is running, paused, or halted with devices still
  // being sent back. Errors: the store's (the pass stops at the first; the next tick tries
  // again).
  Status tick(std::int64_t now_ms);

  // Records a new rollout (phase running, nothing released; the next tick releases its
  // first stage) and returns its id. `check`, when given, runs first in the same writer job
  // (the caller's checks against the store, which then cannot be overtaken) and its error
  // aborts. Errors: kInvalidValue (a plan that does not parse, no devices), check's, the
  // store's (kNotFound for an unknown device, kAlreadyExists for a device twice).
  Result<std::int64_t> create(StoredRollout rollout, std::vector<StoredRolloutDevice> devices,
                              std::int64_t now_ms, Writer::Work check = {});

  // The operator's command, applied at once. Errors: kNotFound (no such rollout),
  // kInvalidState (the phase does not allow it), the store's.
  Status command(std::int64_t id, rollout::Command command, std::int64_t now_ms);

  // Errors: kNotFound, the store's.
  Result<RolloutView> view(std::int64_t id);

 private:
  Status step_one(const StoredRollout& stored, rollout::Command command, std::int64_t now_ms);
  Result<rollout::Observations> observe(const StoredRollout& stored, const rollout::Plan& plan,
                                        const std::vector<StoredRolloutDevice>& devices,
                                        std::int64_t now_ms);
  void loop();

  Writer& writer_;
  std::unique_ptr<Store> reader_;
  FleetListener& listener_;
  Metrics& metrics_;
  RolloutDriverOptions options_;
  std::mutex mutex_;  // one step at a time: ticks and commands
  std::map<std::int64_t, std::pair<std::vector<rollout::GateResult>, std::int64_t>> gates_;
  std::mutex stop_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace spindle::gateway
