// Fleet::Engine: set-up (devices, gateway address, libcoap context) and sending.
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
  parts.content_format = content_format::kCbor;
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
  parts.content_format = content_format::kSenmlCbor;
  parts.payload = *pack;
  send(d, RequestKind::kTelemetry, parts, now);
}

}  // namespace spindle::fleet
