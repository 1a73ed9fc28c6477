// spindlectl's client of the gateway's operator API (docs/gateway/api.md): bearer token,
// timeouts, JSON in and out, and errors an operator can act on.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

namespace spindle::ctl {

struct ApiAnswer {
  int status = 0;
  nlohmann::json body;  // null when the answer is not JSON
  std::string raw;
};

class GatewayClient {
 public:
  // Throws cli::UsageError when `api_url` is not an http:// URL httplib can use.
  GatewayClient(const std::string& api_url, const std::string& token);

  // Each sends one request and returns the answer, whatever its status, except that a 401
  // (the token) and a failure to reach the gateway throw std::runtime_error saying so.
  ApiAnswer get(const std::string& path);
  ApiAnswer post_json(const std::string& path, const nlohmann::json& body);
  // `progress(sent, total)` is called as the body goes out.
  ApiAnswer post_bytes(const std::string& path, std::span<const std::uint8_t> body,
                       const std::function<void(std::size_t, std::size_t)>& progress);

  // The answer's JSON when its status is one of `ok`; otherwise throws std::runtime_error:
  // "<what>: the gateway answered <status>: <its error message>".
  nlohmann::json expect(const ApiAnswer& answer, std::initializer_list<int> ok,
                        const std::string& what) const;
  // The error message of a failed answer (its "error" field, else the start of its body).
  static std::string error_of(const ApiAnswer& answer);

  const std::string& url() const { return url_; }

 private:
  ApiAnswer finish(const httplib::Result& result, const std::string& method,
                   const std::string& path) const;

  std::string url_;
  httplib::Client client_;
};

}  // namespace spindle::ctl
