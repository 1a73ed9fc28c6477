// Fleet::Engine: how requests end (answers, NACKs, session events) and what follows.
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

// ---- completion ----

void Fleet::Engine::handle_response(const coap_pdu_t* received) {
  const std::uint64_t token = token_of(received);
  const auto it = pending_.find(token);
  if (it == pending_.end()) {
    ++report_.late_responses;
    return;
  }
  if (it->second.answered) {
    ++report_.observe_responses;
    ++report_.observe_notifications;
    return;
  }
  answered(token, it->second, received, Clock::now());
}

void Fleet::Engine::answered(std::uint64_t token, Pending pending, const coap_pdu_t* received,
                             Clock::time_point now) {
  Device& d = devices_[pending.device];
  RequestStats& s = stats(pending.kind);
  const coap_pdu_code_t code = coap_pdu_get_code(received);
  const bool success = COAP_RESPONSE_CLASS(code) == 2;
  s.latency.record(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - pending.sent_at).count()));
  if (success) {
    ++s.acknowledged;
  } else {
    ++s.errors[code_text(code)];
  }
  bool keep = false;
  switch (pending.kind) {
    case RequestKind::kRegister: {
      std::string location = location_of(received);
      if (code == COAP_RESPONSE_CODE_CREATED && !location.empty()) {
        d.location = std::move(location);
        device_registered(d, now);
      } else {
        device_failed(d, success ? "no-location" : code_text(code), now);
      }
      break;
    }
    case RequestKind::kRefresh:
      schedule_refresh(d, now);
      break;
    case RequestKind::kObserve: {
      ++report_.observe_responses;
      // A 2.xx with Observe established an observation: its notifications follow on the
      // same token. Anything else (4.04: no deployment yet) ends the request.
      coap_opt_iterator_t it;
      keep = success && coap_check_option(received, COAP_OPTION_OBSERVE, &it) != nullptr;
      if (keep) d.observe_token = token;
      break;
    }
    case RequestKind::kTelemetry:
      last_telemetry_answer_ = now;
      break;
  }
  if (keep) {
    pending_[token].answered = true;
  } else {
    pending_.erase(token);
  }
  if (d.outstanding == token) request_done(d);
}

void Fleet::Engine::failed(std::uint64_t token, const Pending& pending, const std::string& reason,
                           bool timed_out, Clock::time_point now) {
  pending_.erase(token);
  RequestStats& s = stats(pending.kind);
  if (timed_out) {
    ++s.timed_out;
  } else {
    ++s.errors[reason];
  }
  Device& d = devices_[pending.device];
  if (pending.kind == RequestKind::kRegister) device_failed(d, reason, now);
  if (pending.kind == RequestKind::kRefresh) schedule_refresh(d, now);
  if (d.outstanding == token) request_done(d);
}

void Fleet::Engine::handle_nack(const coap_pdu_t* sent, coap_nack_reason_t reason) {
  if (sent == nullptr) return;
  const std::uint64_t token = token_of(sent);
  const auto it = pending_.find(token);
  if (it == pending_.end() || it->second.answered) return;
  const Pending pending = it->second;
  const Clock::time_point now = Clock::now();
  switch (reason) {
    case COAP_NACK_ICMP_ISSUE:
      // Not final: libcoap retransmits (the gateway may be restarting); the request
      // deadline decides.
      ++report_.icmp_errors;
      return;
    case COAP_NACK_TOO_MANY_RETRIES:
      failed(token, pending, "timeout", true, now);
      return;
    case COAP_NACK_RST:
      failed(token, pending, "reset", false, now);
      return;
    case COAP_NACK_TLS_FAILED:
      failed(token, pending, "dtls-failed", false, now);
      return;
    case COAP_NACK_NOT_DELIVERABLE:
      failed(token, pending, "not-deliverable", false, now);
      return;
  }
  failed(token, pending, "nack", false, now);
}

void Fleet::Engine::handle_event(coap_session_t* session, coap_event_t event) {
  auto* d = static_cast<Device*>(coap_session_get_app_data(session));
  if (d == nullptr) return;
  const char* reason = nullptr;
  switch (event) {
    case COAP_EVENT_DTLS_ERROR:
      reason = "dtls-error";
      break;
    case COAP_EVENT_DTLS_CLOSED:
      reason = "dtls-closed";
      break;
    case COAP_EVENT_SESSION_FAILED:
      reason = "session-failed";
      break;
    default:
      return;
  }
  // The session is gone; the device's next request opens a new one (outside this callback).
  d->session_broken = true;
  const Clock::time_point now = Clock::now();
  if (d->observe_token != 0) {
    pending_.erase(d->observe_token);
    d->observe_token = 0;
  }
  if (const auto it = pending_.find(d->outstanding); d->outstanding != 0 && it != pending_.end()) {
    const Pending pending = it->second;
    failed(d->outstanding, pending, reason, false, now);
  }
}

void Fleet::Engine::request_done(Device& d) {
  d.outstanding = 0;
  --in_flight_;
  if (d.state != DeviceState::kRegistered || phase_ == Phase::kDone) return;
  if (d.observe_due || d.refresh_due) {
    follow_ups_.push_back(d.index);
  } else {
    make_ready(d);
  }
}

void Fleet::Engine::device_registered(Device& d, Clock::time_point now) {
  d.state = DeviceState::kRegistered;
  ++report_.registered;
  ++settled_;
  last_settled_ = now;
  d.observe_due = config_.observe;
  schedule_refresh(d, now);
}

void Fleet::Engine::device_failed(Device& d, const std::string& reason, Clock::time_point now) {
  if (d.state == DeviceState::kFailed || d.state == DeviceState::kRegistered) return;
  d.state = DeviceState::kFailed;
  ++report_.failed;
  ++report_.failure_reasons[reason];
  ++settled_;
  last_settled_ = now;
}

void Fleet::Engine::schedule_refresh(Device& d, Clock::time_point now) {
  refreshes_.emplace(now + config_.refresh_interval, d.index);
}

void Fleet::Engine::make_ready(Device& d) {
  if (d.queued) return;
  d.queued = true;
  ready_.push_back(d.index);
}

}  // namespace spindle::fleet
