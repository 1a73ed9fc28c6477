#include "spindle/gateway/rollout.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include <spdlog/fmt/fmt.h>

namespace spindle::gateway::rollout {
namespace {

bool released(const DeviceState& d) {
  return d.step != DeviceStep::kWaiting;
}

// Runs the candidate as its active model.
bool runs_active(Install install) {
  return install == Install::kActivated || install == Install::kConfirmed;
}

// The device reached what its release asked for: a shadow running, or the candidate
// confirmed (after a promotion too).
bool settled(const Plan& plan, const DeviceState& d, const DeviceObservation& seen) {
  if (plan.shadow && d.step == DeviceStep::kReleased) {
    return seen.install == Install::kShadowing || runs_active(seen.install);
  }
  return seen.install == Install::kConfirmed;
}

double rate(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

GateResult gate(const char* name, Verdict verdict, double value, double threshold,
                std::string detail) {
  return GateResult{name, verdict, value, threshold, std::move(detail)};
}

// The candidate's anomaly rate against a reference rate over other windows.
GateResult rate_gate(const char* name, const Gates& g, std::uint64_t anomalies,
                     std::uint64_t windows, std::uint64_t ref_anomalies, std::uint64_t ref_windows,
                     const char* reference) {
  const double candidate = rate(anomalies, windows);
  const double previous = rate(ref_anomalies, ref_windows);
  const double limit = previous * g.max_anomaly_ratio + g.anomaly_slack;
  std::array<char, 200> text{};
  std::snprintf(text.data(), text.size(),
                "candidate %.4f over %llu windows, %s %.4f over %llu windows, limit %.4f",
                candidate, static_cast<unsigned long long>(windows), reference, previous,
                static_cast<unsigned long long>(ref_windows), limit);
  std::string detail = text.data();
  if (windows < g.min_windows) {
    return gate(name, Verdict::kPending, candidate, limit, detail + " (too few windows yet)");
  }
  if (ref_windows < g.min_windows) {
    return gate(name, Verdict::kPass, candidate, limit, detail + " (no reference to judge by)");
  }
  return gate(name, candidate <= limit ? Verdict::kPass : Verdict::kFail, candidate, limit,
              std::move(detail));
}

}  // namespace

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPending:
      return "pending";
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
  }
  return "?";
}

const char* action_name(ActionKind kind) {
  switch (kind) {
    case ActionKind::kRelease:
      return "release";
    case ActionKind::kPromote:
      return "promote";
    case ActionKind::kDiscard:
      return "discard";
    case ActionKind::kRevert:
      return "revert";
    case ActionKind::kWithdraw:
      return "withdraw";
    case ActionKind::kRestore:
      return "restore";
  }
  return "?";
}

// ---- stages ----

Result<std::vector<Stage>> parse_stages(std::string_view text, std::string* why) {
  std::vector<Stage> stages;
  double last_percent = 0.0;
  std::uint32_t last_devices = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view term = text.substr(start, comma - start);
    while (!term.empty() && term.front() == ' ')
      term.remove_prefix(1);
    while (!term.empty() && term.back() == ' ')
      term.remove_suffix(1);
    const auto bad = [&](const char* reason) -> Result<std::vector<Stage>> {
      *why = "stage \"" + std::string(term) + "\": " + reason;
      return Error::kInvalidValue;
    };
    if (term.empty()) return bad("empty (stages are like 2,50%,100%)");
    Stage stage;
    if (term.back() == '%') {
      term.remove_suffix(1);
      double percent = 0.0;
      const auto [end, ec] = std::from_chars(term.data(), term.data() + term.size(), percent);
      if (ec != std::errc() || end != term.data() + term.size()) return bad("not a percentage");
      if (!(percent > 0.0 && percent <= 100.0))
        return bad("a percentage is above 0 and at most 100");
      if (percent <= last_percent) return bad("stages must rise");
      stage.percent = percent;
      last_percent = percent;
    } else {
      std::uint32_t devices = 0;
      const auto [end, ec] = std::from_chars(term.data(), term.data() + term.size(), devices);
      if (ec != std::errc() || end != term.data() + term.size() || devices == 0) {
        return bad("not a device count above 0 or a percentage");
      }
      if (devices <= last_devices) return bad("stages must rise");
      stage.devices = devices;
      last_devices = devices;
    }
    stages.push_back(stage);
    if (stages.size() > 32) return bad("at most 32 stages");
    start = comma + 1;
  }
  if (stages.empty() || stages.back().devices != 0 || stages.back().percent < 100.0) {
    stages.push_back(Stage{0, 100.0});
  }
  return stages;
}

