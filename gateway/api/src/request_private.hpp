// What an operator API handler works with: the answer it returns and the checked reading
// of query parameters. Every reader answers 400 naming the parameter and what it must be,
// so a handler is a sequence of `if (auto bad = read_...(...)) return *bad;`.
// Private to gateway/api.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spindle::gateway::api {

// HTTP status codes the API answers with.
inline constexpr int kHttpOk = 200;
inline constexpr int kHttpCreated = 201;
inline constexpr int kHttpBadRequest = 400;
inline constexpr int kHttpUnauthorized = 401;
inline constexpr int kHttpNotFound = 404;
inline constexpr int kHttpMethodNotAllowed = 405;
inline constexpr int kHttpConflict = 409;
inline constexpr int kHttpPayloadTooLarge = 413;
inline constexpr int kHttpUnsupportedMediaType = 415;
inline constexpr int kHttpInternalError = 500;
inline constexpr int kHttpUnavailable = 503;

struct Answer {
  int status = kHttpOk;
  nlohmann::json body;
  std::vector<std::pair<std::string, std::string>> headers;
  // A non-JSON answer (a data export): sent instead of `body` when content_type is set.
  std::string content_type;
  std::string content;
};

inline Answer json_answer(int status, nlohmann::json body) {
  return Answer{status, std::move(body), {}, {}, {}};
}
// {"error": message}: the message names the problem and, where there is one, the fix.
inline Answer error_answer(int status, std::string message) {
  return Answer{status, {{"error", std::move(message)}}, {}, {}, {}};
}

// What a device or model id may be, for error messages.
std::string id_rule();

// Serialises without throwing: invalid UTF-8 in stored text (a node's SenML string, say)
// is replaced rather than failing the answer.
std::string dump_json(const nlohmann::json& body);

// 400 when the request carries a parameter not in `known`, or one of them more than once.
std::optional<Answer> check_parameters(const httplib::Request& request,
                                       std::initializer_list<std::string_view> known);

// Each reader leaves `out` untouched when the parameter is absent.
// A device or model id (spindle::check_id).
std::optional<Answer> read_id(const httplib::Request& request, const char* name, std::string& out);
// Free text of 1..max_size bytes.
std::optional<Answer> read_text(const httplib::Request& request, const char* name,
                                std::size_t max_size, std::string& out);
// A decimal integer in [min, max].
std::optional<Answer> read_integer(const httplib::Request& request, const char* name,
                                   std::int64_t min, std::int64_t max, std::int64_t& out);
// A finite decimal number (Unix seconds, possibly fractional).
std::optional<Answer> read_number(const httplib::Request& request, const char* name, double& out);

// Parses a JSON request body that must be an object holding an array `member` of
// 1..max_entries objects. Errors: 400 naming what is wrong.
std::optional<Answer> parse_entries(const std::string& body, const char* member,
                                    std::size_t max_entries, nlohmann::json& entries);

}  // namespace spindle::gateway::api
