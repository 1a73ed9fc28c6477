// Who is asking: the DTLS PSK identity (the device id) a session authenticated with, the
// handshake callback that hands libcoap the device's PSK, and the rate-limited log of the
// identities it refused.
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

std::string CoapServer::Impl::identity_of(coap_session_t* session) const {
  const coap_bin_const_t* identity = coap_session_get_psk_identity(session);
  if (identity == nullptr || identity->s == nullptr) return {};
  return {reinterpret_cast<const char*>(identity->s), identity->length};
}

std::string CoapServer::Impl::peer_key(coap_session_t* session) const {
  if (!options_.insecure) return identity_of(session);
  char text[INET6_ADDRSTRLEN + 8];
  const std::size_t length = coap_print_addr(coap_session_get_addr_remote(session),
                                             reinterpret_cast<unsigned char*>(text), sizeof text);
  return {text, length};
}

const coap_bin_const_t* CoapServer::Impl::validate_identity(coap_bin_const_t* identity,
                                                            coap_session_t*, void* self) noexcept {
  try {
    return static_cast<Impl*>(self)->psk_for(
        {reinterpret_cast<const char*>(identity->s), identity->length});
  } catch (const std::exception& e) {
    spdlog::error("coap: PSK identity check failed: {}", e.what());
  } catch (...) {
    spdlog::error("coap: PSK identity check failed: not a std::exception");
  }
  return nullptr;  // refuse the handshake
}

const coap_bin_const_t* CoapServer::Impl::psk_for(std::string_view id) {
  if (registry_.find(id) != nullptr && keys_.psk(id, psk_buffer_).ok()) {
    psk_answer_.s = psk_buffer_.data();
    psk_answer_.length = psk_buffer_.size();
    return &psk_answer_;
  }
  metrics_.count_refused_identity();
  // Unauthenticated input: logged at most once a second, printable characters only.
  const std::int64_t now = now_ms();
  ++refused_since_log_;
  if (now - last_refusal_log_ms_ >= 1000) {
    std::string shown;
    for (const char c : id.substr(0, kMaxIdSize)) {
      shown.push_back(c >= 0x20 && c < 0x7f ? c : '?');
    }
    spdlog::warn(
        "coap: DTLS handshake refused: unknown PSK identity '{}' ({} refused since the last "
        "report)",
        shown, refused_since_log_);
    refused_since_log_ = 0;
    last_refusal_log_ms_ = now;
  }
  return nullptr;
}

}  // namespace spindle::gateway
