// Private to spindle::fleet: the engine behind Fleet (fleet.hpp), one libcoap client
// context driving every simulated device. Split by concern: fleet_engine.cpp (set-up and
// sending), fleet_completion.cpp (every request ends in exactly one completion path),
// fleet_loop.cpp (the phases: registration, telemetry, drain).
#pragma once

#include <coap3/coap.h>
#include <sys/epoll.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pacer_private.hpp"
#include "spindle/fleet/fleet.hpp"
#include "spindle/protocol/content_format.hpp"
#include "telemetry_pack_private.hpp"

namespace spindle::fleet {

inline constexpr std::size_t kTokenSize = 8;
inline constexpr std::size_t kMaxPathSegments = 8;
inline constexpr Clock::duration kMaxWait = std::chrono::milliseconds(100);
// Socket events handled per libcoap pass. coap_io_process() takes at most 10 and walks
// every session twice per call, which at 10k sessions costs more than the traffic; one
// walk per batch of this many events does not.
inline constexpr std::size_t kEventBatch = 512;
// libcoap arms its timerfd for retransmissions; this bounds the wait should it not.
inline constexpr Clock::duration kTimerSweep = std::chrono::milliseconds(50);
// The hard deadline's margin past the last request deadline: socket teardown, stragglers.
inline constexpr Clock::duration kHardDeadlineMargin = std::chrono::seconds(2);

inline std::uint64_t token_of(const coap_pdu_t* pdu) {
  const coap_bin_const_t token = coap_pdu_get_token(pdu);
  if (token.length != kTokenSize) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < kTokenSize; ++i)
    value = (value << 8) | token.s[i];
  return value;
}

inline std::string code_text(coap_pdu_code_t code) {
  char text[16];
  const unsigned value = static_cast<std::uint8_t>(code);
  std::snprintf(text, sizeof text, "%u.%02u", value >> 5, value & 31U);
  return text;
}

// The Location-Path options of an answer joined with '/' ("rd/17"); empty when none.
inline std::string location_of(const coap_pdu_t* pdu) {
  std::string location;
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, COAP_OPTION_LOCATION_PATH);
  coap_option_iterator_init(pdu, &it, &filter);
  while (const coap_opt_t* option = coap_option_next(&it)) {
    if (!location.empty()) location.push_back('/');
    location.append(reinterpret_cast<const char*>(coap_opt_value(option)), coap_opt_length(option));
  }
  return location;
}

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

inline double unix_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

enum class DeviceState : std::uint8_t { kWaiting, kRegistering, kRegistered, kFailed };

struct Device {
  DeviceSpec spec;
  std::uint32_t index = 0;
  coap_session_t* session = nullptr;
  bool session_broken = false;  // DTLS or session failure: the next request opens a new one
  DeviceState state = DeviceState::kWaiting;
  std::string location;  // "rd/17", from the registration's Location-Path
  std::uint64_t next_seq = 1;
  std::uint64_t outstanding = 0;    // token of the request in flight; 0: idle
  std::uint64_t observe_token = 0;  // the established observation, if any
  bool queued = false;              // in the ready queue
  bool observe_due = false;
  bool refresh_due = false;
  Clock::time_point started;  // "boot": the registration start
};

struct Pending {
  std::uint32_t device = 0;
  RequestKind kind = RequestKind::kTelemetry;
  Clock::time_point sent_at;
  bool answered = false;  // an observation after its first answer: notifications follow
};

// What one request puts on the wire besides its token.
struct RequestParts {
  coap_pdu_code_t method = COAP_REQUEST_CODE_POST;
  std::array<std::string_view, kMaxPathSegments> path{};
  std::size_t path_count = 0;
  std::array<std::string, 2> query{};
  std::size_t query_count = 0;
  int content_format = -1;
  std::span<const std::uint8_t> payload;
  bool observe = false;

  void add_path(std::string_view segments) {
    while (!segments.empty() && path_count < path.size()) {
      const std::size_t slash = segments.find('/');
      if (slash != 0) path[path_count++] = segments.substr(0, slash);
      if (slash == std::string_view::npos) break;
      segments.remove_prefix(slash + 1);
    }
  }
  void add_query(std::string parameter) {
    if (query_count < query.size()) query[query_count++] = std::move(parameter);
  }
};

