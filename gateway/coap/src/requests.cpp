// What every request goes through: the gate (rate limits, identity, Block1), body checks,
// the answer and its metrics, Block2 slicing of what is served from memory, the barrier
// that keeps exceptions out of libcoap, and the routing of the device POST paths.
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/blockwise.hpp"

namespace spindle::gateway {

void CoapServer::Impl::respond(CoapResource resource, coap_pdu_t* response, int code,
                               std::string_view diagnostic) {
  const auto pdu_code = static_cast<coap_pdu_code_t>(code);
  coap_pdu_set_code(response, pdu_code);
  if (!diagnostic.empty()) {
    coap_add_data(response, diagnostic.size(),
                  reinterpret_cast<const std::uint8_t*>(diagnostic.data()));
  }
  metrics_.count_response(resource, class_of(pdu_code));
}

void CoapServer::Impl::handler_failed(CoapResource resource, coap_pdu_t* response,
                                      std::string_view what) noexcept {
  try {
    spdlog::error("coap: the {} handler failed: {}", coap_resource_name(resource), what);
    respond(resource, response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "internal error");
  } catch (...) {  // the log or the answer failed too: at least the code is set
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
  }
}

bool CoapServer::Impl::admit(CoapResource resource, coap_session_t* session,
                             const coap_pdu_t* request, const DeviceRecord* device,
                             coap_pdu_t* response) {
  metrics_.count_request(resource);
  coap_opt_iterator_t it;
  // A notification re-runs the GET handler with the observe request: a 4.29 there would
  // cancel the device's subscription, so observations are not rate limited (a session
  // holds at most one per resource; queries, which would make more, are refused).
  const bool observe = coap_check_option(request, COAP_OPTION_OBSERVE, &it) != nullptr;
  // Bulk transfers (model downloads, capture uploads) have the block budget.
  const bool bulk = resource == CoapResource::kModel || resource == CoapResource::kCapture;
  RateLimiter& limiter = bulk ? block_limiter_ : limiter_;
  if (!observe && !limiter.allow(peer_key(session), now_ms())) {
    metrics_.count_rate_limited();
    add_uint_option(response, COAP_OPTION_MAXAGE, 1);
    respond(resource, response, COAP_RESPONSE_CODE_TOO_MANY_REQUESTS, "rate limit");
    return false;
  }
  if (resource != CoapResource::kCapture &&
      coap_check_option(request, COAP_OPTION_BLOCK1, &it) != nullptr) {
    // Bodies are single datagrams (max_request_payload); Block1 is reassembled only for
    // capture chunks, into one bounded buffer per device with a capture outstanding.
    add_uint_option(response, COAP_OPTION_SIZE1,
                    static_cast<std::uint32_t>(options_.max_request_payload));
    respond(resource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
            "Block1 is not supported: send the body in one request");
    return false;
  }
  if (device != nullptr && !options_.insecure && identity_of(session) != device->id) {
    respond(resource, response, COAP_RESPONSE_CODE_FORBIDDEN,
            "this resource belongs to another device");
    return false;
  }
  return true;
}

std::optional<std::span<const std::uint8_t>> CoapServer::Impl::accept_body(
    CoapResource resource, const coap_pdu_t* request, coap_pdu_t* response, std::uint16_t format,
    const std::string& device_id, std::string_view what) {
  if (content_format_of(request) != format) {
    respond(resource, response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
            std::string(what) + " must be content-format " + std::to_string(format));
    return std::nullopt;
  }
  const auto body = payload_of(request);
  if (body.size() > options_.max_request_payload) {
    add_uint_option(response, COAP_OPTION_SIZE1,
                    static_cast<std::uint32_t>(options_.max_request_payload));
    respond(resource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
            std::string(what) + " larger than " + std::to_string(options_.max_request_payload) +
                " bytes");
    record_event(device_id, "bad-" + std::string(what),
                 "oversize: " + std::to_string(body.size()) + " bytes");
    return std::nullopt;
  }
  return body;
}

void CoapServer::Impl::serve_blocks(CoapResource resource, const coap_pdu_t* request,
                                    coap_pdu_t* response, std::uint16_t content_format,
                                    std::span<const std::uint8_t> body,
                                    std::span<const std::uint8_t> etag) {
  std::optional<blockwise::BlockOption> requested;
  coap_opt_iterator_t it;
  if (const coap_opt_t* option = coap_check_option(request, COAP_OPTION_BLOCK2, &it)) {
    const auto decoded =
        blockwise::decode_block_option({coap_opt_value(option), coap_opt_length(option)});
    if (!decoded.ok()) {
      respond(resource, response, COAP_RESPONSE_CODE_BAD_OPTION, "malformed Block2 option");
      return;
    }
    requested = *decoded;
  }
  const auto slice = blockwise::block2_slice(body.size(), requested, options_.max_block_szx);
  if (!slice.ok()) {
    respond(resource, response, COAP_RESPONSE_CODE_BAD_OPTION,
            slice.status() == Status(Error::kOversize) ? "block beyond the end"
                                                       : "block size outside 64..1024");
    return;
  }
  if (!etag.empty()) coap_add_option(response, COAP_OPTION_ETAG, etag.size(), etag.data());
  add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, content_format);
  const bool blockwise = requested.has_value() || slice->option.more;
  if (blockwise) {
    std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> value{};
    const auto length = blockwise::encode_block_option(slice->option, value);
    coap_add_option(response, COAP_OPTION_BLOCK2, length.ok() ? *length : 0, value.data());
  }
  add_uint_option(response, COAP_OPTION_SIZE2, static_cast<std::uint32_t>(body.size()));
  if (slice->length > 0) coap_add_data(response, slice->length, body.data() + slice->offset);
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
  metrics_.count_response(resource, ResponseClass::kSuccess);
}

