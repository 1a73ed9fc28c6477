#include "spindle/app/uplink_schedule.hpp"

#include <algorithm>

namespace spindle::app {
namespace {

UplinkAction run(UplinkTask task) {
  UplinkAction action;
  action.kind = UplinkAction::Kind::kRun;
  action.task = task;
  return action;
}

UplinkAction final_action(UplinkAction::Kind kind) {
  UplinkAction action;
  action.kind = kind;
  return action;
}

}  // namespace

UplinkAction UplinkSchedule::next(const UplinkFacts& facts) {
  if (in_pass_) return run(next_task_);
  if (!rest_ && facts.now_ms >= next_attempt_ms_) {
    in_pass_ = true;
    more_ = false;
    next_task_ = registration_due(facts.now_ms) ? UplinkTask::kRegister : UplinkTask::kDelivery;
    return run(next_task_);
  }
  rest_ = false;
  if (config_.exit_when_sent && facts.sampling_done) {
    // The deadline runs from the first time the node is seen with nothing left to sample.
    if (drain_deadline_ms_ < 0) drain_deadline_ms_ = facts.now_ms + config_.drain_timeout_ms;
    if (facts.all_sent) return final_action(UplinkAction::Kind::kFinished);
    if (facts.now_ms > drain_deadline_ms_) return final_action(UplinkAction::Kind::kDrainTimeout);
  }
  UplinkAction wait;
  wait.kind = UplinkAction::Kind::kWait;
  wait.wait_ms = std::clamp(next_attempt_ms_ - facts.now_ms, kMinWaitMs, kMaxWaitMs);
  return wait;
}

LinkChange UplinkSchedule::on_result(UplinkTask task, UplinkOutcome outcome, std::int64_t now_ms) {
  if (outcome == UplinkOutcome::kFailed || outcome == UplinkOutcome::kForgotten) {
    if (outcome == UplinkOutcome::kForgotten) registered_ = false;
    in_pass_ = false;
    rest_ = false;
    next_attempt_ms_ = now_ms + backoff_ms_;
    backoff_ms_ = std::min(backoff_ms_ * 2, config_.max_backoff_ms);
    const LinkChange change = online_ ? LinkChange::kDown : LinkChange::kNone;
    online_ = false;
    return change;
  }
  if (task == UplinkTask::kRegister) {
    registered_ = true;
    // At three quarters of the lifetime, so one lost refresh still leaves time.
    refresh_at_ms_ = now_ms + std::int64_t{config_.lifetime_s} * 750;
  }
  if (outcome == UplinkOutcome::kMore) more_ = true;
  switch (task) {
    case UplinkTask::kRegister:
      next_task_ = UplinkTask::kDelivery;
      return LinkChange::kNone;
    case UplinkTask::kDelivery:
      next_task_ = UplinkTask::kTelemetry;
      return LinkChange::kNone;
    case UplinkTask::kTelemetry:
      next_task_ = UplinkTask::kCapture;
      return LinkChange::kNone;
    case UplinkTask::kCapture:
      break;
  }
  in_pass_ = false;
  rest_ = !more_;  // keep draining the backlog
  backoff_ms_ = config_.initial_backoff_ms;
  const LinkChange change = online_ ? LinkChange::kNone : LinkChange::kUp;
  online_ = true;
  return change;
}

}  // namespace spindle::app
