#include "spindle/gateway/rollout_driver.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::gateway {
namespace {

// The driver rests at least this many times the length of its last pass (at most a fifth
// of a core's time goes to the gates).
constexpr int kPassSpacing = 4;

using rollout::Install;

// How a deployment's state reads for the gates.
Install install_of(DeploymentState state) {
  switch (state) {
    case DeploymentState::kPending:
      return Install::kNone;
    case DeploymentState::kManifestAccepted:
    case DeploymentState::kDownloading:
    case DeploymentState::kDownloaded:
    case DeploymentState::kVerified:
    case DeploymentState::kSelfTestPassed:
      return Install::kInProgress;
    case DeploymentState::kShadowing:
      return Install::kShadowing;
    case DeploymentState::kAwaitingActivation:
      return Install::kAwaiting;
    case DeploymentState::kActivated:
      return Install::kActivated;
    case DeploymentState::kConfirmed:
      return Install::kConfirmed;
    case DeploymentState::kRolledBack:
      return Install::kRolledBack;
    case DeploymentState::kDiscarded:
      return Install::kDiscarded;
    case DeploymentState::kManifestRejected:
    case DeploymentState::kFailed:
    case DeploymentState::kDecisionRejected:
      return Install::kFailed;
  }
  return Install::kNone;
}

// What the candidate manifest says that the gates need.
struct Candidate {
  bool needs_calibration = false;
  double window_ms = 0.0;
  DeploymentRole role = DeploymentRole::kActive;
  std::string model_id;
  std::uint64_t version = 0;
  std::string digest;  // lower-case hex
};

std::optional<Candidate> read_candidate(const Bytes& signed_manifest) {
  const auto sign1 = cose::decode(signed_manifest);
  if (!sign1.ok()) return std::nullopt;
  const auto m = manifest::decode(sign1->payload);
  if (!m.ok()) return std::nullopt;
  Candidate c;
  c.needs_calibration = m->has_calibration;
  c.window_ms = m->input.sample_rate_hz == 0 ? 0.0
                                             : 1000.0 * m->input.window_length /
                                                   static_cast<double>(m->input.sample_rate_hz);
  c.role = m->role == manifest::ManifestRole::kShadow ? DeploymentRole::kShadow
                                                      : DeploymentRole::kActive;
  c.model_id = std::string(m->model_id);
  c.version = m->version;
  static constexpr char kHex[] = "0123456789abcdef";
  for (const std::uint8_t b : m->payload_digest) {
    c.digest.push_back(kHex[b >> 4]);
    c.digest.push_back(kHex[b & 15]);
  }
  return c;
}

rollout::WindowStats window_stats(const TelemetrySummary& s) {
  rollout::WindowStats w;
  w.windows = s.scored > s.calibrating ? s.scored - s.calibrating : 0;
  w.anomalies = s.anomalies;
  w.latency_p95_ms = s.latency_p95_s * 1000.0;
  w.arena_max = static_cast<std::uint64_t>(std::max(0.0, s.arena_max));
  w.reboots =
      s.reboots_max > s.reboots_min ? static_cast<std::uint64_t>(s.reboots_max - s.reboots_min) : 0;
  return w;
}

rollout::State state_of(const StoredRollout& stored,
                        const std::vector<StoredRolloutDevice>& devices) {
  rollout::State state;
  state.phase = stored.phase;
  state.stage = stored.stage;
  state.stage_released_ms = stored.stage_released_ms;
  state.halted_gate = stored.halted_gate;
  state.halt_detail = stored.halt_detail;
  for (const StoredRolloutDevice& d : devices) {
    state.devices.push_back(rollout::DeviceState{d.device_id, d.step, d.released_ms, d.decided_ms});
  }
  return state;
}

bool finished(const StoredRollout& r, const std::vector<StoredRolloutDevice>& devices) {
  if (r.phase == RolloutPhase::kRunning || r.phase == RolloutPhase::kPaused) return false;
  return std::none_of(devices.begin(), devices.end(), [](const StoredRolloutDevice& d) {
    return d.step == RolloutDeviceStep::kPromoting || d.step == RolloutDeviceStep::kDiscarding ||
           d.step == RolloutDeviceStep::kReverting;
  });
}

}  // namespace

RolloutDriver::RolloutDriver(Writer& writer, std::unique_ptr<Store> reader, FleetListener& listener,
                             Metrics& metrics, RolloutDriverOptions options)
    : writer_(writer),
      reader_(std::move(reader)),
      listener_(listener),
      metrics_(metrics),
      options_(options) {}

RolloutDriver::~RolloutDriver() {
  stop();
}

