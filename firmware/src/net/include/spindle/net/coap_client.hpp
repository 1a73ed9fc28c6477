// The node's CoAP client: confirmable requests to the gateway over UDP, or DTLS 1.2 PSK
// when a key is provisioned. The libcoap adapter: libcoap's results become Status here and
// nowhere else.
//
// Requests are synchronous on the calling (network) thread: send, then run libcoap's I/O
// until the response, a NACK or the deadline. libcoap retransmits confirmable messages
// (RFC 7252 section 4.2) within that time.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

struct coap_context_t;
struct coap_session_t;
struct coap_pdu_t;

namespace spindle::net {

inline constexpr std::size_t kMaxPsk = 64;
inline constexpr std::size_t kMaxResponsePayload = 1024;
inline constexpr std::size_t kMaxLocation = 64;

struct ClientConfig {
  // "coap://host:port" (plain UDP, development only) or "coaps://host:port" (DTLS-PSK).
  std::string_view gateway_uri;
  std::string_view device_id;         // also the PSK identity
  std::span<const std::uint8_t> psk;  // required for coaps://
  // RFC 7252 retransmission: the first timeout, then doubling, max_retransmit times.
  // With 1 s and 2, libcoap gives up within 10.5 s (1.5 + 3 + 6 s with its random factor
  // 1.5); callers wait longer than that, so a request only fails once libcoap has stopped
  // sending it (a late copy would otherwise duplicate what the caller sends next).
  std::uint32_t ack_timeout_ms = 1000;
  std::uint8_t max_retransmit = 2;
  // When set and true, a waiting request() gives up at once with kUnavailable (shutdown).
  const std::atomic<bool>* cancel = nullptr;
};

enum class Method : std::uint8_t { kGet = 1, kPost = 2, kPut = 3, kDelete = 4 };

inline constexpr std::size_t kMaxEtag = 8;

struct Response {
  std::uint8_t code = 0;  // class * 32 + detail, e.g. 2.01 = 65
  std::array<std::uint8_t, kMaxResponsePayload> payload{};
  std::size_t payload_size = 0;
  std::array<char, kMaxLocation> location{};  // Location-Path segments joined by '/'
  std::size_t location_size = 0;
  int content_format = -1;  // -1: none
  // Block2 (RFC 7959): the raw option value, up to 3 bytes.
  bool has_block2 = false;
  std::array<std::uint8_t, 3> block2{};
  std::size_t block2_size = 0;
  std::array<std::uint8_t, kMaxEtag> etag{};
  std::size_t etag_size = 0;
  bool has_size2 = false;
  std::uint32_t size2 = 0;
  // Block1 (RFC 7959) of an answer to a block-wise request body: the raw option value.
  bool has_block1 = false;
  std::array<std::uint8_t, 3> block1{};
  std::size_t block1_size = 0;

  std::uint8_t code_class() const { return static_cast<std::uint8_t>(code >> 5); }
  bool success() const { return code_class() == 2; }
  std::string_view location_path() const { return {location.data(), location_size}; }
  std::span<const std::uint8_t> body() const { return {payload.data(), payload_size}; }
};

struct Request {
  Method method = Method::kGet;
  std::string_view path;    // "rd" or "t/node-1"; segments separated by '/'
  std::string_view query;   // "ep=node-1&lt=300"; parameters separated by '&'
  int content_format = -1;  // -1: none
  std::span<const std::uint8_t> payload;
  // Block2 to ask for (raw option value, from blockwise::encode_block_option); empty: none.
  std::span<const std::uint8_t> block2;
  // Block1 of this request's payload (raw option value); empty: none.
  std::span<const std::uint8_t> block1;
  // Observe: 0, register this request's token for notifications (RFC 7641). Notifications
  // are kept (the newest one) for take_notification().
  bool observe = false;
};

class CoapClient {
 public:
  CoapClient() = default;
  ~CoapClient();
  CoapClient(const CoapClient&) = delete;
  CoapClient& operator=(const CoapClient&) = delete;

  // Parses the URI and sets up the session. Errors: kInvalidValue (bad URI, coaps without
  // a PSK, PSK too long), kUnavailable (name resolution, socket or DTLS not available).
  Status start(const ClientConfig& config);
  void stop();

  // Sends one confirmable request and waits up to `timeout_ms` for the response; choose
  // `timeout_ms` above the retransmission span of the config (see ClientConfig).
  // Errors: kTimeout (no response in time, or libcoap gave up retransmitting),
  // kUnavailable also when config.cancel became true while waiting,
  // kUnavailable (the session failed, e.g. DTLS handshake refused), kOversize (the
  // response payload exceeds kMaxResponsePayload), kInvalidState (not started).
  Result<Response> request(const Request& request, std::uint32_t timeout_ms);

  // Runs libcoap's I/O for up to `timeout_ms` (or until a notification arrives), so that
  // notifications are received between requests.
  void poll(std::uint32_t timeout_ms);
  // The newest notification of the observation made with Request::observe, if one arrived
  // since the last call. A new session (after a failure) ends the observation: register
  // again.
  bool take_notification(Response* out);
  bool has_notification() const { return notified_; }
  // The observation's session is gone (the next request opens a new one).
  bool observing() const { return observe_session_ != nullptr && observe_session_ == session_; }

  // libcoap callback plumbing (coap_client.cpp).
  struct Pending;
  Pending* pending() const { return pending_; }
  void notify(const coap_pdu_t* pdu, coap_session_t* session);

 private:
  Status open_session();
  void drop_session();

  coap_context_t* context_ = nullptr;
  coap_session_t* session_ = nullptr;
  ClientConfig config_;
  std::array<char, 256> uri_{};
  std::array<char, kMaxIdSize + 1> identity_{};
  std::array<std::uint8_t, kMaxPsk> psk_{};
  std::size_t psk_size_ = 0;
  Response response_;  // filled by libcoap's response callback during request()
  Pending* pending_ = nullptr;
  // The observation: its token and session, and the newest notification.
  std::array<std::uint8_t, 8> observe_token_{};
  std::size_t observe_token_size_ = 0;
  coap_session_t* observe_session_ = nullptr;
  Response notification_;
  bool notified_ = false;
};

// Fills `out` from a received PDU. false when the payload or an option does not fit.
bool parse_response(const coap_pdu_t* pdu, Response* out);

// "2.04" style text for logs.
void format_code(std::uint8_t code, std::span<char> out);

}  // namespace spindle::net
