// Staged rollouts (DESIGN.md section 5, docs/gateway/rollouts.md): a candidate model goes to
// a canary group first, then to waves, each stage released only when the gates over every
// device that took it have held for the plan's soak time; a failed gate halts the rollout at
// once, and with auto-revert the devices that took the candidate go back to the model they
// ran before.
//
// step() is the whole state machine: a pure function of the plan, the persisted state, what
// the gateway observed of each device (telemetry, install reports, calibration and shadow
// reports) and the time. It does no I/O. Its actions (release a device's candidate manifest,
// release a pre-signed decision, give a device its previous manifest back) are applied by
// the rollout driver (rollout_driver.hpp) in the same transaction that stores the new state,
// so a gateway killed at any point resumes where the store says it was: a stage is never
// released twice or skipped.
//
// The gateway holds no signing key: the candidate manifests and the promote, discard and
// revert decisions of every device were signed by spindlectl when the rollout was created.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/gateway/record_states.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway::rollout {

// ---- the plan: what the operator asked for ----

// A stage ends when the rollout has released `devices` devices in all, or `percent` of
// them (rounded up): stages are cumulative, "2, 50%, 100%".
struct Stage {
  std::uint32_t devices = 0;  // 0: use percent
  double percent = 0.0;       // 0 < percent <= 100 when devices is 0
};

// Thresholds of the gates; each has a default an operator may override.
struct Gates {
  // Released devices whose install did not fail (rejected, failed, self-test failed), over
  // those whose install has finished either way.
  double min_install_success = 1.0;
  // From release to confirmed (an active candidate) or shadowing (a shadow candidate).
  std::int64_t confirm_deadline_ms = 600'000;
  // Node-side rollbacks (a pending model that failed or did not survive its trial boots).
  std::uint32_t max_reverts = 0;
  // Reboots of one device since its release: more is a reboot loop.
  std::uint32_t max_reboots = 2;
  // From release to calibrated, for a candidate that calibrates per machine.
  std::int64_t calibration_deadline_ms = 3'600'000;
  // Inference latency p95 (the shadow's: its maximum); 0 = the board's window period.
  double max_latency_ms = 0.0;
  // The candidate's anomaly rate may be at most previous * ratio + slack, against the same
  // devices under the previous model, and against the devices not yet updated.
  double max_anomaly_ratio = 2.0;
  double anomaly_slack = 0.02;
  // Windows (scored and past calibration) the rate gates need before they judge.
  std::uint32_t min_windows = 200;
  // Shadow candidates: windows on which both models agree, over those both judged.
  double min_shadow_agreement = 0.95;
};

struct Plan {
  std::vector<Stage> stages;  // at least one; the last one covers every device
  std::int64_t soak_ms = 300'000;
  bool shadow = false;       // the candidate runs in shadow and is promoted stage by stage
  bool auto_revert = false;  // a halt sends the devices that took it back
  Gates gates;
};

// Parses "2,50%,100%" (cumulative device counts or percentages, rising). A plan whose last
// stage does not reach 100 % gets a final "100%". Errors: kInvalidValue, with `why` naming
// the bad stage.
Result<std::vector<Stage>> parse_stages(std::string_view text, std::string* why);
std::string stages_text(std::span<const Stage> stages);

// How many of `total` devices stage `index` has released in all (cumulative, at least one
// more than the stage before while devices remain).
std::size_t stage_end(std::span<const Stage> stages, std::size_t index, std::size_t total);

// The plan as JSON, the form the operator API takes and the store keeps:
//   {"stages": "2,50%,100%", "soak_s": 300, "shadow": false, "auto_revert": true,
//    "gates": {"min_install_success": 1, "confirm_deadline_s": 600, "max_reverts": 0,
//              "max_reboots": 2, "calibration_deadline_s": 3600, "max_latency_ms": 0,
//              "max_anomaly_ratio": 2, "anomaly_slack": 0.02, "min_windows": 200,
//              "min_shadow_agreement": 0.95}}
// Every key is optional except "stages"; an absent gate keeps its default.
std::string plan_to_json(const Plan& plan);
// Errors: kInvalidValue, with `why` naming the key and the rule (unknown keys, wrong types,
// values out of range: fractions in 0..1, times and counts not negative, a ratio >= 1).
Result<Plan> plan_from_json(std::string_view text, std::string* why);

// ---- the persisted state ----

// The phase and a device's step are stored with the rollout (record_states.hpp names them).
using Phase = RolloutPhase;
using DeviceStep = RolloutDeviceStep;

struct DeviceState {
  std::string device_id;
  DeviceStep step = DeviceStep::kWaiting;
  std::int64_t released_ms = 0;  // 0 until released
  std::int64_t decided_ms = 0;   // when its last decision went out; 0 before
};

