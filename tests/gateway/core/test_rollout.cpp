// The rollout state machine (gateway/core/rollout.hpp), driven step by step over explicit
// observations: stages, soak, every gate, halt and auto-revert, commands, promotion.
#include "spindle/gateway/rollout.hpp"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace spindle::gateway::rollout {
namespace {

constexpr std::int64_t kSoak = 60'000;

Plan plan_of(const char* stages, bool shadow = false, bool auto_revert = true) {
  std::string why;
  Plan plan;
  plan.stages = parse_stages(stages, &why).value();
  plan.soak_ms = kSoak;
  plan.shadow = shadow;
  plan.auto_revert = auto_revert;
  plan.gates.min_windows = 100;
  return plan;
}

State devices(std::size_t n) {
  State s;
  for (std::size_t i = 0; i < n; ++i)
    s.devices.push_back({"d" + std::to_string(i)});
  return s;
}

// Every released device healthy: confirmed, calibrated, enough quiet windows.
Observations healthy(const State& s, bool shadow = false) {
  Observations seen;
  seen.devices.resize(s.devices.size());
  for (std::size_t i = 0; i < s.devices.size(); ++i) {
    DeviceObservation& o = seen.devices[i];
    o.latency_budget_ms = 320;
    o.arena_budget = 65536;
    if (s.devices[i].step == DeviceStep::kWaiting) continue;
    const bool in_shadow = shadow && s.devices[i].step == DeviceStep::kReleased;
    o.install = in_shadow ? Install::kShadowing : Install::kConfirmed;
    o.after = {500, 5, 2.0, 30000, 0};
    o.before = {500, 5, 2.0, 30000, 0};
    if (in_shadow) o.shadow = ShadowStats{500, 500, 5, 5, 3.0, 30000, true};
  }
  seen.control = {1000, 10, 0, 0, 0};
  return seen;
}

StepResult run(const Plan& plan, const State& s, const Observations& seen, std::int64_t now,
               Command command = Command::kNone) {
  auto result = step(plan, s, seen, now, command);
  EXPECT_TRUE(result.ok()) << result.status().name();
  return std::move(result).value();
}

std::size_t count(const std::vector<Action>& actions, ActionKind kind) {
  return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(),
                                                [&](const Action& a) { return a.kind == kind; }));
}

const GateResult& gate(const StepResult& r, const std::string& name) {
  const auto it = std::find_if(r.gates.begin(), r.gates.end(),
                               [&](const GateResult& g) { return g.name == name; });
  EXPECT_NE(it, r.gates.end()) << name;
  return *it;
}

TEST(RolloutStages, ParseCumulativeCountsAndPercentagesAndAddTheLastStage) {
  std::string why;
  const auto stages = parse_stages("2, 50%", &why);
  ASSERT_TRUE(stages.ok()) << why;
  ASSERT_EQ(stages->size(), 3U);
  EXPECT_EQ(stages_text(*stages), "2,50%,100%");
  EXPECT_EQ(stage_end(*stages, 0, 12), 2U);
  EXPECT_EQ(stage_end(*stages, 1, 12), 6U);
  EXPECT_EQ(stage_end(*stages, 2, 12), 12U);
  // A percentage that rounds below the previous stage still releases one more device.
  const auto small = parse_stages("1,10%,100%", &why).value();
  EXPECT_EQ(stage_end(small, 1, 4), 2U);
}

TEST(RolloutStages, RefuseStagesThatDoNotRiseOrDoNotParse) {
  std::string why;
  EXPECT_FALSE(parse_stages("5,3", &why).ok());
  EXPECT_NE(why.find("rise"), std::string::npos);
  EXPECT_FALSE(parse_stages("2,,100%", &why).ok());
  EXPECT_FALSE(parse_stages("150%", &why).ok());
  EXPECT_FALSE(parse_stages("abc", &why).ok());
  EXPECT_NE(why.find("\"abc\""), std::string::npos);
}

TEST(RolloutPlan, JsonRoundTripsAndRefusesUnknownKeysAndBadValues) {
  Plan plan = plan_of("2,50%", true, true);
  plan.gates.max_anomaly_ratio = 3;
  std::string why;
  const auto back = plan_from_json(plan_to_json(plan), &why);
  ASSERT_TRUE(back.ok()) << why;
  EXPECT_EQ(plan_to_json(*back), plan_to_json(plan));
  EXPECT_FALSE(plan_from_json(R"({"stages":"2","colour":1})", &why).ok());
  EXPECT_NE(why.find("colour"), std::string::npos);
  EXPECT_FALSE(plan_from_json(R"({"stages":"2","gates":{"min_shadow_agreement":1.5}})", &why).ok());
  EXPECT_NE(why.find("min_shadow_agreement"), std::string::npos);
  EXPECT_FALSE(plan_from_json(R"({"soak_s":3})", &why).ok());
}