void CoapServer::Impl::record_event(std::string device_id, std::string kind, std::string detail) {
  const Status queued = writer_.submit(
      [device_id, kind, detail](Store& store) {
        return store.append_event(device_id, kind, detail, now_ms()).status();
      },
      nullptr);
  if (!queued.ok()) {
    spdlog::warn("coap: event {} for '{}' not recorded ({})", kind, device_id, queued.name());
  }
}

void CoapServer::Impl::dispatch_device_post(coap_session_t* session, const coap_pdu_t* request,
                                            coap_pdu_t* response) {
  coap_string_t* uri = coap_get_uri_path(request);
  const std::string path = uri == nullptr
                               ? std::string()
                               : std::string(reinterpret_cast<const char*>(uri->s), uri->length);
  coap_delete_string(uri);
  // rd/{id}, d/{id}/status, d/{id}/capture, t/{id}
  std::string_view rest = path;
  CoapResource resource = CoapResource::kOther;
  std::string_view id;
  if (rest.starts_with("rd/")) {
    resource = CoapResource::kRefresh;
    id = rest.substr(3);
  } else if (rest.starts_with("t/")) {
    resource = CoapResource::kTelemetry;
    id = rest.substr(2);
  } else if (rest.starts_with("d/") && rest.ends_with("/status") && rest.size() > 9) {
    resource = CoapResource::kStatus;
    id = rest.substr(2, rest.size() - 9);
  } else if (rest.starts_with("d/") && rest.ends_with("/capture") && rest.size() > 10) {
    resource = CoapResource::kCapture;
    id = rest.substr(2, rest.size() - 10);
  }
  DeviceRecord* device = resource == CoapResource::kOther ? nullptr : registry_.find(id);
  if (device == nullptr) {
    metrics_.count_request(CoapResource::kOther);
    respond(CoapResource::kOther, response, COAP_RESPONSE_CODE_NOT_FOUND, "");
    return;
  }
  // Each handler behind its own barrier, so that a failure is counted against its resource.
  guard(resource, response, [&] {
    switch (resource) {
      case CoapResource::kRefresh:
        handle_refresh(*device, session, request, response);
        return;
      case CoapResource::kStatus:
        handle_status(*device, session, request, response);
        return;
      case CoapResource::kTelemetry:
        handle_telemetry(*device, session, request, response);
        return;
      case CoapResource::kCapture:
        handle_capture(*device, session, request, response);
        return;
      default:
        return;
    }
  });
}

}  // namespace spindle::gateway