std::string stages_text(std::span<const Stage> stages) {
  std::string text;
  for (const Stage& s : stages) {
    if (!text.empty()) text += ',';
    if (s.devices != 0) {
      text += std::to_string(s.devices);
    } else {
      std::array<char, 32> number{};
      std::snprintf(number.data(), number.size(), "%g%%", s.percent);
      text += number.data();
    }
  }
  return text;
}

std::size_t stage_end(std::span<const Stage> stages, std::size_t index, std::size_t total) {
  std::size_t end = 0;
  for (std::size_t i = 0; i <= index && i < stages.size(); ++i) {
    const Stage& s = stages[i];
    std::size_t target =
        s.devices != 0 ? s.devices
                       : static_cast<std::size_t>(
                             std::ceil(s.percent / 100.0 * static_cast<double>(total) - 1e-9));
    if (i + 1 == stages.size()) target = total;
    end = std::min(total, std::max(target, end + 1));
  }
  return end;
}

// ---- gates ----

std::vector<GateResult> evaluate(const Plan& plan, const State& state, const Observations& seen,
                                 std::int64_t now_ms) {
  const Gates& g = plan.gates;
  std::vector<GateResult> gates;
  std::size_t count = 0;
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::size_t settled_count = 0;
  std::size_t unsettled = 0;
  std::size_t late = 0;
  std::string late_device;
  std::uint64_t node_reverts = 0;
  std::uint64_t max_reboots = 0;
  std::string reboot_device;
  std::size_t calibrating = 0;
  std::size_t calibrated = 0;
  std::size_t calibration_late = 0;
  bool any_calibration = false;
  double worst_latency = 0.0;
  double worst_latency_budget = 0.0;
  bool latency_seen = false;
  bool latency_over = false;
  std::string latency_device;
  std::uint64_t worst_arena = 0;
  std::uint64_t worst_arena_budget = 0;
  bool arena_over = false;
  std::string arena_device;
  WindowStats active_after;
  WindowStats active_before;
  std::size_t shadowing = 0;
  ShadowStats shadow;

  for (std::size_t i = 0; i < state.devices.size(); ++i) {
    const DeviceState& d = state.devices[i];
    if (!released(d)) continue;
    const DeviceObservation& o = seen.devices[i];
    ++count;
    const bool ours = d.step == DeviceStep::kReleased || d.step == DeviceStep::kPromoting ||
                      d.step == DeviceStep::kPromoted;
    if (o.install == Install::kFailed) {
      ++failed;
    } else if (o.install == Install::kShadowing || runs_active(o.install) ||
               o.install == Install::kAwaiting || o.install == Install::kDiscarded ||
               (o.install == Install::kRolledBack && !ours)) {
      ++ok;
    } else if (o.install == Install::kRolledBack) {
      ++node_reverts;  // the node went back by itself: its install did not hold
    }
    if (ours && o.install != Install::kFailed) {
      if (settled(plan, d, o)) {
        ++settled_count;
      } else {
        ++unsettled;
        const std::int64_t since =
            d.step == DeviceStep::kReleased ? d.released_ms : std::max(d.released_ms, d.decided_ms);
        // A verified model waiting for its activation condition waits by the operator's
        // choice (a window hours away, a machine that keeps running): not late for that.
        if (o.install != Install::kAwaiting && now_ms - since > g.confirm_deadline_ms) {
          ++late;
          if (late_device.empty()) late_device = d.device_id;
        }
      }
    }
    if (o.after.reboots > max_reboots) {
      max_reboots = o.after.reboots;
      reboot_device = d.device_id;
    }
    if (!ours) continue;
    if (o.needs_calibration && (o.install == Install::kShadowing || runs_active(o.install))) {
      any_calibration = true;
      ++calibrating;
      const bool done = o.calibrated_ms != 0 ||
                        (o.shadow && o.shadow->calibrated && o.install == Install::kShadowing);
      if (done) {
        ++calibrated;
      } else if (now_ms - d.released_ms > g.calibration_deadline_ms) {
        ++calibration_late;
      }
    }
    const double budget = g.max_latency_ms > 0.0 ? g.max_latency_ms : o.latency_budget_ms;
    double latency = 0.0;
    std::uint64_t arena = 0;
    if (o.install == Install::kShadowing && o.shadow) {
      latency = o.shadow->latency_max_ms;
      arena = o.shadow->arena_high_water;
    } else if (runs_active(o.install)) {
      latency = o.after.latency_p95_ms;
      arena = o.after.arena_max;
    }
    if (latency > 0.0) {
      latency_seen = true;
      if (budget > 0.0 && latency > budget) {
        latency_over = true;
        latency_device = d.device_id;
      }
      if (latency / std::max(budget, 1e-9) >=
          worst_latency / std::max(worst_latency_budget, 1e-9)) {
        worst_latency = latency;
        worst_latency_budget = budget;
      }
    }
    if (arena > 0 && o.arena_budget > 0) {
      if (arena > o.arena_budget) {
        arena_over = true;
        arena_device = d.device_id;
      }
      if (arena >= worst_arena) {
        worst_arena = arena;
        worst_arena_budget = o.arena_budget;
      }
    }
    if (runs_active(o.install)) {
      active_after.windows += o.after.windows;
      active_after.anomalies += o.after.anomalies;
      active_before.windows += o.before.windows;
      active_before.anomalies += o.before.anomalies;
    }
    if (plan.shadow && d.step == DeviceStep::kReleased) {
      ++shadowing;
      if (o.shadow && o.install == Install::kShadowing) {
        shadow.compared += o.shadow->compared;
        shadow.agreed += o.shadow->agreed;
        shadow.active_anomalies += o.shadow->active_anomalies;
        shadow.shadow_anomalies += o.shadow->shadow_anomalies;
      }
    }
  }

  // install-success
  {
    const std::size_t finished = ok + failed;
    const double value = finished == 0 ? 1.0 : rate(ok, finished);
    const auto allowed = static_cast<std::size_t>(
        std::floor((1.0 - g.min_install_success) * static_cast<double>(count) + 1e-9));
    std::string detail = std::to_string(ok) + " installed, " + std::to_string(failed) +
                         " failed, " + std::to_string(count - finished) + " under way of " +
                         std::to_string(count) + " released";
    Verdict v = Verdict::kPass;
    if (failed > allowed) {
      v = Verdict::kFail;
    } else if (finished < count) {
      v = Verdict::kPending;
    } else if (value < g.min_install_success) {
      v = Verdict::kFail;
    }
    gates.push_back(gate("install-success", v, value, g.min_install_success, std::move(detail)));
  }
  // confirm
  {
    std::string detail = std::to_string(settled_count) + " settled, " + std::to_string(late) +
                         " past the deadline of " + std::to_string(g.confirm_deadline_ms / 1000) +
                         " s";
    if (!late_device.empty()) detail += " (" + late_device + " first)";
    const Verdict v = late > 0        ? Verdict::kFail
                      : unsettled > 0 ? Verdict::kPending
                                      : Verdict::kPass;
    gates.push_back(gate("confirm", v, static_cast<double>(settled_count),
                         static_cast<double>(count), std::move(detail)));
  }
  // no-revert
  gates.push_back(gate("no-revert", node_reverts > g.max_reverts ? Verdict::kFail : Verdict::kPass,
                       static_cast<double>(node_reverts), g.max_reverts,
                       std::to_string(node_reverts) + " devices rolled back by themselves"));
  // reboots
  gates.push_back(gate("reboots", max_reboots > g.max_reboots ? Verdict::kFail : Verdict::kPass,
                       static_cast<double>(max_reboots), g.max_reboots,
                       reboot_device.empty() ? std::string("no reboots since release")
                                             : std::to_string(max_reboots) + " reboots of " +
                                                   reboot_device + " since release"));
  // calibration
  {
    std::string detail = any_calibration
                             ? std::to_string(calibrated) + " of " + std::to_string(calibrating) +
                                   " calibrated, " + std::to_string(calibration_late) + " late"
                             : std::string("the candidate does not calibrate");
    Verdict v = calibration_late > 0       ? Verdict::kFail
                : calibrated < calibrating ? Verdict::kPending
                                           : Verdict::kPass;
    gates.push_back(gate("calibration", v, static_cast<double>(calibrated),
                         static_cast<double>(calibrating), std::move(detail)));
  }
  // latency
  {
    std::string detail = latency_seen ? fmt::format("worst {:.3f} ms against a budget of {:.3f} ms",
                                                    worst_latency, worst_latency_budget)
                                      : std::string("no latency reported yet");
    if (latency_over) detail += " (" + latency_device + ")";
    const Verdict v = latency_over ? Verdict::kFail : Verdict::kPass;
    gates.push_back(gate("latency", v, worst_latency, worst_latency_budget, std::move(detail)));
  }
  // arena
  {
    std::string detail = worst_arena == 0 ? std::string("no arena use reported yet")
                                          : std::to_string(worst_arena) + " of " +
                                                std::to_string(worst_arena_budget) + " bytes";
    if (arena_over) detail += " (" + arena_device + ")";
    gates.push_back(gate("arena", arena_over ? Verdict::kFail : Verdict::kPass,
                         static_cast<double>(worst_arena), static_cast<double>(worst_arena_budget),
                         std::move(detail)));
  }
  // anomaly-rate: the candidate active against the same devices before; a shadow against
  // the active model on the same windows.
  {
    GateResult active =
        active_after.windows == 0 && active_before.windows == 0
            ? gate("anomaly-rate", Verdict::kPass, 0.0, 0.0,
                   "no device runs the candidate as its active model yet")
            : rate_gate("anomaly-rate", g, active_after.anomalies, active_after.windows,
                        active_before.anomalies, active_before.windows, "previous model");
    if (plan.shadow && shadowing > 0) {
      GateResult in_shadow =
          rate_gate("anomaly-rate", g, shadow.shadow_anomalies, shadow.compared,
                    shadow.active_anomalies, shadow.compared, "active model, same windows");
      in_shadow.detail = "shadow: " + in_shadow.detail;
      // The stricter of the two judges (fail, then pending, then pass).
      const auto rank = [](Verdict v) {
        return v == Verdict::kPass ? 0 : v == Verdict::kPending ? 1 : 2;
      };
      if (rank(in_shadow.verdict) > rank(active.verdict) ||
          (rank(in_shadow.verdict) == rank(active.verdict) && active_after.windows == 0)) {
        active = std::move(in_shadow);
      }
    }
    gates.push_back(std::move(active));
  }
  // anomaly-control: the candidate against the devices not yet updated, same period
  if (active_after.windows > 0 || !plan.shadow) {
    gates.push_back(active_after.windows == 0
                        ? gate("anomaly-control", Verdict::kPass, 0.0, 0.0,
                               "no device runs the candidate as its active model yet")
                        : rate_gate("anomaly-control", g, active_after.anomalies,
                                    active_after.windows, seen.control.anomalies,
                                    seen.control.windows, "devices not yet updated"));
  }
  // shadow-agreement
  if (plan.shadow) {
    const double value = rate(shadow.agreed, shadow.compared);
    std::string detail = std::to_string(shadow.agreed) + " of " + std::to_string(shadow.compared) +
                         " windows agree over " + std::to_string(shadowing) + " devices in shadow";
    Verdict v = Verdict::kPass;
    if (shadowing == 0) {
      detail = "no device in shadow";
    } else if (shadow.compared < g.min_windows) {
      v = Verdict::kPending;
      detail += " (too few windows yet)";
    } else if (value < g.min_shadow_agreement) {
      v = Verdict::kFail;
    }
    gates.push_back(gate("shadow-agreement", v, value, g.min_shadow_agreement, std::move(detail)));
  }
  return gates;
}

