// firmware/src/app/uplink_schedule: the network thread's schedule. A pass registers first
// and then runs delivery, telemetry and capture in that order, ending at the first
// failure; a refresh comes at three quarters of the lifetime; failures back off
// exponentially up to the cap and a success resets it; a telemetry backlog is drained
// without rests; a gateway that forgot the node gets a new registration; a draining node
// finishes when everything is sent, or gives up at its deadline.
#include "spindle/app/uplink_schedule.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace spindle::app {
namespace {

using Kind = UplinkAction::Kind;

UplinkFacts at(std::int64_t now_ms, bool sampling_done = false, bool all_sent = false) {
  return UplinkFacts{now_ms, sampling_done, all_sent};
}

// Runs one pass from `now_ms`, answering each task from `outcomes` (kDone when it runs
// out), and returns the tasks in the order they were asked for.
std::vector<UplinkTask> run_pass(UplinkSchedule& schedule, std::int64_t now_ms,
                                 std::vector<UplinkOutcome> outcomes = {}) {
  std::vector<UplinkTask> tasks;
  for (int guard = 0; guard < 8; ++guard) {
    const UplinkAction action = schedule.next(at(now_ms));
    if (action.kind != Kind::kRun) break;
    tasks.push_back(action.task);
    const UplinkOutcome outcome =
        tasks.size() <= outcomes.size() ? outcomes[tasks.size() - 1] : UplinkOutcome::kDone;
    schedule.on_result(action.task, outcome, now_ms);
    if (outcome == UplinkOutcome::kFailed || outcome == UplinkOutcome::kForgotten) break;
    if (action.task == UplinkTask::kCapture) break;
  }
  return tasks;
}

const std::vector<UplinkTask> kFullPass = {UplinkTask::kRegister, UplinkTask::kDelivery,
                                           UplinkTask::kTelemetry, UplinkTask::kCapture};
const std::vector<UplinkTask> kPassWithoutRegistration = {
    UplinkTask::kDelivery, UplinkTask::kTelemetry, UplinkTask::kCapture};

TEST(UplinkSchedule, TheFirstPassRegistersThenRunsDeliveryTelemetryAndCaptureInOrder) {
  UplinkSchedule schedule({});
  EXPECT_FALSE(schedule.registered());
  EXPECT_EQ(run_pass(schedule, 0), kFullPass);
  EXPECT_TRUE(schedule.registered());
}

TEST(UplinkSchedule, ASuccessfulPassIsFollowedByAShortRestThenAPassWithoutRegistration) {
  UplinkSchedule schedule({});
  run_pass(schedule, 0);
  const UplinkAction rest = schedule.next(at(10));
  EXPECT_EQ(rest.kind, Kind::kWait);
  EXPECT_EQ(rest.wait_ms, UplinkSchedule::kMinWaitMs);
  EXPECT_EQ(run_pass(schedule, 60), kPassWithoutRegistration);
}

TEST(UplinkSchedule, RefreshesAtThreeQuartersOfTheLifetime) {
  UplinkScheduleConfig config;
  config.lifetime_s = 100;
  UplinkSchedule schedule(config);
  run_pass(schedule, 1000);
  (void)schedule.next(at(1000));  // the rest
  EXPECT_EQ(run_pass(schedule, 1000 + 74999), kPassWithoutRegistration);
  (void)schedule.next(at(1000 + 74999));
  EXPECT_EQ(run_pass(schedule, 1000 + 75000), kFullPass);
}

TEST(UplinkSchedule, AFailureEndsThePassAndBacksOffExponentiallyUpToTheCap) {
  UplinkScheduleConfig config;
  config.initial_backoff_ms = 1000;
  config.max_backoff_ms = 8000;
  UplinkSchedule schedule(config);
  std::int64_t now = 0;
  const std::vector<std::int64_t> expected_gaps = {1000, 2000, 4000, 8000, 8000};
  for (const std::int64_t gap : expected_gaps) {
    const auto tasks = run_pass(schedule, now, {UplinkOutcome::kFailed});
    ASSERT_EQ(tasks.size(), 1U);
    EXPECT_EQ(tasks[0], UplinkTask::kRegister);
    // Nothing runs before the gap has passed, counted from the failure.
    const UplinkAction early = schedule.next(at(now + gap - 1));
    EXPECT_EQ(early.kind, Kind::kWait);
    EXPECT_EQ(early.wait_ms, UplinkSchedule::kMinWaitMs);
    now += gap;
  }
  EXPECT_FALSE(schedule.online());
}

TEST(UplinkSchedule, WaitsAreBoundedSoNotificationsAndNewReadingsAreTakenMeanwhile) {
  UplinkScheduleConfig config;
  config.initial_backoff_ms = 20000;
  UplinkSchedule schedule(config);
  run_pass(schedule, 0, {UplinkOutcome::kFailed});
  EXPECT_EQ(schedule.next(at(1)).wait_ms, UplinkSchedule::kMaxWaitMs);
  EXPECT_EQ(schedule.next(at(19800)).wait_ms, 200);
}

TEST(UplinkSchedule, ASuccessfulPassResetsTheBackOffAndReportsTheLinkUpOnce) {
  UplinkScheduleConfig config;
  config.initial_backoff_ms = 1000;
  UplinkSchedule schedule(config);
  run_pass(schedule, 0, {UplinkOutcome::kFailed});
  run_pass(schedule, 1000, {UplinkOutcome::kFailed});
  EXPECT_EQ(schedule.backoff_ms(), 4000);
  std::vector<LinkChange> changes;
  std::int64_t now = 3000;
  for (int guard = 0; guard < 8; ++guard) {
    const UplinkAction action = schedule.next(at(now));
    if (action.kind != Kind::kRun) break;
    changes.push_back(schedule.on_result(action.task, UplinkOutcome::kDone, now));
  }
  ASSERT_EQ(changes.size(), 4U);
  EXPECT_EQ(changes.back(), LinkChange::kUp);
  EXPECT_EQ(changes[0], LinkChange::kNone);
  EXPECT_EQ(schedule.backoff_ms(), 1000);
  EXPECT_TRUE(schedule.online());
}

TEST(UplinkSchedule, OnlyTheFirstFailureReportsTheLinkDown) {
  UplinkSchedule schedule({});
  ASSERT_EQ(schedule.next(at(0)).task, UplinkTask::kRegister);
  EXPECT_EQ(schedule.on_result(UplinkTask::kRegister, UplinkOutcome::kFailed, 0),
            LinkChange::kDown);
  ASSERT_EQ(schedule.next(at(5000)).kind, Kind::kRun);
  EXPECT_EQ(schedule.on_result(UplinkTask::kRegister, UplinkOutcome::kFailed, 5000),
            LinkChange::kNone);
}

TEST(UplinkSchedule, AFailedDeliveryStopsThePassBeforeTelemetry) {
  UplinkSchedule schedule({});
  const auto tasks = run_pass(schedule, 0, {UplinkOutcome::kDone, UplinkOutcome::kFailed});
  EXPECT_EQ(tasks, (std::vector<UplinkTask>{UplinkTask::kRegister, UplinkTask::kDelivery}));
  // Still registered: the next pass does not register again.
  EXPECT_TRUE(schedule.registered());
  EXPECT_EQ(run_pass(schedule, 1000), kPassWithoutRegistration);
}

TEST(UplinkSchedule, ATelemetryBacklogIsDrainedPassAfterPassWithoutRests) {
  UplinkSchedule schedule({});
  run_pass(schedule, 0, {UplinkOutcome::kDone, UplinkOutcome::kDone, UplinkOutcome::kMore});
  // No rest: the next pass starts at once.
  const UplinkAction next = schedule.next(at(0));
  ASSERT_EQ(next.kind, Kind::kRun);
  EXPECT_EQ(next.task, UplinkTask::kDelivery);
  schedule.on_result(next.task, UplinkOutcome::kDone, 0);
  EXPECT_EQ(schedule.next(at(0)).task, UplinkTask::kTelemetry);
  schedule.on_result(UplinkTask::kTelemetry, UplinkOutcome::kDone, 0);
  EXPECT_EQ(schedule.next(at(0)).task, UplinkTask::kCapture);
  schedule.on_result(UplinkTask::kCapture, UplinkOutcome::kDone, 0);
  // Backlog gone: a rest again.
  EXPECT_EQ(schedule.next(at(0)).kind, Kind::kWait);
}

TEST(UplinkSchedule, AGatewayThatForgotTheNodeGetsANewRegistrationOnTheNextPass) {
  UplinkSchedule schedule({});
  run_pass(schedule, 0);
  (void)schedule.next(at(0));
  const auto tasks = run_pass(schedule, 100, {UplinkOutcome::kDone, UplinkOutcome::kForgotten});
  EXPECT_EQ(tasks, (std::vector<UplinkTask>{UplinkTask::kDelivery, UplinkTask::kTelemetry}));
  EXPECT_FALSE(schedule.registered());
  EXPECT_EQ(schedule.next(at(100 + 999)).kind, Kind::kWait);  // backed off first
  EXPECT_EQ(run_pass(schedule, 100 + 1000), kFullPass);
}

TEST(UplinkSchedule, ARefusedRegistrationIsTriedAgainAsANewRegistration) {
  UplinkSchedule schedule({});
  run_pass(schedule, 0, {UplinkOutcome::kForgotten});
  EXPECT_FALSE(schedule.registered());
  EXPECT_EQ(run_pass(schedule, 1000), kFullPass);
}

TEST(UplinkSchedule, ADrainingNodeFinishesOnceEverythingIsSent) {
  UplinkScheduleConfig config;
  config.exit_when_sent = true;
  config.drain_timeout_ms = 10000;
  UplinkSchedule schedule(config);
  run_pass(schedule, 0);
  EXPECT_EQ(schedule.next(at(0, true, false)).kind, Kind::kWait);
  run_pass(schedule, 100);
  EXPECT_EQ(schedule.next(at(100, true, true)).kind, Kind::kFinished);
}

TEST(UplinkSchedule, ADrainingNodeGivesUpAtItsDeadlineCountedFromTheEndOfSampling) {
  UplinkScheduleConfig config;
  config.exit_when_sent = true;
  config.drain_timeout_ms = 10000;
  UplinkSchedule schedule(config);
  // Sampling still runs: no deadline however long the gateway is away.
  run_pass(schedule, 0, {UplinkOutcome::kFailed});
  EXPECT_EQ(schedule.next(at(500)).kind, Kind::kWait);
  // Sampling ends at 50 s; the deadline is set at the first look after that.
  EXPECT_EQ(schedule.next(at(50000, true)).kind, Kind::kRun);
  schedule.on_result(UplinkTask::kRegister, UplinkOutcome::kFailed, 50000);
  EXPECT_EQ(schedule.next(at(50001, true)).kind, Kind::kWait);  // the deadline is set here
  EXPECT_EQ(schedule.next(at(60001, true)).kind, Kind::kRun);   // the back-off is over
  schedule.on_result(UplinkTask::kRegister, UplinkOutcome::kFailed, 60001);
  EXPECT_EQ(schedule.next(at(60002, true)).kind, Kind::kDrainTimeout);
}

TEST(UplinkSchedule, WithoutExitWhenSentTheNodeNeverFinishes) {
  UplinkSchedule schedule({});
  run_pass(schedule, 0);
  EXPECT_EQ(schedule.next(at(100000000, true, true)).kind, Kind::kWait);
}

}  // namespace
}  // namespace spindle::app
