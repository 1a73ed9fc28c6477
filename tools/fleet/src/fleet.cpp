#include "spindle/fleet/fleet.hpp"

#include <coap3/coap.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "pacer_private.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"
#include "telemetry_pack_private.hpp"

namespace spindle::fleet {

std::string_view request_kind_name(RequestKind kind) {
  switch (kind) {
    case RequestKind::kRegister:
      return "register";
    case RequestKind::kRefresh:
      return "refresh";
    case RequestKind::kObserve:
      return "observe";
    case RequestKind::kTelemetry:
      return "telemetry";
  }
  return "?";
}

std::uint64_t RequestStats::errored() const {
  std::uint64_t total = 0;
  for (const auto& [name, count] : errors)
    total += count;
  return total;
}

bool FleetReport::success() const {
  const auto clean = [this](RequestKind kind) {
    return stats(kind).errored() == 0 && stats(kind).timed_out == 0;
  };
  return !interrupted && registered == devices && clean(RequestKind::kTelemetry) &&
         clean(RequestKind::kRefresh);
}

void check_config(const FleetConfig& config) {
  if (!(config.rate > 0) || !std::isfinite(config.rate)) {
    throw std::invalid_argument("--rate must be > 0 (telemetry requests per second, all devices)");
  }
  if (!(config.connect_rate > 0) || !std::isfinite(config.connect_rate)) {
    throw std::invalid_argument("--connect-rate must be > 0 (registrations started per second)");
  }
  if (config.max_in_flight == 0) throw std::invalid_argument("--max-in-flight must be > 0");
  if (config.readings_per_post == 0) {
    throw std::invalid_argument("--readings-per-post must be > 0");
  }
  if (config.register_timeout.count() <= 0) {
    throw std::invalid_argument("--register-timeout must be > 0");
  }
  if (config.request_timeout.count() <= 0) {
    throw std::invalid_argument("--request-timeout must be > 0");
  }
  if (config.duration.count() < 0) throw std::invalid_argument("--duration must be >= 0");
}

unsigned max_readings_per_post(std::string_view longest_device_id) {
  std::vector<senml::Record> scratch;
  std::array<std::uint8_t, kMaxPackBytes> buffer{};
  unsigned fits = 0;
  // Worst case within 2^32 readings: 5-byte seqs, every value and time a double.
  for (unsigned count = 1; count <= 64; ++count) {
    const ReadingBatch batch{.device_id = longest_device_id,
                             .first_seq = 0xFFFF'0000ULL,
                             .count = count,
                             .now_unix_s = 4102444800.123,
                             .reading_interval_s = 0.37,
                             .uptime_s = 1e9 + 0.5};
    if (!encode_readings(batch, scratch, buffer).ok()) break;
    fits = count;
  }
  return fits;
}

namespace {

constexpr std::size_t kTokenSize = 8;
constexpr std::size_t kMaxPathSegments = 8;
constexpr std::uint16_t kContentFormatCbor = 60;
constexpr std::uint16_t kContentFormatSenmlCbor = 112;
constexpr Clock::duration kMaxWait = std::chrono::milliseconds(100);
// Socket events handled per libcoap pass. coap_io_process() takes at most 10 and walks
// every session twice per call, which at 10k sessions costs more than the traffic; one
// walk per batch of this many events does not.
constexpr std::size_t kEventBatch = 512;
// libcoap arms its timerfd for retransmissions; this bounds the wait should it not.
constexpr Clock::duration kTimerSweep = std::chrono::milliseconds(50);
// The hard deadline's margin past the last request deadline: socket teardown, stragglers.
constexpr Clock::duration kHardDeadlineMargin = std::chrono::seconds(2);

std::uint64_t token_of(const coap_pdu_t* pdu) {
  const coap_bin_const_t token = coap_pdu_get_token(pdu);
  if (token.length != kTokenSize) return 0;
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < kTokenSize; ++i)
    value = (value << 8) | token.s[i];
  return value;
}

std::string code_text(coap_pdu_code_t code) {
  char text[16];
  const unsigned value = static_cast<std::uint8_t>(code);
  std::snprintf(text, sizeof text, "%u.%02u", value >> 5, value & 31U);
  return text;
}

// The Location-Path options of an answer joined with '/' ("rd/17"); empty when none.
std::string location_of(const coap_pdu_t* pdu) {
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

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

double unix_now() {
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

}  // namespace

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

namespace {

// Null while the context is torn down: sessions closing then are no longer counted.
Fleet::Engine* engine_of(coap_session_t* session) {
  return static_cast<Fleet::Engine*>(coap_get_app_data(coap_session_get_context(session)));
}

coap_response_t on_response(coap_session_t* session, const coap_pdu_t*, const coap_pdu_t* received,
                            const coap_mid_t) {
  if (Fleet::Engine* engine = engine_of(session)) engine->handle_response(received);
  // Always OK: an answer we gave up on must not make libcoap send a reset.
  return COAP_RESPONSE_OK;
}

void on_nack(coap_session_t* session, const coap_pdu_t* sent, const coap_nack_reason_t reason,
             const coap_mid_t) {
  if (Fleet::Engine* engine = engine_of(session)) engine->handle_nack(sent, reason);
}

int on_event(coap_session_t* session, const coap_event_t event) {
  if (Fleet::Engine* engine = engine_of(session)) engine->handle_event(session, event);
  return 0;
}

}  // namespace

Fleet::Engine::Engine(FleetConfig config, std::vector<DeviceSpec> specs)
    : config_((check_config(config), std::move(config))),
      connect_pacer_(config_.connect_rate),
      telemetry_pacer_(config_.rate) {
  if (config_.refresh_interval.count() <= 0) {
    config_.refresh_interval = Millis(std::max<std::int64_t>(config_.lifetime_s, 1) * 750);
  }
  devices_.reserve(specs.size());
  for (auto& spec : specs) {
    Device d;
    d.index = static_cast<std::uint32_t>(devices_.size());
    d.spec = std::move(spec);
    devices_.push_back(std::move(d));
  }

  registration::Registration reg;
  reg.board = config_.board;
  reg.firmware_version = config_.firmware_version;
  reg.budgets = {.sram_bytes = 262144,
                 .arena_bytes = 32768,
                 .model_flash_bytes = 262144,
                 .op_set = 0xFE};  // container opcodes 1..7, like the node
  std::array<std::uint8_t, 256> buffer{};
  const auto body = registration::encode(reg, buffer);
  if (!body.ok()) {
    throw std::invalid_argument(std::string("registration body: ") + body.status().name());
  }
  registration_body_.assign(body->begin(), body->end());

  coap_startup();
  // Failures are counted and reported; libcoap's per-packet warnings would drown them.
  coap_set_log_level(LOG_CRIT);
  resolve_gateway();
  context_ = coap_new_context(nullptr);
  if (context_ == nullptr) throw std::runtime_error("cannot create a libcoap context");
  coap_set_app_data(context_, this);
  coap_register_response_handler(context_, on_response);
  coap_register_nack_handler(context_, on_nack);
  coap_register_event_handler(context_, on_event);
  coap_fd_ = coap_context_get_coap_fd(context_);
}

Fleet::Engine::~Engine() {
  if (context_ != nullptr) {
    coap_set_app_data(context_, nullptr);
    coap_free_context(context_);
  }
  coap_cleanup();
}

void Fleet::Engine::resolve_gateway() {
  const std::string& text = config_.gateway_uri;
  coap_uri_t uri;
  if (coap_split_uri(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), &uri) != 0) {
    throw std::invalid_argument("--gateway '" + text + "' is not a CoAP URI");
  }
  if (uri.scheme == COAP_URI_SCHEME_COAPS) {
    dtls_ = true;
    if (!coap_dtls_is_supported()) throw std::runtime_error("libcoap was built without DTLS");
  } else if (uri.scheme != COAP_URI_SCHEME_COAP) {
    throw std::invalid_argument("--gateway '" + text + "': use coap:// or coaps://");
  }
  const std::string host(reinterpret_cast<const char*>(uri.host.s), uri.host.length);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  if (host.empty() || getaddrinfo(host.c_str(), nullptr, &hints, &result) != 0 ||
      result == nullptr) {
    throw std::runtime_error("--gateway: cannot resolve host '" + host + "'");
  }
  coap_address_init(&destination_);
  std::memcpy(&destination_.addr.sa, result->ai_addr, result->ai_addrlen);
  destination_.size = result->ai_addrlen;
  if (result->ai_family == AF_INET6) {
    destination_.addr.sin6.sin6_port = htons(uri.port);
  } else {
    destination_.addr.sin.sin_port = htons(uri.port);
  }
  freeaddrinfo(result);
  for (const Device& d : devices_) {
    if (dtls_ && d.spec.psk.empty()) {
      throw std::invalid_argument("coaps:// needs a PSK for device " + d.spec.id);
    }
  }
}

// ---- sending ----

coap_session_t* Fleet::Engine::session_for(Device& d) {
  if (d.session != nullptr && !d.session_broken) return d.session;
  if (d.session != nullptr) {
    coap_session_set_app_data(d.session, nullptr);
    coap_session_release(d.session);
    d.session = nullptr;
  }
  d.session_broken = false;
  if (dtls_) {
    coap_dtls_cpsk_t setup{};
    setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
    setup.psk_info.identity.s = reinterpret_cast<const std::uint8_t*>(d.spec.id.data());
    setup.psk_info.identity.length = d.spec.id.size();
    setup.psk_info.key.s = d.spec.psk.data();
    setup.psk_info.key.length = d.spec.psk.size();
    d.session =
        coap_new_client_session_psk2(context_, nullptr, &destination_, COAP_PROTO_DTLS, &setup);
  } else {
    d.session = coap_new_client_session(context_, nullptr, &destination_, COAP_PROTO_UDP);
  }
  if (d.session != nullptr) coap_session_set_app_data(d.session, &d);
  return d.session;
}

bool Fleet::Engine::send(Device& d, RequestKind kind, const RequestParts& parts,
                         Clock::time_point now) {
  const std::uint64_t token = next_token_++;
  const Pending pending{.device = d.index, .kind = kind, .sent_at = now};
  ++stats(kind).sent;
  ++in_flight_;
  d.outstanding = token;
  coap_session_t* session = session_for(d);
  if (session == nullptr) {
    failed(token, pending, "session-failed", false, now);
    return false;
  }
  coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, parts.method, coap_new_message_id(session),
                                  coap_session_max_pdu_size(session));
  if (pdu == nullptr) {
    failed(token, pending, "send-failed", false, now);
    return false;
  }
  std::array<std::uint8_t, kTokenSize> token_bytes{};
  for (std::size_t i = 0; i < kTokenSize; ++i) {
    token_bytes[i] = static_cast<std::uint8_t>(token >> (8 * (kTokenSize - 1 - i)));
  }
  bool ok = coap_add_token(pdu, token_bytes.size(), token_bytes.data()) != 0;
  // Options in ascending number: Observe (6), Uri-Path (11), Content-Format (12), Uri-Query (15).
  if (parts.observe) ok = ok && coap_add_option(pdu, COAP_OPTION_OBSERVE, 0, nullptr) != 0;
  for (std::size_t i = 0; i < parts.path_count; ++i) {
    const std::string_view segment = parts.path[i];
    ok = ok && coap_add_option(pdu, COAP_OPTION_URI_PATH, segment.size(),
                               reinterpret_cast<const std::uint8_t*>(segment.data())) != 0;
  }
  if (parts.content_format >= 0) {
    std::array<std::uint8_t, 4> value{};
    const unsigned length = coap_encode_var_safe(value.data(), value.size(),
                                                 static_cast<unsigned>(parts.content_format));
    ok = ok && coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, length, value.data()) != 0;
  }
  for (std::size_t i = 0; i < parts.query_count; ++i) {
    const std::string& parameter = parts.query[i];
    ok = ok && coap_add_option(pdu, COAP_OPTION_URI_QUERY, parameter.size(),
                               reinterpret_cast<const std::uint8_t*>(parameter.data())) != 0;
  }
  if (!parts.payload.empty()) {
    ok = ok && coap_add_data(pdu, parts.payload.size(), parts.payload.data()) != 0;
  }
  if (!ok) {
    coap_delete_pdu(pdu);
    failed(token, pending, "send-failed", false, now);
    return false;
  }
  pending_.emplace(token, pending);
  deadlines_.emplace_back(now + config_.request_timeout, token);
  // coap_send frees the PDU in every case; a callback may already have settled the token.
  if (coap_send(session, pdu) == COAP_INVALID_MID) {
    if (const auto it = pending_.find(token); it != pending_.end()) {
      const Pending copy = it->second;
      pending_.erase(it);
      failed(token, copy, "send-failed", false, now);
    }
    return false;
  }
  return true;
}

