#include "gateway_client_private.hpp"

#include <algorithm>
#include <stdexcept>

#include "spindle/cli/guarded_main.hpp"

namespace spindle::ctl {
namespace {

constexpr std::size_t kBodyExcerpt = 200;
constexpr std::size_t kUploadChunk = 64 * 1024;
constexpr time_t kConnectTimeoutS = 5;
constexpr time_t kReadTimeoutS = 60;  // a large provisioning or deployment batch commits

constexpr int kUnauthorized = 401;

}  // namespace

GatewayClient::GatewayClient(const std::string& api_url, const std::string& token)
    : url_(api_url), client_(api_url) {
  if (api_url.rfind("http://", 0) != 0 || !client_.is_valid()) {
    throw cli::UsageError("--api '" + api_url +
                          "' is not an http://host:port URL of the gateway's operator API");
  }
  client_.set_bearer_token_auth(token.c_str());
  client_.set_connection_timeout(kConnectTimeoutS);
  client_.set_read_timeout(kReadTimeoutS);
  client_.set_write_timeout(kReadTimeoutS);
}

ApiAnswer GatewayClient::finish(const httplib::Result& result, const std::string& method,
                                const std::string& path) const {
  if (!result) {
    throw std::runtime_error("cannot reach the gateway at " + url_ + " (" + method + " " + path +
                             ": " + httplib::to_string(result.error()) +
                             "): is spindle-gateway running there? (--api)");
  }
  ApiAnswer answer;
  answer.status = result->status;
  answer.raw = result->body;
  answer.body = nlohmann::json::parse(result->body, nullptr, false);
  if (answer.body.is_discarded()) answer.body = nullptr;
  if (answer.status == kUnauthorized) {
    throw std::runtime_error("the gateway at " + url_ + " refused the API token (401 " +
                             error_of(answer) +
                             "): give --token-file the gateway's DATA-DIR/api-token");
  }
  return answer;
}

ApiAnswer GatewayClient::get(const std::string& path) {
  return finish(client_.Get(path), "GET", path);
}

ApiAnswer GatewayClient::post_json(const std::string& path, const nlohmann::json& body) {
  return finish(client_.Post(path, body.dump(), "application/json"), "POST", path);
}

ApiAnswer GatewayClient::post_bytes(const std::string& path, std::span<const std::uint8_t> body,
                                    const std::function<void(std::size_t, std::size_t)>& progress) {
  const auto provider = [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
    const std::size_t n = std::min({length, kUploadChunk, body.size() - offset});
    if (!sink.write(reinterpret_cast<const char*>(body.data() + offset), n)) return false;
    progress(offset + n, body.size());
    return true;
  };
  return finish(client_.Post(path, body.size(), provider, "application/octet-stream"), "POST",
                path);
}

std::string GatewayClient::error_of(const ApiAnswer& answer) {
  if (answer.body.is_object() && answer.body.contains("error") &&
      answer.body["error"].is_string()) {
    return answer.body["error"].get<std::string>();
  }
  return answer.raw.size() <= kBodyExcerpt ? answer.raw
                                           : answer.raw.substr(0, kBodyExcerpt) + "...";
}

nlohmann::json GatewayClient::expect(const ApiAnswer& answer, std::initializer_list<int> ok,
                                     const std::string& what) const {
  if (std::find(ok.begin(), ok.end(), answer.status) == ok.end()) {
    throw std::runtime_error(what + ": the gateway answered " + std::to_string(answer.status) +
                             ": " + error_of(answer));
  }
  if (answer.body.is_null()) {
    throw std::runtime_error(what + ": the gateway's answer is not JSON: " + error_of(answer));
  }
  return answer.body;
}

}  // namespace spindle::ctl