TEST(Rollout, ReleasesTheCanaryFirstAndTheNextStageOnlyAfterTheSoakWithEveryGatePassing) {
  const Plan plan = plan_of("2,50%");
  State s = devices(8);
  auto r = run(plan, s, healthy(s), 1000);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 2U);
  EXPECT_EQ(r.next.stage, 0);
  EXPECT_EQ(r.event, "rollout-stage");
  s = r.next;

  // Installing: the confirm gate is pending, so the stage waits even past its soak.
  Observations seen = healthy(s);
  seen.devices[1].install = Install::kInProgress;
  r = run(plan, s, seen, 1000 + kSoak + 1);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(gate(r, "confirm").verdict, Verdict::kPending);

  // Healthy, but the soak is not over.
  r = run(plan, s, healthy(s), 1000 + kSoak - 1);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_FALSE(r.changed);

  r = run(plan, s, healthy(s), 1000 + kSoak);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 2U);  // up to 50 % of 8
  EXPECT_EQ(r.next.stage, 1);
  s = r.next;
  r = run(plan, s, healthy(s), 1000 + 2 * kSoak);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 4U);
  s = r.next;
  r = run(plan, s, healthy(s), 1000 + 3 * kSoak);
  EXPECT_TRUE(r.actions.empty());
  EXPECT_EQ(r.next.phase, Phase::kCompleted);
}

TEST(Rollout, AStageIsNeverReleasedTwice) {
  const Plan plan = plan_of("2");
  State s = devices(4);
  s = run(plan, s, healthy(s), 0).next;
  // The same state stepped again (a restart that re-reads it) releases nothing more.
  const auto again = run(plan, s, healthy(s), 10);
  EXPECT_EQ(count(again.actions, ActionKind::kRelease), 0U);
}

TEST(Rollout, AnInstallFailureHaltsAtOnceAndNoFurtherDeviceIsReleased) {
  const Plan plan = plan_of("2,100%", false, false);
  State s = devices(6);
  s = run(plan, s, healthy(s), 0).next;
  Observations seen = healthy(s);
  seen.devices[0].install = Install::kFailed;
  const auto r = run(plan, s, seen, kSoak * 10);
  EXPECT_EQ(r.next.phase, Phase::kHalted);
  EXPECT_EQ(r.next.halted_gate, "install-success");
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 0U);
  EXPECT_EQ(r.event, "rollout-halted");
  // Halted: nothing is released later either.
  const auto later = run(plan, r.next, healthy(r.next), kSoak * 20);
  EXPECT_TRUE(later.actions.empty());
  EXPECT_EQ(later.next.phase, Phase::kHalted);
}

TEST(Rollout, AnAnomalyRateAboveThePreviousModelsHaltsAndRevertsTheCanary) {
  const Plan plan = plan_of("2,100%");
  State s = devices(6);
  s = run(plan, s, healthy(s), 0).next;
  Observations seen = healthy(s);
  seen.devices[0].after = {500, 400, 2.0, 30000, 0};  // flags healthy windows
  const auto r = run(plan, s, seen, 1000);
  EXPECT_EQ(r.next.phase, Phase::kHalted);
  EXPECT_EQ(r.next.halted_gate, "anomaly-rate");
  EXPECT_EQ(count(r.actions, ActionKind::kRevert), 2U);
  EXPECT_EQ(r.next.devices[0].step, DeviceStep::kReverting);
  EXPECT_EQ(r.next.devices[2].step, DeviceStep::kWaiting);
  const GateResult& g = gate(r, "anomaly-rate");
  EXPECT_GT(g.value, g.threshold);

  // The node reports the rollback: the decision is withdrawn and the previous manifest
  // deployed again.
  Observations back = healthy(r.next);
  back.devices[0].install = Install::kRolledBack;
  back.devices[1].install = Install::kRolledBack;
  const auto done = run(plan, r.next, back, 2000);
  EXPECT_EQ(count(done.actions, ActionKind::kWithdraw), 2U);
  EXPECT_EQ(count(done.actions, ActionKind::kRestore), 2U);
  EXPECT_EQ(done.next.devices[0].step, DeviceStep::kRestored);
}