struct State {
  Phase phase = Phase::kRunning;
  std::int32_t stage = -1;  // the stage released last; -1 before the first
  std::int64_t stage_released_ms = 0;
  std::string halted_gate;           // the gate that halted it ("" unless halted)
  std::string halt_detail;           // its numbers
  std::vector<DeviceState> devices;  // in release order
};

// ---- observations: what the gateway saw, per device, when step() runs ----

// How the candidate's installation stands on a device, from its update reports.
enum class Install : std::uint8_t {
  kNone,        // no report about the candidate yet
  kInProgress,  // accepted, downloading, verified ...
  kShadowing,   // verified and running in shadow
  kAwaiting,    // verified, waiting for the manifest's activation condition (a maintenance
                // window, the machine idle): not failed, not settled, and not late while it
                // waits, since the operator chose when it may switch
  kActivated,   // active, not yet confirmed
  kConfirmed,   // active and confirmed
  kFailed,      // rejected, failed, or a decision about it rejected
  kRolledBack,  // the node went back to its previous model
  kDiscarded,   // the shadow was dropped
};

// Windows a device scored in an interval, from its telemetry.
struct WindowStats {
  std::uint64_t windows = 0;    // scored and past calibration
  std::uint64_t anomalies = 0;  // of those
  double latency_p95_ms = 0.0;  // of every scored window; 0 without any
  std::uint64_t arena_max = 0;  // the highest arena high-water reported
  std::uint64_t reboots = 0;    // reboots counted in the interval
};

struct ShadowStats {
  std::uint64_t compared = 0;  // windows both models judged
  std::uint64_t agreed = 0;
  std::uint64_t active_anomalies = 0;
  std::uint64_t shadow_anomalies = 0;
  double latency_max_ms = 0.0;
  std::uint64_t arena_high_water = 0;
  bool calibrated = false;
};

struct DeviceObservation {
  Install install = Install::kNone;
  // The candidate under its release so far (since released_ms), and the previous model over
  // the same length of time before the release.
  WindowStats after;
  WindowStats before;
  std::optional<ShadowStats> shadow;  // the latest shadow report about the candidate
  bool needs_calibration = false;     // the candidate calibrates per machine
  std::int64_t calibrated_ms = 0;  // when a calibrated report about the candidate came; 0 not yet
  double latency_budget_ms = 0.0;  // the board's window period
  std::uint64_t arena_budget = 0;  // the board's model arena
};

// The devices not yet released, since the current stage's release: the control group.
struct Observations {
  std::vector<DeviceObservation> devices;  // parallel to State::devices
  WindowStats control;
};

// ---- gates ----

enum class Verdict : std::uint8_t { kPending, kPass, kFail };
const char* verdict_name(Verdict verdict);

struct GateResult {
  std::string name;  // "install-success", "confirm", ..., stable for metrics
  Verdict verdict = Verdict::kPending;
  double value = 0.0;
  double threshold = 0.0;
  std::string detail;  // the numbers, for operators
};

// Every gate over the released devices, in a fixed order.
std::vector<GateResult> evaluate(const Plan& plan, const State& state, const Observations& seen,
                                 std::int64_t now_ms);

// ---- the step ----

enum class Command : std::uint8_t { kNone, kPause, kResume, kAbort };

enum class ActionKind : std::uint8_t {
  kRelease,   // deploy the device's candidate manifest
  kPromote,   // release its promote decision
  kDiscard,   // release its discard decision
  kRevert,    // release its revert decision
  kWithdraw,  // its decision has taken effect: stop sending it
  kRestore,   // deploy the device's previous manifest again
};
const char* action_name(ActionKind kind);

struct Action {
  ActionKind kind = ActionKind::kRelease;
  std::size_t device = 0;  // index into State::devices
};

struct StepResult {
  State next;
  std::vector<Action> actions;
  std::vector<GateResult> gates;
  bool changed = false;  // next differs from the state given
  std::string event;  // "" or the kind of event to record ("rollout-stage", "rollout-halted", ...)
  std::string event_detail;
};

// One step. `command` is applied first (pause and resume only while running or paused;
// abort unless completed). Then, while running or paused: decisions that took effect are
// withdrawn; every gate is evaluated and the first that fails halts the rollout (with
// auto-revert, released devices are sent back: discard for a shadow, revert for an active
// candidate, restore for one whose install has not got that far); while running, the first
// stage is released, and a stage whose soak is over with every gate passing releases the
// next (promoting the stage's devices first, for a shadow rollout); once every device is
// released and settled the rollout completes. After a halt, the reverts in flight are
// followed to their end.
// Errors: kInvalidValue (observations not parallel to the devices, a plan without stages),
// kInvalidState (a command the phase does not allow).
Result<StepResult> step(const Plan& plan, const State& state, const Observations& seen,
                        std::int64_t now_ms, Command command = Command::kNone);

}  // namespace spindle::gateway::rollout