void Fleet::Engine::start_registration(Device& d, Clock::time_point now) {
  d.state = DeviceState::kRegistering;
  d.started = now;
  ++started_;
  RequestParts parts;
  parts.add_path("rd");
  parts.add_query("ep=" + d.spec.id);
  parts.add_query("lt=" + std::to_string(config_.lifetime_s));
  parts.content_format = kContentFormatCbor;
  parts.payload = registration_body_;
  send(d, RequestKind::kRegister, parts, now);
}

void Fleet::Engine::send_refresh(Device& d, Clock::time_point now) {
  // An update (RFC 9176 section 5.1): the location, the lifetime, no body.
  RequestParts parts;
  parts.add_path(d.location);
  parts.add_query("lt=" + std::to_string(config_.lifetime_s));
  send(d, RequestKind::kRefresh, parts, now);
}

void Fleet::Engine::send_observe(Device& d, Clock::time_point now) {
  RequestParts parts;
  parts.method = COAP_REQUEST_CODE_GET;
  parts.add_path("d");
  parts.add_path(d.spec.id);
  parts.add_path("manifest");
  parts.observe = true;
  send(d, RequestKind::kObserve, parts, now);
}

void Fleet::Engine::send_telemetry(Device& d, Clock::time_point now) {
  const double per_device_interval =
      static_cast<double>(std::max<std::size_t>(report_.registered, 1)) / config_.rate;
  const ReadingBatch batch{.device_id = d.spec.id,
                           .first_seq = d.next_seq,
                           .count = config_.readings_per_post,
                           .now_unix_s = unix_now(),
                           .reading_interval_s = per_device_interval / config_.readings_per_post,
                           .uptime_s = seconds_between(d.started, now)};
  const auto pack = encode_readings(batch, records_, pack_);
  if (!telemetry_sent_) {
    telemetry_sent_ = true;
    first_telemetry_send_ = now;
  }
  if (!pack.ok()) {  // excluded by the start-up check; counted should it ever happen
    ++stats(RequestKind::kTelemetry).sent;
    ++stats(RequestKind::kTelemetry).errors[std::string("encode-") + pack.status().name()];
    make_ready(d);
    return;
  }
  d.next_seq += config_.readings_per_post;
  report_.readings_sent += config_.readings_per_post;
  RequestParts parts;
  parts.add_path("t");
  parts.add_path(d.spec.id);
  parts.content_format = kContentFormatSenmlCbor;
  parts.payload = *pack;
  send(d, RequestKind::kTelemetry, parts, now);
}

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

// ---- the public face ----

Fleet::Fleet(FleetConfig config, std::vector<DeviceSpec> devices)
    : engine_(std::make_unique<Engine>(std::move(config), std::move(devices))) {}

Fleet::~Fleet() = default;

FleetReport Fleet::run(const volatile std::sig_atomic_t* stop) {
  return engine_->run(stop);
}

}  // namespace spindle::fleet
