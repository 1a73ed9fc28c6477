// Fleet::Engine: the run loop and its phases (registration, telemetry, drain).
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "fleet_engine_private.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::fleet {

// ---- the loop ----

void Fleet::Engine::expire(Clock::time_point now) {
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    const std::uint64_t token = deadlines_.front().second;
    deadlines_.pop_front();
    const auto it = pending_.find(token);
    if (it == pending_.end() || it->second.answered) continue;
    const Pending pending = it->second;
    failed(token, pending, "timeout", true, now);
  }
}

void Fleet::Engine::fail_all_outstanding(Clock::time_point now) {
  for (Device& d : devices_) {
    const auto it = pending_.find(d.outstanding);
    if (d.outstanding == 0 || it == pending_.end()) continue;
    const Pending pending = it->second;
    failed(d.outstanding, pending, "timeout", true, now);
  }
}

void Fleet::Engine::end_registration(Clock::time_point now) {
  // With every device settled the phase took until the last one did.
  report_.registration_seconds =
      seconds_between(start_, settled_ == devices_.size() ? last_settled_ : now);
  for (Device& d : devices_) {
    if (d.state == DeviceState::kWaiting) device_failed(d, "not-started", now);
  }
  // Registrations still unanswered at the deadline time out (their late answers are
  // ignored); answered ones of registered devices keep going.
  for (Device& d : devices_) {
    if (d.state != DeviceState::kRegistering) continue;
    const auto it = pending_.find(d.outstanding);
    if (d.outstanding != 0 && it != pending_.end()) {
      const Pending pending = it->second;
      failed(d.outstanding, pending, "timeout", true, now);
    } else {
      device_failed(d, "timeout", now);
    }
  }
  if (report_.registered > 0 && config_.duration.count() > 0) {
    phase_ = Phase::kTelemetry;
    telemetry_start_ = now;
    telemetry_end_ = now + config_.duration;
    telemetry_pacer_.start(now);
  } else {
    phase_ = Phase::kDrain;
    telemetry_start_ = telemetry_end_ = now;
    drain_deadline_ = now + config_.request_timeout;
  }
}

void Fleet::Engine::run_follow_ups(Clock::time_point now) {
  while (!follow_ups_.empty() && can_send()) {
    Device& d = devices_[follow_ups_.front()];
    follow_ups_.pop_front();
    if (d.state != DeviceState::kRegistered || d.outstanding != 0) continue;
    if (d.observe_due) {
      d.observe_due = false;
      send_observe(d, now);
    } else if (d.refresh_due) {
      d.refresh_due = false;
      send_refresh(d, now);
    } else {
      make_ready(d);
    }
  }
}

void Fleet::Engine::run_refresh_timers(Clock::time_point now) {
  while (!refreshes_.empty() && refreshes_.top().first <= now) {
    Device& d = devices_[refreshes_.top().second];
    refreshes_.pop();
    if (d.state != DeviceState::kRegistered) continue;
    d.refresh_due = true;
    if (d.outstanding == 0) follow_ups_.push_back(d.index);
  }
}

void Fleet::Engine::run_telemetry(Clock::time_point now) {
  while (can_send() && telemetry_pacer_.ready(now)) {
    // Skip devices that became busy (a refresh) after they were queued.
    while (!ready_.empty() && devices_[ready_.front()].outstanding != 0) {
      devices_[ready_.front()].queued = false;
      ready_.pop_front();
    }
    if (ready_.empty()) return;
    Device& d = devices_[ready_.front()];
    ready_.pop_front();
    d.queued = false;
    telemetry_pacer_.take(now);
    send_telemetry(d, now);
  }
}