TEST(Rollout, TheRateGatesWaitForEnoughWindows) {
  const Plan plan = plan_of("2,100%");
  State s = devices(4);
  s = run(plan, s, healthy(s), 0).next;
  Observations seen = healthy(s);
  for (auto& o : seen.devices)
    o.after = {10, 10, 2.0, 1, 0};  // bad, but only 20 windows
  const auto r = run(plan, s, seen, kSoak);
  EXPECT_EQ(r.next.phase, Phase::kRunning);
  EXPECT_EQ(gate(r, "anomaly-rate").verdict, Verdict::kPending);
  EXPECT_TRUE(r.actions.empty());
}

TEST(Rollout, TheControlGroupJudgesTheCandidateToo) {
  const Plan plan = plan_of("2,100%");
  State s = devices(4);
  s = run(plan, s, healthy(s), 0).next;
  Observations seen = healthy(s);
  for (auto& o : seen.devices)
    o.before = {};  // no history under the previous model
  seen.devices[0].after = {500, 100, 2.0, 1, 0};
  seen.control = {1000, 0, 0, 0, 0};
  const auto r = run(plan, s, seen, 10);
  EXPECT_EQ(r.next.halted_gate, "anomaly-control");
}

TEST(Rollout, LateConfirmationRebootLoopsNodeRollbacksLatencyAndArenaEachHalt) {
  const Plan plan = plan_of("2,100%");
  const auto halted_by = [&](auto spoil, std::int64_t now) {
    State s = devices(4);
    s = run(plan, s, healthy(s), 0).next;
    Observations seen = healthy(s);
    spoil(seen.devices[1]);
    return run(plan, s, seen, now).next.halted_gate;
  };
  EXPECT_EQ(halted_by([](DeviceObservation& o) { o.install = Install::kInProgress; },
                      plan.gates.confirm_deadline_ms + 1),
            "confirm");
  EXPECT_EQ(halted_by([](DeviceObservation& o) { o.after.reboots = 3; }, 10), "reboots");
  EXPECT_EQ(halted_by([](DeviceObservation& o) { o.install = Install::kRolledBack; }, 10),
            "no-revert");
  EXPECT_EQ(halted_by([](DeviceObservation& o) { o.after.latency_p95_ms = 400; }, 10), "latency");
  EXPECT_EQ(halted_by([](DeviceObservation& o) { o.after.arena_max = 70000; }, 10), "arena");
  EXPECT_EQ(halted_by(
                [&](DeviceObservation& o) {
                  o.needs_calibration = true;
                  o.calibrated_ms = 0;
                },
                plan.gates.calibration_deadline_ms + 1),
            "calibration");
}

TEST(Rollout, AnInstallAwaitingActivationHoldsTheStageButIsNeitherFailedNorLate) {
  const Plan plan = plan_of("2,100%");
  State s = devices(4);
  s = run(plan, s, healthy(s), 0).next;
  Observations seen = healthy(s);
  seen.devices[1].install = Install::kAwaiting;  // verified, waiting for its window
  // Long past the confirm deadline: waiting for the window is the operator's choice.
  auto r = run(plan, s, seen, plan.gates.confirm_deadline_ms * 10);
  EXPECT_EQ(r.next.phase, Phase::kRunning);
  EXPECT_EQ(gate(r, "install-success").verdict, Verdict::kPass);
  EXPECT_EQ(gate(r, "confirm").verdict, Verdict::kPending);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 0U);  // not settled: the stage waits
  // Once it switched and confirmed, the next stage goes.
  r = run(plan, s, healthy(s), plan.gates.confirm_deadline_ms * 10 + 1);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 2U);
}

TEST(Rollout, PauseHoldsReleasesResumeGoesOnAndAbortStops) {
  const Plan plan = plan_of("1,100%");
  State s = devices(3);
  s = run(plan, s, healthy(s), 0).next;
  auto r = run(plan, s, healthy(s), 1, Command::kPause);
  EXPECT_EQ(r.next.phase, Phase::kPaused);
  EXPECT_EQ(r.event, "rollout-paused");
  s = r.next;
  r = run(plan, s, healthy(s), kSoak * 5);
  EXPECT_TRUE(r.actions.empty());  // soaked, but paused
  r = run(plan, s, healthy(s), kSoak * 5, Command::kResume);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 2U);
  s = r.next;
  r = run(plan, s, healthy(s), kSoak * 5 + 1, Command::kAbort);
  EXPECT_EQ(r.next.phase, Phase::kAborted);
  EXPECT_FALSE(step(plan, r.next, healthy(r.next), kSoak * 6, Command::kResume).ok());
}