enum class Phase : std::uint8_t { kRegistration, kTelemetry, kDrain, kDone };

class Fleet::Engine {
 public:
  Engine(FleetConfig config, std::vector<DeviceSpec> specs);
  ~Engine();

  FleetReport run(const volatile std::sig_atomic_t* stop);

  void handle_response(const coap_pdu_t* received);
  void handle_nack(const coap_pdu_t* sent, coap_nack_reason_t reason);
  void handle_event(coap_session_t* session, coap_event_t event);

 private:
  using RefreshEntry = std::pair<Clock::time_point, std::uint32_t>;

  void resolve_gateway();
  RequestStats& stats(RequestKind kind) { return report_.requests[static_cast<std::size_t>(kind)]; }
  bool can_send() const { return in_flight_ < config_.max_in_flight; }

  coap_session_t* session_for(Device& d);
  bool send(Device& d, RequestKind kind, const RequestParts& parts, Clock::time_point now);
  void start_registration(Device& d, Clock::time_point now);
  void send_refresh(Device& d, Clock::time_point now);
  void send_observe(Device& d, Clock::time_point now);
  void send_telemetry(Device& d, Clock::time_point now);

  // Completion paths: every request ends in exactly one of them.
  void answered(std::uint64_t token, Pending pending, const coap_pdu_t* received,
                Clock::time_point now);
  void failed(std::uint64_t token, const Pending& pending, const std::string& reason,
              bool timed_out, Clock::time_point now);
  void request_done(Device& d);
  void device_registered(Device& d, Clock::time_point now);
  void device_failed(Device& d, const std::string& reason, Clock::time_point now);
  void schedule_refresh(Device& d, Clock::time_point now);
  void make_ready(Device& d);

  void expire(Clock::time_point now);
  void fail_all_outstanding(Clock::time_point now);
  void end_registration(Clock::time_point now);
  void run_follow_ups(Clock::time_point now);
  void run_refresh_timers(Clock::time_point now);
  void run_telemetry(Clock::time_point now);
  Clock::time_point next_wake(Clock::time_point now) const;
  void poll_io(Clock::time_point wake);

  FleetConfig config_;
  std::vector<Device> devices_;
  coap_context_t* context_ = nullptr;
  coap_address_t destination_{};
  bool dtls_ = false;
  std::vector<std::uint8_t> registration_body_;
  int coap_fd_ = -1;  // libcoap's epoll descriptor
  std::array<epoll_event, kEventBatch> events_{};
  Clock::time_point last_sweep_{};
  std::vector<senml::Record> records_;
  std::array<std::uint8_t, kMaxPackBytes> pack_{};

  std::unordered_map<std::uint64_t, Pending> pending_;
  std::deque<std::pair<Clock::time_point, std::uint64_t>> deadlines_;  // send order
  std::priority_queue<RefreshEntry, std::vector<RefreshEntry>, std::greater<>> refreshes_;
  std::deque<std::uint32_t> follow_ups_;  // devices with an observe or refresh to send
  std::deque<std::uint32_t> ready_;       // idle registered devices, round-robin
  std::uint64_t next_token_ = 1;
  std::size_t in_flight_ = 0;  // requests sent and not yet answered or given up
  std::size_t started_ = 0;    // devices whose registration began
  std::size_t settled_ = 0;    // devices registered or failed

  Phase phase_ = Phase::kRegistration;
  Pacer connect_pacer_;
  Pacer telemetry_pacer_;
  Clock::time_point start_{};
  Clock::time_point register_deadline_{};
  Clock::time_point last_settled_{};
  Clock::time_point telemetry_start_{};
  Clock::time_point telemetry_end_{};
  Clock::time_point drain_deadline_{};
  Clock::time_point first_telemetry_send_{};
  Clock::time_point last_telemetry_answer_{};
  bool telemetry_sent_ = false;
  FleetReport report_;
};

}  // namespace spindle::fleet