void RolloutDriver::start() {
  std::lock_guard lock(stop_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void RolloutDriver::stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RolloutDriver::loop() {
  std::unique_lock lock(stop_mutex_);
  while (!stopping_) {
    lock.unlock();
    const auto started = std::chrono::steady_clock::now();
    try {
      const Status ticked = tick(now_ms());
      if (!ticked.ok()) spdlog::warn("rollouts: a tick failed ({}); trying again", ticked.name());
    } catch (const std::exception& e) {
      spdlog::error("rollouts: a tick threw: {}", e.what());
    }
    // A pass over a large rollout costs real time (bench/rollout: about 0.6 s for 10,000
    // devices), taken from the telemetry ingest on the same cores: the next pass waits the
    // interval, and at least kPassSpacing times what this one took, so the driver keeps to
    // a bounded share of a core however large the rollouts grow.
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    lock.lock();
    wake_.wait_for(lock, std::max(options_.interval, kPassSpacing * took),
                   [this] { return stopping_; });
  }
}

Status RolloutDriver::tick(std::int64_t now) {
  std::lock_guard lock(mutex_);
  const auto started = std::chrono::steady_clock::now();
  SPINDLE_TRY_ASSIGN(const auto rollouts, reader_->list_rollouts());
  std::size_t stepped = 0;
  for (const StoredRollout& r : rollouts) {
    if (r.phase == RolloutPhase::kCompleted || r.phase == RolloutPhase::kAborted ||
        r.phase == RolloutPhase::kHalted) {
      // Finished ones only while devices are still being sent back.
      SPINDLE_TRY_ASSIGN(const auto devices, reader_->rollout_devices(r.id));
      if (finished(r, devices)) continue;
    }
    SPINDLE_TRY(step_one(r, rollout::Command::kNone, now));
    ++stepped;
  }
  // What a pass costs (bench/rollout reads it): it grows with the released devices.
  if (stepped > 0) {
    const std::chrono::duration<double, std::milli> took =
        std::chrono::steady_clock::now() - started;
    spdlog::debug("rollouts: tick stepped {} of {} rollouts in {:.1f} ms", stepped, rollouts.size(),
                  took.count());
  }
  return kOk;
}

Result<std::int64_t> RolloutDriver::create(StoredRollout rollout,
                                           std::vector<StoredRolloutDevice> devices,
                                           std::int64_t now, Writer::Work check) {
  std::string why;
  if (devices.empty() || !rollout::plan_from_json(rollout.plan, &why).ok()) {
    return Error::kInvalidValue;
  }
  std::lock_guard lock(mutex_);
  rollout.phase = RolloutPhase::kRunning;
  rollout.stage = -1;
  rollout.stage_released_ms = 0;
  rollout.created_ms = now;
  rollout.updated_ms = now;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    devices[i].position = static_cast<std::uint32_t>(i);
    devices[i].step = RolloutDeviceStep::kWaiting;
    devices[i].released_ms = 0;
    devices[i].decided_ms = 0;
    devices[i].deployment = 0;
  }
  std::int64_t id = 0;
  SPINDLE_TRY(writer_.run([&](Store& store) -> Status {
    if (check) SPINDLE_TRY(check(store));
    // The previous deployment of each device is the one current when the rollout is
    // recorded, read in the same transaction.
    for (StoredRolloutDevice& d : devices) {
      SPINDLE_TRY_ASSIGN(const auto history, store.device_deployments(d.device_id));
      d.previous_deployment = history.empty() ? 0 : history.front().id;
    }
    SPINDLE_TRY_ASSIGN(id, store.add_rollout(rollout, devices));
    SPINDLE_TRY_ASSIGN(
        const auto ignored,
        store.append_event("", "rollout-created",
                           "rollout " + std::to_string(id) + " \"" + rollout.name +
                               "\": " + rollout.model_id + " v" + std::to_string(rollout.version) +
                               " to " + std::to_string(devices.size()) + " devices",
                           now));
    (void)ignored;
    return kOk;
  }));
  return id;
}

Status RolloutDriver::command(std::int64_t id, rollout::Command command, std::int64_t now) {
  std::lock_guard lock(mutex_);
  SPINDLE_TRY_ASSIGN(const StoredRollout stored, reader_->get_rollout(id));
  return step_one(stored, command, now);
}

Result<RolloutView> RolloutDriver::view(std::int64_t id) {
  std::lock_guard lock(mutex_);
  RolloutView out;
  SPINDLE_TRY_ASSIGN(out.rollout, reader_->get_rollout(id));
  SPINDLE_TRY_ASSIGN(out.devices, reader_->rollout_devices(id));
  std::string why;
  SPINDLE_TRY_ASSIGN(out.plan, rollout::plan_from_json(out.rollout.plan, &why));
  if (const auto it = gates_.find(id); it != gates_.end()) {
    out.gates = it->second.first;
    out.evaluated_ms = it->second.second;
  }
  return out;
}

Result<rollout::Observations> RolloutDriver::observe(
    const StoredRollout& stored, const rollout::Plan& plan,
    const std::vector<StoredRolloutDevice>& devices, std::int64_t now) {
  (void)plan;
  rollout::Observations seen;
  seen.devices.resize(devices.size());
  std::optional<Candidate> candidate;
  const double now_s = static_cast<double>(now) / 1000.0;
  std::size_t control_sampled = 0;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const StoredRolloutDevice& d = devices[i];
    rollout::DeviceObservation& o = seen.devices[i];
    if (!candidate) candidate = read_candidate(d.candidate);
    if (candidate) {
      o.needs_calibration = candidate->needs_calibration;
      o.latency_budget_ms = candidate->window_ms;
    }
    if (d.step == RolloutDeviceStep::kWaiting) {
      // The control group: not yet updated, over the current stage's time.
      if (stored.stage >= 0 && control_sampled < options_.max_control_devices) {
        ++control_sampled;
        SPINDLE_TRY_ASSIGN(
            const TelemetrySummary s,
            reader_->summarize_telemetry(
                d.device_id, static_cast<double>(stored.stage_released_ms) / 1000.0, now_s));
        const rollout::WindowStats w = window_stats(s);
        seen.control.windows += w.windows;
        seen.control.anomalies += w.anomalies;
      }
      continue;
    }
    std::int64_t since_ms = d.released_ms;
    if (d.deployment != 0) {
      const auto deployment = reader_->get_deployment(d.deployment);
      if (deployment.ok()) {
        o.install = install_of(deployment->state);
        // The candidate's own windows start when it became active.
        if ((o.install == Install::kActivated || o.install == Install::kConfirmed)) {
          since_ms = std::max(since_ms, deployment->updated_ms);
        }
      } else if (deployment.status() != Status(Error::kNotFound)) {
        return deployment.status();
      }
    }
    const auto device = reader_->get_device(d.device_id);
    if (device.ok()) {
      if (!device->registration.empty()) {
        const auto registration = registration::decode(device->registration);
        if (registration.ok()) o.arena_budget = registration->budgets.arena_bytes;
      }
      if (candidate && device->calibration &&
          device->calibration->model_id == candidate->model_id &&
          device->calibration->version == candidate->version &&
          device->calibration->state == status_report::CalibrationState::kCalibrated) {
        o.calibrated_ms = device->calibration->updated_ms;
      }
    }
    if (candidate) {
      const auto shadow = reader_->get_shadow_report(d.device_id);
      if (shadow.ok() && shadow->model_id == candidate->model_id &&
          shadow->version == candidate->version) {
        rollout::ShadowStats s;
        s.compared = shadow->compared;
        s.agreed = shadow->agreed;
        s.active_anomalies = shadow->active_anomalies;
        s.shadow_anomalies = shadow->shadow_anomalies;
        s.latency_max_ms = shadow->latency_max_us / 1000.0;
        s.arena_high_water = shadow->arena_high_water;
        s.calibrated = shadow->calibration == status_report::CalibrationState::kCalibrated ||
                       shadow->calibration == status_report::CalibrationState::kNone;
        o.shadow = s;
      }
    }
    const double since_s = static_cast<double>(since_ms) / 1000.0;
    SPINDLE_TRY_ASSIGN(const TelemetrySummary after,
                       reader_->summarize_telemetry(d.device_id, since_s, now_s));
    o.after = window_stats(after);
    // Reboots count from the release, whatever model was running.
    if (since_ms != d.released_ms) {
      SPINDLE_TRY_ASSIGN(const TelemetrySummary all,
                         reader_->summarize_telemetry(
                             d.device_id, static_cast<double>(d.released_ms) / 1000.0, now_s));
      o.after.reboots = window_stats(all).reboots;
    }
    if (o.install == Install::kActivated || o.install == Install::kConfirmed) {
      const double released_s = static_cast<double>(d.released_ms) / 1000.0;
      const double length = std::max(0.0, now_s - since_s);
      SPINDLE_TRY_ASSIGN(
          const TelemetrySummary before,
          reader_->summarize_telemetry(d.device_id, released_s - length, released_s));
      o.before = window_stats(before);
    }
  }
  return seen;
}