TEST(Rollout, APausedRolloutStillHaltsOnAFailedGate) {
  const Plan plan = plan_of("1,100%");
  State s = devices(3);
  s = run(plan, s, healthy(s), 0).next;
  s = run(plan, s, healthy(s), 1, Command::kPause).next;
  Observations seen = healthy(s);
  seen.devices[0].install = Install::kFailed;
  EXPECT_EQ(run(plan, s, seen, 2).next.phase, Phase::kHalted);
}

TEST(RolloutShadow, PromotesEachStageAfterItsSoakAndReleasesTheNext) {
  const Plan plan = plan_of("1,100%", true);
  State s = devices(3);
  s = run(plan, s, healthy(s, true), 0).next;
  auto r = run(plan, s, healthy(s, true), kSoak);
  EXPECT_EQ(count(r.actions, ActionKind::kPromote), 1U);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 2U);
  EXPECT_EQ(r.next.devices[0].step, DeviceStep::kPromoting);
  s = r.next;
  // The canary reports the candidate active: its decision is withdrawn.
  Observations seen = healthy(s, true);
  seen.devices[0].install = Install::kActivated;
  r = run(plan, s, seen, kSoak + 10);
  EXPECT_EQ(count(r.actions, ActionKind::kWithdraw), 1U);
  EXPECT_EQ(r.next.devices[0].step, DeviceStep::kPromoted);
  s = r.next;
  // Confirmed; the last stage soaks and is promoted; then, once confirmed, completed.
  r = run(plan, s, healthy(s, true), 2 * kSoak + 10);
  EXPECT_EQ(count(r.actions, ActionKind::kPromote), 2U);
  EXPECT_EQ(r.next.phase, Phase::kRunning);
  s = r.next;
  Observations active = healthy(s, true);
  for (auto& o : active.devices)
    o.install = Install::kConfirmed;
  r = run(plan, s, active, 2 * kSoak + 20);
  EXPECT_EQ(count(r.actions, ActionKind::kWithdraw), 2U);
  s = r.next;
  r = run(plan, s, active, 2 * kSoak + 30);
  EXPECT_EQ(r.next.phase, Phase::kCompleted);
}

TEST(RolloutShadow, LowAgreementHaltsAndDiscardsTheShadows) {
  const Plan plan = plan_of("2,100%", true);
  State s = devices(5);
  s = run(plan, s, healthy(s, true), 0).next;
  Observations seen = healthy(s, true);
  // The shadow flags a third of the windows the active model passes.
  seen.devices[0].shadow = ShadowStats{300, 200, 0, 100, 3.0, 30000, true};
  seen.devices[1].shadow = ShadowStats{300, 200, 0, 100, 3.0, 30000, true};
  const auto r = run(plan, s, seen, 10);
  EXPECT_EQ(r.next.phase, Phase::kHalted);
  EXPECT_TRUE(r.next.halted_gate == "shadow-agreement" || r.next.halted_gate == "anomaly-rate")
      << r.next.halted_gate;
  EXPECT_EQ(count(r.actions, ActionKind::kDiscard), 2U);
  EXPECT_EQ(count(r.actions, ActionKind::kRelease), 0U);
  const GateResult& agreement = gate(r, "shadow-agreement");
  EXPECT_NEAR(agreement.value, 400.0 / 600.0, 1e-9);
}

TEST(RolloutShadow, AShadowThatHasNotStartedIsRestoredNotDiscarded) {
  const Plan plan = plan_of("2,100%", true);
  State s = devices(4);
  s = run(plan, s, healthy(s, true), 0).next;
  Observations seen = healthy(s, true);
  seen.devices[1].install = Install::kFailed;  // halts by install success
  const auto r = run(plan, s, seen, 10);
  EXPECT_EQ(count(r.actions, ActionKind::kDiscard), 1U);
  EXPECT_EQ(count(r.actions, ActionKind::kRestore), 1U);
  EXPECT_EQ(r.next.devices[1].step, DeviceStep::kRestored);
}

TEST(Rollout, RefusesObservationsThatDoNotMatchTheDevices) {
  const Plan plan = plan_of("1");
  const State s = devices(2);
  Observations seen;
  seen.devices.resize(1);
  EXPECT_EQ(step(plan, s, seen, 0).status(), Status(Error::kInvalidValue));
}

}  // namespace
}  // namespace spindle::gateway::rollout