// ---- the step ----

Result<StepResult> step(const Plan& plan, const State& state, const Observations& seen,
                        std::int64_t now_ms, Command command) {
  if (plan.stages.empty() || seen.devices.size() != state.devices.size()) {
    return Error::kInvalidValue;
  }
  StepResult out;
  out.next = state;
  State& next = out.next;
  const auto note = [&](const char* kind, std::string detail) {
    out.event = kind;
    out.event_detail = std::move(detail);
    out.changed = true;
  };
  const auto act = [&](ActionKind kind, std::size_t i, DeviceStep step_to) {
    out.actions.push_back(Action{kind, i});
    DeviceState& d = next.devices[i];
    if (step_to != d.step) out.changed = true;
    d.step = step_to;
    if (kind == ActionKind::kPromote || kind == ActionKind::kDiscard ||
        kind == ActionKind::kRevert) {
      d.decided_ms = now_ms;
      out.changed = true;
    }
  };

  switch (command) {
    case Command::kNone:
      break;
    case Command::kPause:
      if (next.phase != Phase::kRunning && next.phase != Phase::kPaused) {
        return Error::kInvalidState;
      }
      if (next.phase == Phase::kRunning) {
        next.phase = Phase::kPaused;
        note("rollout-paused", "paused by the operator");
      }
      break;
    case Command::kResume:
      if (next.phase != Phase::kRunning && next.phase != Phase::kPaused) {
        return Error::kInvalidState;
      }
      if (next.phase == Phase::kPaused) {
        next.phase = Phase::kRunning;
        note("rollout-resumed", "resumed by the operator");
      }
      break;
    case Command::kAbort:
      if (next.phase == Phase::kCompleted) return Error::kInvalidState;
      if (next.phase != Phase::kAborted) {
        next.phase = Phase::kAborted;
        note("rollout-aborted", "aborted by the operator: nothing more is released");
      }
      break;
  }

  // Decisions that took effect stop being sent; a revert or discard that took effect gives
  // the device its previous manifest back.
  for (std::size_t i = 0; i < next.devices.size(); ++i) {
    const Install install = seen.devices[i].install;
    switch (next.devices[i].step) {
      case DeviceStep::kPromoting:
        if (runs_active(install)) {
          act(ActionKind::kWithdraw, i, DeviceStep::kPromoted);
        } else if (install == Install::kFailed) {
          act(ActionKind::kWithdraw, i, DeviceStep::kReleased);
        }
        break;
      case DeviceStep::kDiscarding:
      case DeviceStep::kReverting:
        if (install == Install::kDiscarded || install == Install::kRolledBack ||
            install == Install::kFailed) {
          act(ActionKind::kWithdraw, i, DeviceStep::kRestored);
          out.actions.push_back(Action{ActionKind::kRestore, i});
        }
        break;
      default:
        break;
    }
  }

  if (next.phase != Phase::kRunning && next.phase != Phase::kPaused) return out;

  out.gates = evaluate(plan, next, seen, now_ms);
  const auto failed = std::find_if(out.gates.begin(), out.gates.end(),
                                   [](const GateResult& r) { return r.verdict == Verdict::kFail; });
  if (failed != out.gates.end()) {
    next.phase = Phase::kHalted;
    next.halted_gate = failed->name;
    next.halt_detail = failed->detail;
    std::string detail = "gate " + failed->name + " failed: " + failed->detail;
    if (plan.auto_revert) {
      std::size_t sent_back = 0;
      for (std::size_t i = 0; i < next.devices.size(); ++i) {
        const DeviceStep s = next.devices[i].step;
        if (s != DeviceStep::kReleased && s != DeviceStep::kPromoting &&
            s != DeviceStep::kPromoted) {
          continue;
        }
        ++sent_back;
        const Install install = seen.devices[i].install;
        if (runs_active(install)) {
          act(ActionKind::kRevert, i, DeviceStep::kReverting);
        } else if (install == Install::kShadowing) {
          act(ActionKind::kDiscard, i, DeviceStep::kDiscarding);
        } else {
          act(ActionKind::kRestore, i, DeviceStep::kRestored);
        }
      }
      detail += "; sending " + std::to_string(sent_back) + " devices back";
    }
    note("rollout-halted", std::move(detail));
    return out;
  }
  if (next.phase != Phase::kRunning) return out;

  const std::size_t total = next.devices.size();
  const auto release_stage = [&](std::size_t stage) {
    const std::size_t from = stage == 0 ? 0 : stage_end(plan.stages, stage - 1, total);
    const std::size_t to = stage_end(plan.stages, stage, total);
    for (std::size_t i = from; i < to; ++i) {
      act(ActionKind::kRelease, i, DeviceStep::kReleased);
      next.devices[i].released_ms = now_ms;
    }
    next.stage = static_cast<std::int32_t>(stage);
    next.stage_released_ms = now_ms;
    note("rollout-stage", "stage " + std::to_string(stage + 1) + " of " +
                              std::to_string(plan.stages.size()) +
                              " released: " + std::to_string(to - from) + " devices, " +
                              std::to_string(to) + " of " + std::to_string(total) + " in all");
  };

  if (next.stage < 0) {
    if (total == 0) {
      next.phase = Phase::kCompleted;
      note("rollout-completed", "no devices to update");
      return out;
    }
    release_stage(0);
    return out;
  }
  const bool all_pass = std::all_of(out.gates.begin(), out.gates.end(), [](const GateResult& r) {
    return r.verdict == Verdict::kPass;
  });
  if (!all_pass || now_ms < next.stage_released_ms + plan.soak_ms) return out;

  // The stage held for its soak: promote its shadows, then release the next one.
  std::size_t promoted = 0;
  if (plan.shadow) {
    for (std::size_t i = 0; i < total; ++i) {
      if (next.devices[i].step == DeviceStep::kReleased &&
          seen.devices[i].install == Install::kShadowing) {
        act(ActionKind::kPromote, i, DeviceStep::kPromoting);
        ++promoted;
      }
    }
  }
  const auto stage = static_cast<std::size_t>(next.stage);
  if (stage + 1 < plan.stages.size() && stage_end(plan.stages, stage, total) < total) {
    release_stage(stage + 1);
    if (promoted > 0) out.event_detail += "; " + std::to_string(promoted) + " shadows promoted";
    return out;
  }
  if (promoted > 0) {
    note("rollout-promoted", std::to_string(promoted) + " shadows of the last stage promoted");
    return out;
  }
  // Every device released; the gates pass, so every one settled: done.
  const bool waiting_on_promotion =
      std::any_of(next.devices.begin(), next.devices.end(),
                  [](const DeviceState& d) { return d.step == DeviceStep::kPromoting; });
  if (!waiting_on_promotion) {
    next.phase = Phase::kCompleted;
    note("rollout-completed", "every stage released and settled");
  }
  return out;
}

}  // namespace spindle::gateway::rollout
