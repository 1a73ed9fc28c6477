#include "pdu_private.hpp"

namespace spindle::gateway {

ResponseClass class_of(coap_pdu_code_t code) {
  const int code_class = static_cast<int>(code) >> 5;
  if (code_class == 2) return ResponseClass::kSuccess;
  if (code_class == 4) return ResponseClass::kClientError;
  return ResponseClass::kServerError;
}

std::span<const std::uint8_t> payload_of(const coap_pdu_t* request) {
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  if (!coap_get_data(request, &length, &data) || data == nullptr) return {};
  return {data, length};
}

std::string query_value(const coap_pdu_t* request, std::string_view key) {
  coap_opt_iterator_t it;
  coap_option_iterator_init(request, &it, COAP_OPT_ALL);
  while (const coap_opt_t* option = coap_option_next(&it)) {
    if (it.number != COAP_OPTION_URI_QUERY) continue;
    const std::string_view part(reinterpret_cast<const char*>(coap_opt_value(option)),
                                coap_opt_length(option));
    if (part.size() > key.size() && part.starts_with(key) && part[key.size()] == '=') {
      return std::string(part.substr(key.size() + 1));
    }
  }
  return {};
}

int content_format_of(const coap_pdu_t* request) {
  coap_opt_iterator_t it;
  const coap_opt_t* option = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &it);
  if (option == nullptr) return -1;
  return static_cast<int>(coap_decode_var_bytes(coap_opt_value(option), coap_opt_length(option)));
}

void add_uint_option(coap_pdu_t* pdu, coap_option_num_t number, std::uint32_t value) {
  std::uint8_t buffer[4];
  const unsigned length = coap_encode_var_safe(buffer, sizeof buffer, value);
  coap_add_option(pdu, number, length, buffer);
}

coap_resource_t* make_resource(coap_context_t* context, const std::string& path, void* userdata) {
  coap_str_const_t* uri =
      coap_new_str_const(reinterpret_cast<const std::uint8_t*>(path.data()), path.size());
  coap_resource_t* resource = coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI);
  coap_resource_set_userdata(resource, userdata);
  coap_add_resource(context, resource);
  return resource;
}

}  // namespace spindle::gateway
