// Requests that write are answered after the commit (coap_server.hpp): the request is made
// asynchronous, its PendingReply filled when the writer's completion is posted back, and
// the triggered second call answers from it. Answers are kept for EXCHANGE_LIFETIME so a
// retransmission that crosses the separate response is answered, not written again.
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/gateway_request.hpp"

namespace spindle::gateway {

// RFC 7252 EXCHANGE_LIFETIME.
constexpr std::int64_t kExchangeLifetimeMs = 247000;
constexpr std::size_t kMaxAnsweredExchanges = 100000;

namespace {

// A completion that threw: the request is answered 5.00, whatever it had filled in.
void completion_failed(CoapServer::Impl::PendingReply& reply, std::string_view what) {
  spdlog::error("coap: completing a {} request failed: {}", coap_resource_name(reply.resource),
                what);
  reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
  reply.location.clear();
  reply.diagnostic = "internal error";
  reply.request.clear();
}

}  // namespace

bool CoapServer::Impl::answer_if_completed(CoapResource resource, coap_session_t* session,
                                           const coap_pdu_t* request, coap_pdu_t* response) {
  coap_async_t* async = coap_find_async(session, coap_pdu_get_token(request));
  if (async == nullptr) {
    const std::string exchange = exchange_key(session, request);
    // A retransmission that crossed our separate response: answer it again, do not write
    // it again (libcoap forgot the exchange when it freed the async).
    const auto answered = answered_.find(exchange);
    if (answered == answered_.end()) return false;
    answer_with(resource, response, answered->second);
    return true;
  }
  auto* reply = static_cast<PendingReply*>(coap_async_get_app_data(async));
  if (reply == nullptr) {
    respond(resource, response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "lost reply");
    return true;
  }
  if (!reply->done) return true;  // still being written: no answer yet
  coap_async_set_app_data(async, nullptr);
  answer_with(resource, response, *reply);
  if (answered_.size() < kMaxAnsweredExchanges) {
    reply->answered_ms = now_ms();
    answered_.insert_or_assign(reply->exchange, *reply);
  }
  forget_reply(reply);
  return true;
}

std::string CoapServer::Impl::exchange_key(coap_session_t* session, const coap_pdu_t* request) {
  // Message ids are unique per endpoint and session only (RFC 7252 4.5): a node that
  // reconnects starts a new session at a random message id, which may be one its previous
  // session used a moment ago. Keying by the device alone answered such a new request with
  // the old one's cached answer (a stale capture request, a 2.04 where a Block1 upload
  // needed 2.31). So each session gets a serial number of its own, kept in its app data.
  auto serial = reinterpret_cast<std::uintptr_t>(coap_session_get_app_data(session));
  if (serial == 0) {
    serial = ++session_serial_;
    coap_session_set_app_data(session, reinterpret_cast<void*>(serial));
  }
  return peer_key(session) + "#" + std::to_string(serial) + "#" +
         std::to_string(coap_pdu_get_mid(request));
}

void CoapServer::Impl::forget_old_exchanges(std::int64_t now) {
  std::erase_if(answered_, [now](const auto& entry) {
    return now - entry.second.answered_ms > kExchangeLifetimeMs;
  });
}

void CoapServer::Impl::answer_with(CoapResource resource, coap_pdu_t* response,
                                   const PendingReply& reply) {
  std::string_view location = reply.location;
  while (!location.empty()) {
    const std::size_t slash = location.find('/');
    const std::string_view segment = location.substr(0, slash);
    coap_add_option(response, COAP_OPTION_LOCATION_PATH, segment.size(),
                    reinterpret_cast<const std::uint8_t*>(segment.data()));
    location = slash == std::string_view::npos ? std::string_view() : location.substr(slash + 1);
  }
  if (!reply.request.empty())
    add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, content_format::kCbor);
  if (!reply.block1.empty()) {
    coap_add_option(response, COAP_OPTION_BLOCK1, reply.block1.size(), reply.block1.data());
  }
  if (reply.code == COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE) {
    add_uint_option(response, COAP_OPTION_MAXAGE, kBusyMaxAgeS);
  }
  respond(resource, response, reply.code, reply.diagnostic);
  if (!reply.request.empty()) coap_add_data(response, reply.request.size(), reply.request.data());
}

void CoapServer::Impl::forget_reply(PendingReply* reply) {
  pending_replies_.erase(reply);
  delete reply;
}

void CoapServer::Impl::attach_request(const DeviceRecord& device, PendingReply& reply,
                                      std::int64_t now) {
  const Challenge* challenge = challenges_.outstanding(device.id, now);
  const auto capture = captures_.find(device.id);
  const auto recalibration = recalibrations_.find(device.id);
  const auto decision = decisions_.find(device.id);
  if (challenge == nullptr && capture == captures_.end() &&
      recalibration == recalibrations_.end() && decision == decisions_.end())
    return;
  gateway_request::GatewayRequest request;
  if (challenge != nullptr) request.nonce = challenge->nonce;
  if (capture != captures_.end()) {
    request.has_capture = true;
    request.capture = capture->second;
  }
  if (recalibration != recalibrations_.end()) {
    request.has_recalibrate = true;
    request.recalibrate_after = recalibration->second.after_generation;
  }
  if (decision != decisions_.end()) request.decision = decision->second;
  std::array<std::uint8_t, gateway_request::kMaxEncodedSize> buffer{};
  const auto encoded = gateway_request::encode(request, buffer);
  if (!encoded.ok()) {
    spdlog::error("coap: request for {} not encoded: {}", device.id, encoded.status().name());
    return;
  }
  reply.request.assign(encoded->begin(), encoded->end());
}

bool CoapServer::Impl::write_then_reply(CoapResource resource, coap_session_t* session,
                                        const coap_pdu_t* request, coap_pdu_t* response,
                                        Writer::Work work,
                                        std::function<void(Status, PendingReply&)> finish) {
  coap_async_t* async = coap_register_async(session, request, 0);
  if (async == nullptr) {
    respond(resource, response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "no async slot");
    return false;
  }
  auto* reply = new PendingReply{};
  reply->resource = resource;
  // The triggered call sees a copy of the request with a new message id: key the answer
  // by the original one, which a retransmission repeats.
  reply->exchange = exchange_key(session, request);
  pending_replies_.insert(reply);
  coap_async_set_app_data(async, reply);
  const coap_bin_const_t token = coap_pdu_get_token(request);
  Bytes token_bytes(token.s, token.s + token.length);
  coap_session_reference(session);
  const Status queued =
      writer_.submit(std::move(work), [this, session, reply, token_bytes = std::move(token_bytes),
                                       finish = std::move(finish)](Status status) {
        post([this, session, reply, token_bytes, finish, status] {
          // Whatever `finish` does, the request is answered and the session released.
          try {
            finish(status, *reply);
          } catch (const std::exception& e) {
            completion_failed(*reply, e.what());
          } catch (...) {
            completion_failed(*reply, "not a std::exception");
          }
          reply->done = true;
          const coap_bin_const_t key{token_bytes.size(), token_bytes.data()};
          if (coap_async_t* pending = coap_find_async(session, key)) {
            coap_async_trigger(pending);
          } else {
            forget_reply(reply);
          }
          coap_session_release(session);
        });
      });
  if (!queued.ok()) {
    coap_async_set_app_data(async, nullptr);
    coap_free_async(session, async);
    forget_reply(reply);
    coap_session_release(session);
    add_uint_option(response, COAP_OPTION_MAXAGE, kBusyMaxAgeS);
    respond(resource, response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
            "storage busy, retry later");
    return false;
  }
  return true;
}

}  // namespace spindle::gateway