Clock::time_point Fleet::Engine::next_wake(Clock::time_point now) const {
  Clock::time_point wake = now + kMaxWait;
  const auto consider = [&wake](Clock::time_point t) { wake = std::min(wake, t); };
  if (!deadlines_.empty()) consider(deadlines_.front().first);
  if (!refreshes_.empty()) consider(refreshes_.top().first);
  if (!follow_ups_.empty() && can_send()) consider(now);
  switch (phase_) {
    case Phase::kRegistration:
      consider(register_deadline_);
      if (started_ < devices_.size() && can_send()) consider(connect_pacer_.next());
      break;
    case Phase::kTelemetry:
      consider(telemetry_end_);
      if (!ready_.empty() && can_send()) consider(telemetry_pacer_.next());
      break;
    case Phase::kDrain:
      consider(drain_deadline_);
      break;
    case Phase::kDone:
      break;
  }
  return wake;
}

void Fleet::Engine::poll_io(Clock::time_point wake) {
  const auto wait =
      std::max<std::int64_t>(0, std::chrono::ceil<Millis>(wake - Clock::now()).count());
  if (coap_fd_ < 0) {  // libcoap without epoll
    coap_io_process(context_, wait == 0 ? COAP_IO_NO_WAIT : static_cast<std::uint32_t>(wait));
    return;
  }
  const int count = epoll_wait(coap_fd_, events_.data(), static_cast<int>(events_.size()),
                               static_cast<int>(wait));
  const Clock::time_point now = Clock::now();
  if (count > 0) {
    // Reads, dispatches to the callbacks, then runs libcoap's timers once.
    coap_io_do_epoll(context_, events_.data(), static_cast<std::size_t>(count));
    last_sweep_ = now;
  } else if (now - last_sweep_ >= kTimerSweep) {
    coap_tick_t ticks = 0;
    coap_ticks(&ticks);
    coap_io_prepare_epoll(context_, ticks);
    last_sweep_ = now;
  }
}

FleetReport Fleet::Engine::run(const volatile std::sig_atomic_t* stop) {
  report_ = FleetReport{};
  report_.devices = devices_.size();
  start_ = Clock::now();
  last_settled_ = start_;
  register_deadline_ = start_ + config_.register_timeout;
  const Clock::time_point hard_deadline =
      register_deadline_ + config_.duration + config_.request_timeout + kHardDeadlineMargin;
  connect_pacer_.start(start_);
  phase_ = Phase::kRegistration;

  for (;;) {  // ends by the breaks below; the hard deadline bounds it
    const Clock::time_point now = Clock::now();
    expire(now);
    if ((stop != nullptr && *stop != 0) || now >= hard_deadline) {
      report_.interrupted = stop != nullptr && *stop != 0;
      report_.hit_hard_deadline = !report_.interrupted;
      if (phase_ == Phase::kRegistration) end_registration(now);
      if (phase_ == Phase::kTelemetry) telemetry_end_ = now;
      break;
    }
    switch (phase_) {
      case Phase::kRegistration:
        while (started_ < devices_.size() && can_send() && connect_pacer_.ready(now)) {
          connect_pacer_.take(now);
          start_registration(devices_[started_], now);
        }
        if (settled_ == devices_.size() || now >= register_deadline_) end_registration(now);
        break;
      case Phase::kTelemetry:
        if (now >= telemetry_end_) {
          phase_ = Phase::kDrain;
          drain_deadline_ = now + config_.request_timeout;
        }
        break;
      case Phase::kDrain:
      case Phase::kDone:
        break;
    }
    // Checked after the switch so a phase that just ended into the drain can end it too.
    if (phase_ == Phase::kDrain && (in_flight_ == 0 || now >= drain_deadline_)) break;
    run_refresh_timers(now);
    if (phase_ != Phase::kDrain) run_follow_ups(now);
    if (phase_ == Phase::kTelemetry) run_telemetry(now);

    poll_io(next_wake(now));
  }
  const Clock::time_point end = Clock::now();
  fail_all_outstanding(end);
  phase_ = Phase::kDone;
  report_.telemetry_seconds = seconds_between(telemetry_start_, telemetry_end_);
  report_.drain_seconds = telemetry_end_ < end ? seconds_between(telemetry_end_, end) : 0.0;
  if (telemetry_sent_ && last_telemetry_answer_ > first_telemetry_send_) {
    report_.telemetry_active_seconds =
        seconds_between(first_telemetry_send_, last_telemetry_answer_);
  }
  return report_;
}

}  // namespace spindle::fleet
