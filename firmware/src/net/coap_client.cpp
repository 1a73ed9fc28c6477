#include "spindle/net/coap_client.hpp"

#include <coap3/coap.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "spindle/os/kernel.hpp"

namespace spindle::net {
namespace {

CoapClient* client_of(coap_session_t* session) {
  return static_cast<CoapClient*>(coap_get_app_data(coap_session_get_context(session)));
}

bool token_equals(const coap_pdu_t* pdu, const std::uint8_t* token, std::size_t size) {
  const coap_bin_const_t t = coap_pdu_get_token(pdu);
  return t.length == size && (size == 0 || std::memcmp(t.s, token, size) == 0);
}

}  // namespace

// The in-flight request of a client; libcoap's callbacks fill it.
struct CoapClient::Pending {
  coap_session_t* session = nullptr;  // callbacks about any other session are not ours
  std::array<std::uint8_t, 8> token{};
  std::size_t token_size = 0;
  bool done = false;
  bool failed = false;  // NACK: too many retransmissions, or the session closed
  Status failure = kOk;
  Response* response = nullptr;
  bool oversize = false;

  bool matches(const coap_pdu_t* pdu) const { return token_equals(pdu, token.data(), token_size); }
};

namespace {

// A Block1/Block2 option value into its Response fields; false when it is too long.
bool copy_block_option(const std::uint8_t* value, std::size_t size, bool* has,
                       std::array<std::uint8_t, 3>* out, std::size_t* out_size) {
  if (size > out->size()) return false;
  *has = true;
  std::memcpy(out->data(), value, size);
  *out_size = size;
  return true;
}

}  // namespace

bool parse_response(const coap_pdu_t* received, Response* out) {
  Response& r = *out;
  bool fits = true;
  r.code = static_cast<std::uint8_t>(coap_pdu_get_code(received));
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  r.payload_size = 0;
  if (coap_get_data(received, &length, &data) && length > 0) {
    if (length > r.payload.size()) {
      fits = false;
    } else {
      std::memcpy(r.payload.data(), data, length);
      r.payload_size = length;
    }
  }
  r.location_size = 0;
  r.content_format = -1;
  r.has_block2 = false;
  r.block2_size = 0;
  r.etag_size = 0;
  r.has_size2 = false;
  r.size2 = 0;
  r.has_block1 = false;
  r.block1_size = 0;
  coap_opt_iterator_t it;
  coap_opt_t* option = nullptr;
  coap_option_iterator_init(received, &it, COAP_OPT_ALL);
  while ((option = coap_option_next(&it)) != nullptr) {
    const std::size_t size = coap_opt_length(option);
    const std::uint8_t* value = coap_opt_value(option);
    switch (it.number) {
      case COAP_OPTION_LOCATION_PATH: {
        const std::size_t separator = r.location_size == 0 ? 0 : 1;
        if (r.location_size + separator + size > r.location.size()) {
          fits = false;
          break;
        }
        if (separator) r.location[r.location_size++] = '/';
        std::memcpy(r.location.data() + r.location_size, value, size);
        r.location_size += size;
        break;
      }
      case COAP_OPTION_CONTENT_FORMAT:
        r.content_format = static_cast<int>(coap_decode_var_bytes(value, size));
        break;
      case COAP_OPTION_BLOCK2:
        fits = copy_block_option(value, size, &r.has_block2, &r.block2, &r.block2_size) && fits;
        break;
      case COAP_OPTION_BLOCK1:
        fits = copy_block_option(value, size, &r.has_block1, &r.block1, &r.block1_size) && fits;
        break;
      case COAP_OPTION_ETAG:
        if (size > r.etag.size()) {
          fits = false;
          break;
        }
        std::memcpy(r.etag.data(), value, size);
        r.etag_size = size;
        break;
      case COAP_OPTION_SIZE2:
        r.has_size2 = true;
        r.size2 = coap_decode_var_bytes(value, size);
        break;
      default:
        break;
    }
  }
  return fits;
}

void CoapClient::notify(const coap_pdu_t* pdu, coap_session_t* session) {
  if (session != observe_session_ ||
      !token_equals(pdu, observe_token_.data(), observe_token_size_)) {
    return;
  }
  if (parse_response(pdu, &notification_)) notified_ = true;
}

namespace {

coap_response_t on_response(coap_session_t* session, const coap_pdu_t*, const coap_pdu_t* received,
                            const coap_mid_t) {
  CoapClient* client = client_of(session);
  if (client == nullptr) return COAP_RESPONSE_OK;
  CoapClient::Pending* p = client->pending();
  if (p == nullptr || p->done || session != p->session || !p->matches(received)) {
    // Not the answer being waited for: a notification of the observation, or stale.
    client->notify(received, session);
    return COAP_RESPONSE_OK;
  }
  if (!parse_response(received, p->response)) p->oversize = true;
  p->done = true;
  return COAP_RESPONSE_OK;
}

void on_nack(coap_session_t* session, const coap_pdu_t* sent, const coap_nack_reason_t reason,
             const coap_mid_t) {
  CoapClient* client = client_of(session);
  CoapClient::Pending* p = client == nullptr ? nullptr : client->pending();
  if (p == nullptr || p->done || session != p->session || sent == nullptr || !p->matches(sent)) {
    return;
  }
  // An ICMP error (port unreachable while the gateway restarts) is not final: libcoap
  // keeps retransmitting, and giving up here would let that retransmission arrive after
  // the records were resent in a new request.
  if (reason == COAP_NACK_ICMP_ISSUE) return;
  p->done = true;
  p->failed = true;
  p->failure =
      reason == COAP_NACK_TOO_MANY_RETRIES ? Status(Error::kTimeout) : Status(Error::kUnavailable);
}

int on_event(coap_session_t* session, const coap_event_t event) {
  if (event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED ||
      event == COAP_EVENT_SESSION_FAILED) {
    CoapClient* client = client_of(session);
    CoapClient::Pending* p = client == nullptr ? nullptr : client->pending();
    if (p != nullptr && !p->done && session == p->session) {
      p->done = true;
      p->failed = true;
      p->failure = Error::kUnavailable;
    }
  }
  return 0;
}

Status resolve(const coap_uri_t& uri, coap_address_t* out) {
  char host[128];
  if (uri.host.length == 0 || uri.host.length >= sizeof host) return Error::kInvalidValue;
  std::memcpy(host, uri.host.s, uri.host.length);
  host[uri.host.length] = '\0';
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(host, nullptr, &hints, &result) != 0 || result == nullptr) {
    return Error::kUnavailable;
  }
  coap_address_init(out);
  std::memcpy(&out->addr.sa, result->ai_addr, result->ai_addrlen);
  out->size = result->ai_addrlen;
  const std::uint16_t port = htons(uri.port);
  if (result->ai_family == AF_INET) {
    out->addr.sin.sin_port = port;
  } else if (result->ai_family == AF_INET6) {
    out->addr.sin6.sin6_port = port;
  }
  freeaddrinfo(result);
  return kOk;
}

// Adds each '/'-separated segment (or '&'-separated parameter) as one option.
void add_split(coap_optlist_t** list, std::uint16_t number, std::string_view text, char sep) {
  while (!text.empty()) {
    const std::size_t end = text.find(sep);
    const std::string_view part = text.substr(0, end);
    if (!part.empty()) {
      coap_insert_optlist(list,
                          coap_new_optlist(number, part.size(),
                                           reinterpret_cast<const std::uint8_t*>(part.data())));
    }
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

}  // namespace

CoapClient::~CoapClient() {
  stop();
}

Status CoapClient::start(const ClientConfig& config) {
  stop();
  if (config.gateway_uri.size() >= uri_.size()) return Error::kInvalidValue;
  SPINDLE_TRY(check_id(config.device_id));
  if (config.psk.size() > psk_.size()) return Error::kOversize;
  std::memcpy(uri_.data(), config.gateway_uri.data(), config.gateway_uri.size());
  uri_[config.gateway_uri.size()] = '\0';
  std::memcpy(identity_.data(), config.device_id.data(), config.device_id.size());
  identity_[config.device_id.size()] = '\0';
  if (!config.psk.empty()) std::memcpy(psk_.data(), config.psk.data(), config.psk.size());
  psk_size_ = config.psk.size();
  config_ = config;
  config_.gateway_uri = {uri_.data(), config.gateway_uri.size()};
  config_.device_id = {identity_.data(), config.device_id.size()};
  config_.psk = {psk_.data(), psk_size_};

  coap_startup();
  // Unreachable gateways are expected and reported by the node itself; libcoap's own
  // warnings about them would only be noise on the node's log.
  coap_set_log_level(LOG_ERR);
  context_ = coap_new_context(nullptr);
  if (context_ == nullptr) return Error::kUnavailable;
  coap_set_app_data(context_, this);
  coap_register_response_handler(context_, on_response);
  coap_register_nack_handler(context_, on_nack);
  coap_register_event_handler(context_, on_event);
  return open_session();
}

void CoapClient::drop_session() {
  if (session_ != nullptr) coap_session_release(session_);
  session_ = nullptr;
  observe_session_ = nullptr;  // the observation lived on that session
}

Status CoapClient::open_session() {
  drop_session();
  coap_uri_t uri;
  if (coap_split_uri(reinterpret_cast<const std::uint8_t*>(uri_.data()), config_.gateway_uri.size(),
                     &uri) != 0) {
    return Error::kInvalidValue;
  }
  coap_address_t destination;
  SPINDLE_TRY(resolve(uri, &destination));
  if (uri.scheme == COAP_URI_SCHEME_COAPS) {
    if (psk_size_ == 0) return Error::kInvalidValue;
    if (!coap_dtls_is_supported()) return Error::kUnavailable;
    coap_dtls_cpsk_t setup{};
    setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
    setup.psk_info.identity.s = reinterpret_cast<const std::uint8_t*>(identity_.data());
    setup.psk_info.identity.length = config_.device_id.size();
    setup.psk_info.key.s = psk_.data();
    setup.psk_info.key.length = psk_size_;
    session_ =
        coap_new_client_session_psk2(context_, nullptr, &destination, COAP_PROTO_DTLS, &setup);
  } else if (uri.scheme == COAP_URI_SCHEME_COAP) {
    session_ = coap_new_client_session(context_, nullptr, &destination, COAP_PROTO_UDP);
  } else {
    return Error::kInvalidValue;
  }
  if (session_ == nullptr) return Error::kUnavailable;
  coap_fixed_point_t ack_timeout{static_cast<std::uint16_t>(config_.ack_timeout_ms / 1000),
                                 static_cast<std::uint16_t>(config_.ack_timeout_ms % 1000)};
  coap_session_set_ack_timeout(session_, ack_timeout);
  coap_session_set_max_retransmit(session_, config_.max_retransmit);
  return kOk;
}

void CoapClient::stop() {
  drop_session();
  if (context_ != nullptr) coap_free_context(context_);
  context_ = nullptr;
}

Result<Response> CoapClient::request(const Request& request, std::uint32_t timeout_ms) {
  if (context_ == nullptr) return Error::kInvalidState;
  if (session_ == nullptr || coap_session_get_state(session_) == COAP_SESSION_STATE_NONE) {
    SPINDLE_TRY(open_session());
  }
  coap_pdu_t* pdu =
      coap_pdu_init(COAP_MESSAGE_CON, static_cast<coap_pdu_code_t>(request.method),
                    coap_new_message_id(session_), coap_session_max_pdu_size(session_));
  if (pdu == nullptr) return Error::kUnavailable;
  Pending pending;
  pending.session = session_;
  coap_session_new_token(session_, &pending.token_size, pending.token.data());
  coap_add_token(pdu, pending.token_size, pending.token.data());
  coap_optlist_t* options = nullptr;
  if (request.observe) {
    coap_insert_optlist(&options, coap_new_optlist(COAP_OPTION_OBSERVE, 0, nullptr));
  }
  add_split(&options, COAP_OPTION_URI_PATH, request.path, '/');
  if (request.content_format >= 0) {
    std::uint8_t buffer[4];
    const unsigned length =
        coap_encode_var_safe(buffer, sizeof buffer, static_cast<unsigned>(request.content_format));
    coap_insert_optlist(&options, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT, length, buffer));
  }
  add_split(&options, COAP_OPTION_URI_QUERY, request.query, '&');
  if (!request.block2.empty()) {
    coap_insert_optlist(&options, coap_new_optlist(COAP_OPTION_BLOCK2, request.block2.size(),
                                                   request.block2.data()));
  }
  if (!request.block1.empty()) {
    coap_insert_optlist(&options, coap_new_optlist(COAP_OPTION_BLOCK1, request.block1.size(),
                                                   request.block1.data()));
  }
  const int options_ok = options == nullptr || coap_add_optlist_pdu(pdu, &options);
  coap_delete_optlist(options);
  if (!options_ok || (!request.payload.empty() &&
                      !coap_add_data(pdu, request.payload.size(), request.payload.data()))) {
    coap_delete_pdu(pdu);
    return Error::kOversize;
  }
  response_ = Response{};
  pending.response = &response_;
  pending_ = &pending;
  if (coap_send(session_, pdu) == COAP_INVALID_MID) {
    pending_ = nullptr;
    // The session is unusable (e.g. DTLS failed); the next request opens a new one.
    drop_session();
    return Error::kUnavailable;
  }
  const std::int64_t deadline = os::uptime_ms() + timeout_ms;
  while (!pending.done) {
    if (config_.cancel != nullptr && config_.cancel->load()) {
      pending.done = true;
      pending.failed = true;
      pending.failure = Error::kUnavailable;
      break;
    }
    const std::int64_t left = deadline - os::uptime_ms();
    if (left <= 0) break;
    coap_io_process(context_, static_cast<std::uint32_t>(left < 100 ? left : 100));
  }
  pending_ = nullptr;
  if (!pending.done || pending.failed) {
    // Start the next request on a fresh session. Releasing does not cancel what libcoap
    // still retransmits (queued messages hold their own reference to the session); that is
    // bounded instead by callers waiting longer than the retransmission span (ClientConfig).
    drop_session();
    return pending.done ? pending.failure : Status(Error::kTimeout);
  }
  if (pending.oversize) return Error::kOversize;
  if (request.observe && response_.success()) {
    observe_token_ = pending.token;
    observe_token_size_ = pending.token_size;
    observe_session_ = session_;
    notified_ = false;  // this answer is the current representation
  }
  return response_;
}

void CoapClient::poll(std::uint32_t timeout_ms) {
  if (context_ == nullptr) return;
  const std::int64_t deadline = os::uptime_ms() + timeout_ms;
  while (!notified_) {
    if (config_.cancel != nullptr && config_.cancel->load()) return;
    const std::int64_t left = deadline - os::uptime_ms();
    if (left <= 0) return;
    coap_io_process(context_, static_cast<std::uint32_t>(left < 100 ? left : 100));
  }
}

bool CoapClient::take_notification(Response* out) {
  if (!notified_) return false;
  notified_ = false;
  *out = notification_;
  return true;
}

void format_code(std::uint8_t code, std::span<char> out) {
  std::snprintf(out.data(), out.size(), "%u.%02u", code >> 5, code & 31U);
}

}  // namespace spindle::net
