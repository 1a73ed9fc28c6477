#include "request_private.hpp"

#include <charconv>
#include <cmath>
#include <set>
#include <system_error>

#include "spindle/protocol/limits.hpp"

namespace spindle::gateway::api {
namespace {

std::string shown(std::string_view text) {
  // Enough of the value to recognise it, never a whole hostile megabyte in an answer.
  constexpr std::size_t kShown = 64;
  std::string out = "\"";
  out += text.substr(0, kShown);
  if (text.size() > kShown) out += "...";
  out += "\"";
  return out;
}

Answer bad_parameter(const char* name, const std::string& value, const std::string& expected) {
  return error_answer(kHttpBadRequest, std::string("query parameter ") + name + "=" + shown(value) +
                                           " is invalid: " + expected);
}

}  // namespace

std::string id_rule() {
  return "ids are 1.." + std::to_string(kMaxIdSize) + " characters of A-Z a-z 0-9 . _ -";
}

std::string dump_json(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<Answer> check_parameters(const httplib::Request& request,
                                       std::initializer_list<std::string_view> known) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : request.params) {
    bool is_known = false;
    for (const auto candidate : known)
      is_known = is_known || candidate == name;
    if (!is_known) {
      std::string list;
      for (const auto candidate : known)
        list += (list.empty() ? "" : ", ") + std::string(candidate);
      return error_answer(kHttpBadRequest, "unknown query parameter " + shown(name) +
                                               ": this endpoint takes " +
                                               (list.empty() ? std::string("none") : list));
    }
    if (!seen.insert(name).second) {
      return error_answer(kHttpBadRequest,
                          "query parameter " + name + " is given more than once: give it once");
    }
  }
  return std::nullopt;
}

std::optional<Answer> read_id(const httplib::Request& request, const char* name, std::string& out) {
  if (!request.has_param(name)) return std::nullopt;
  std::string value = request.get_param_value(name);
  if (!check_id(value).ok()) {
    return bad_parameter(name, value, id_rule());
  }
  out = std::move(value);
  return std::nullopt;
}

std::optional<Answer> read_text(const httplib::Request& request, const char* name,
                                std::size_t max_size, std::string& out) {
  if (!request.has_param(name)) return std::nullopt;
  std::string value = request.get_param_value(name);
  if (value.empty() || value.size() > max_size) {
    return bad_parameter(name, value, "give 1.." + std::to_string(max_size) + " characters");
  }
  out = std::move(value);
  return std::nullopt;
}

std::optional<Answer> read_integer(const httplib::Request& request, const char* name,
                                   std::int64_t min, std::int64_t max, std::int64_t& out) {
  if (!request.has_param(name)) return std::nullopt;
  const std::string value = request.get_param_value(name);
  std::int64_t parsed = 0;
  const char* end = value.data() + value.size();
  const auto [stop, error] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || error != std::errc() || stop != end || parsed < min || parsed > max) {
    return bad_parameter(
        name, value, "give an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  out = parsed;
  return std::nullopt;
}

std::optional<Answer> read_number(const httplib::Request& request, const char* name, double& out) {
  if (!request.has_param(name)) return std::nullopt;
  const std::string value = request.get_param_value(name);
  double parsed = 0.0;
  const char* end = value.data() + value.size();
  const auto [stop, error] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || error != std::errc() || stop != end || !std::isfinite(parsed)) {
    return bad_parameter(name, value, "give Unix seconds as a decimal number, e.g. 1763800000.5");
  }
  out = parsed;
  return std::nullopt;
}

std::optional<Answer> parse_entries(const std::string& body, const char* member,
                                    std::size_t max_entries, nlohmann::json& entries) {
  const std::string shape = std::string("send {\"") + member + "\": [...]} with 1.." +
                            std::to_string(max_entries) + " entries";
  auto document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded()) {
    return error_answer(kHttpBadRequest, "the request body is not valid JSON: " + shape);
  }
  if (!document.is_object() || !document.contains(member) || !document[member].is_array()) {
    return error_answer(kHttpBadRequest,
                        std::string("the request body has no \"") + member + "\" array: " + shape);
  }
  auto& array = document[member];
  if (array.empty() || array.size() > max_entries) {
    return error_answer(kHttpBadRequest, std::string("\"") + member + "\" holds " +
                                             std::to_string(array.size()) + " entries: " + shape);
  }
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_object()) {
      return error_answer(kHttpBadRequest, std::string(member) + "[" + std::to_string(i) +
                                               "] is not an object: " + shape);
    }
  }
  entries = std::move(array);
  return std::nullopt;
}

}  // namespace spindle::gateway::api
