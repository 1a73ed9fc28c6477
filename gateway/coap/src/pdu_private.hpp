// libcoap's PDU and resource calls as the handlers use them: reading a request's payload,
// query and Content-Format, adding integer options, creating a resource for a path.
#pragma once

#include <coap3/coap.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "spindle/gateway/metrics.hpp"

namespace spindle::gateway {

// 2.xx, 4.xx or 5.xx.
ResponseClass class_of(coap_pdu_code_t code);

// The request's payload; empty without one.
std::span<const std::uint8_t> payload_of(const coap_pdu_t* request);

// The value of `key` in the request's query (key=value&...), or "" when absent.
std::string query_value(const coap_pdu_t* request, std::string_view key);

// -1 when the request has no Content-Format option.
int content_format_of(const coap_pdu_t* request);

void add_uint_option(coap_pdu_t* pdu, coap_option_num_t number, std::uint32_t value);

// A resource for `path` (its URI owned by the resource), added to `context`.
coap_resource_t* make_resource(coap_context_t* context, const std::string& path, void* userdata);

}  // namespace spindle::gateway