Status RolloutDriver::step_one(const StoredRollout& stored, rollout::Command command,
                               std::int64_t now) {
  std::string why;
  const auto plan = rollout::plan_from_json(stored.plan, &why);
  if (!plan.ok()) {
    spdlog::error("rollouts: rollout {} has a plan this build cannot read: {}", stored.id, why);
    return Error::kIoError;
  }
  SPINDLE_TRY_ASSIGN(auto devices, reader_->rollout_devices(stored.id));
  SPINDLE_TRY_ASSIGN(const rollout::Observations seen, observe(stored, *plan, devices, now));
  const rollout::State state = state_of(stored, devices);
  SPINDLE_TRY_ASSIGN(rollout::StepResult result, rollout::step(*plan, state, seen, now, command));
  if (!result.gates.empty()) gates_[stored.id] = {result.gates, now};
  metrics_.set_rollout(stored.id, rollout_phase_name(result.next.phase), result.gates, [&] {
    std::array<std::uint64_t, kRolloutDeviceStepCount> steps{};
    for (const auto& d : result.next.devices) {
      ++steps[static_cast<std::size_t>(d.step)];
    }
    return steps;
  }());
  if (!result.changed && result.actions.empty()) return kOk;

  StoredRollout next = stored;
  next.phase = result.next.phase;
  next.stage = result.next.stage;
  next.stage_released_ms = result.next.stage_released_ms;
  next.halted_gate = result.next.halted_gate;
  next.halt_detail = result.next.halt_detail;
  next.updated_ms = now;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    devices[i].step = result.next.devices[i].step;
    devices[i].released_ms = result.next.devices[i].released_ms;
    devices[i].decided_ms = result.next.devices[i].decided_ms;
  }

  std::vector<StoredDeployment> deployed;
  std::vector<std::pair<std::string, Bytes>> decisions;
  const Status written = writer_.run([&](Store& store) -> Status {
    deployed.clear();
    decisions.clear();
    for (const rollout::Action& action : result.actions) {
      StoredRolloutDevice& d = devices[action.device];
      switch (action.kind) {
        case rollout::ActionKind::kRelease: {
          const auto c = read_candidate(d.candidate);
          if (!c) return Error::kMalformed;  // checked when the rollout was created
          StoredDeployment deployment;
          deployment.device_id = d.device_id;
          deployment.model_digest = c->digest;
          deployment.model_id = c->model_id;
          deployment.version = c->version;
          deployment.manifest = d.candidate;
          deployment.role = c->role;
          deployment.created_ms = now;
          deployment.updated_ms = now;
          SPINDLE_TRY_ASSIGN(deployment.id, store.add_deployment(deployment));
          d.deployment = deployment.id;
          deployed.push_back(std::move(deployment));
          break;
        }
        case rollout::ActionKind::kRestore: {
          if (d.previous_deployment == 0) break;  // it ran nothing before: nothing to go back to
          SPINDLE_TRY_ASSIGN(StoredDeployment previous,
                             store.get_deployment(d.previous_deployment));
          previous.created_ms = now;
          previous.updated_ms = now;
          SPINDLE_TRY_ASSIGN(previous.id, store.add_deployment(previous));
          // The node runs it already (it went back to it): the restored row says so.
          SPINDLE_TRY(store.set_deployment_state(previous.id, DeploymentState::kConfirmed,
                                                 "restored by rollout", now));
          previous.state = DeploymentState::kConfirmed;
          deployed.push_back(std::move(previous));
          break;
        }
        case rollout::ActionKind::kPromote:
          decisions.emplace_back(d.device_id, d.promote);
          break;
        case rollout::ActionKind::kDiscard:
          decisions.emplace_back(d.device_id, d.discard);
          break;
        case rollout::ActionKind::kRevert:
          decisions.emplace_back(d.device_id, d.revert);
          break;
        case rollout::ActionKind::kWithdraw:
          decisions.emplace_back(d.device_id, Bytes{});
          break;
      }
    }
    SPINDLE_TRY(store.save_rollout_state(next));
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const rollout::DeviceState& before = state.devices[i];
      const StoredRolloutDevice& d = devices[i];
      if (before.step != d.step || before.released_ms != d.released_ms ||
          before.decided_ms != d.decided_ms ||
          std::any_of(result.actions.begin(), result.actions.end(),
                      [&](const rollout::Action& a) { return a.device == i; })) {
        SPINDLE_TRY(store.save_rollout_device(d));
      }
    }
    if (!result.event.empty()) {
      SPINDLE_TRY_ASSIGN(
          const auto ignored,
          store.append_event("", result.event,
                             "rollout " + std::to_string(stored.id) + ": " + result.event_detail,
                             now));
      (void)ignored;
    }
    return kOk;
  });
  SPINDLE_TRY(written);
  if (!result.event.empty()) {
    spdlog::info("rollouts: rollout {}: {} ({})", stored.id, result.event, result.event_detail);
  }
  if (result.next.phase == RolloutPhase::kHalted && stored.phase != RolloutPhase::kHalted) {
    metrics_.count_rollout_halt(result.next.halted_gate);
  }
  for (StoredDeployment& deployment : deployed)
    listener_.deployment_added(std::move(deployment));
  for (auto& [device, decision] : decisions) {
    listener_.decision_set(std::move(device), std::move(decision));
  }
  return kOk;
}

}  // namespace spindle::gateway
