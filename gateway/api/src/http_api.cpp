#include "spindle/gateway/http_api.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "http_api_private.hpp"
#include "request_private.hpp"
#include "spindle/host/text.hpp"

namespace spindle::gateway {
namespace {

using api::Answer;
using api::error_answer;

constexpr time_t kIoTimeoutSeconds = 5;
constexpr time_t kKeepAliveSeconds = 5;
constexpr std::size_t kKeepAliveMaxRequests = 100;

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

void send(httplib::Response& response, const Answer& answer) {
  response.status = answer.status;
  for (const auto& [name, value] : answer.headers)
    response.set_header(name.c_str(), value);
  // Answers carry device keys; nothing in between should keep a copy.
  response.set_header("Cache-Control", "no-store");
  if (!answer.content_type.empty()) {
    response.set_content(answer.content, answer.content_type);
    return;
  }
  response.set_content(api::dump_json(answer.body), "application/json");
}

void send_internal_error(httplib::Response& response) {
  response.status = api::kHttpInternalError;
  response.set_content(R"({"error":"internal error: see the gateway log"})", "application/json");
}

enum class BodyRead { kComplete, kTooLarge, kFailed };

// Reads the request body into `out`, at most `limit` bytes, or reads and drops it when `out`
// is null. A request with neither Content-Length nor Transfer-Encoding has no body
// (RFC 9112 section 6.3); httplib would instead wait for the connection to close.
BodyRead read_body(const httplib::Request& request, httplib::Response& response,
                   const httplib::ContentReader& content_reader, std::size_t limit,
                   std::string* out) {
  if (!request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) {
    return BodyRead::kComplete;
  }
  bool too_large = false;
  bool complete = false;
  if (request.is_multipart_form_data()) {
    // Never kept: httplib's multipart reader needs both callbacks even to drop the parts.
    complete = content_reader([](const httplib::MultipartFormData&) { return true; },
                              [](const char*, std::size_t) { return true; });
  } else {
    complete = content_reader([&](const char* data, std::size_t size) {
      if (out == nullptr) return true;
      if (size > limit - out->size()) {
        // Reading stops here. With Content-Length httplib already skipped the body; an
        // oversized chunked body is left unread, and the rest of it fails to parse as the
        // next request on the connection, which httplib then drops.
        too_large = true;
        return false;
      }
      out->append(data, size);
      return true;
    });
  }
  // httplib answers 413 itself when Content-Length is above set_payload_max_length.
  if (too_large || response.status == api::kHttpPayloadTooLarge) return BodyRead::kTooLarge;
  return complete ? BodyRead::kComplete : BodyRead::kFailed;
}

}  // namespace

HttpApi::Impl::Impl(HttpApiOptions options, Writer& writer, std::unique_ptr<Store> reader,
                    const SiteKeys& keys, Metrics& metrics, FleetListener& listener,
                    RolloutDriver* rollouts)
    : options_(std::move(options)),
      writer_(writer),
      reader_(std::move(reader)),
      keys_(keys),
      metrics_(metrics),
      listener_(listener),
      rollouts_(rollouts) {
  for (const auto& signer : options_.signers)
    trusted_keys_.push_back({crypto::as_bytes(signer.kid), signer.public_key});
  // Compared as digests, so the comparison takes the same time whatever the length sent.
  token_digest_ = crypto::Sha256::of(crypto::as_bytes(options_.token));

  server_.set_payload_max_length(
      std::max(options_.max_body_bytes, options_.max_rollout_body_bytes));
  server_.set_read_timeout(kIoTimeoutSeconds, 0);
  server_.set_write_timeout(kIoTimeoutSeconds, 0);
  server_.set_keep_alive_timeout(kKeepAliveSeconds);
  server_.set_keep_alive_max_count(kKeepAliveMaxRequests);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second gateway
  // bind the same port silently and receive half the requests.
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
    log(request, response);
  });
  server_.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr) {
        spdlog::error("http api: {} {}: unexpected exception", request.method, request.path);
        send_internal_error(response);
      });
  // Answers httplib makes itself (no route, body too large, malformed request) in JSON too.
  server_.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& request, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        try {
          send(response, default_error(request, response.status));
        } catch (...) {
          send_internal_error(response);
        }
        return httplib::Server::HandlerResponse::Handled;
      }));

  route_get("/healthz", &Impl::healthz, false);
  routes_.emplace_back("GET", std::regex("/metrics"));
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    try {
      response.status = api::kHttpOk;
      response.set_content(metrics_.render(), "text/plain; version=0.0.4");
    } catch (...) {
      send_internal_error(response);
    }
  });
  route_post("/api/v1/devices", &Impl::provision_devices);
  route_get("/api/v1/devices", &Impl::list_devices, true);
  route_get(R"(/api/v1/devices/([^/]+))", &Impl::get_device, true);
  route_get(R"(/api/v1/devices/([^/]+)/deployments)", &Impl::list_device_deployments, true);
  route_get(R"(/api/v1/devices/([^/]+)/keys)", &Impl::get_device_keys, true);
  route_get(R"(/api/v1/devices/([^/]+)/drift)", &Impl::get_device_drift, true);
  route_post(R"(/api/v1/devices/([^/]+)/attest)", &Impl::attest_device);
  route_post(R"(/api/v1/devices/([^/]+)/tags)", &Impl::set_device_tags);
  route_post(R"(/api/v1/devices/([^/]+)/calibration/reset)", &Impl::reset_calibration);
  route_post("/api/v1/models", &Impl::upload_model);
  route_get("/api/v1/models", &Impl::list_models, true);
  route_post("/api/v1/deployments", &Impl::add_deployments);
  route_get("/api/v1/deployments", &Impl::list_deployments, true);
  route_get("/api/v1/telemetry", &Impl::query_telemetry, true);
  route_get("/api/v1/events", &Impl::query_events, true);
  route_post(R"(/api/v1/devices/([^/]+)/captures)", &Impl::request_capture);
  route_get("/api/v1/captures", &Impl::list_captures, true);
  route_get(R"(/api/v1/captures/([^/]+))", &Impl::get_capture, true);
  route_get(R"(/api/v1/captures/([^/]+)/data)", &Impl::capture_data, true);
  route_post("/api/v1/rollouts", &Impl::create_rollout, options_.max_rollout_body_bytes);
  route_get("/api/v1/rollouts", &Impl::list_rollouts, true);
  route_get(R"(/api/v1/rollouts/([^/]+))", &Impl::get_rollout, true);
  route_post(R"(/api/v1/rollouts/([^/]+)/pause)", &Impl::pause_rollout);
  route_post(R"(/api/v1/rollouts/([^/]+)/resume)", &Impl::resume_rollout);
  route_post(R"(/api/v1/rollouts/([^/]+)/abort)", &Impl::abort_rollout);

  // Every other request that may carry a body (a POST to a path that takes none, PUT,
  // PATCH, DELETE) is answered here rather than by httplib, which would wait for the
  // connection to close when such a request announces no length (curl -X DELETE): 405 on a
  // known path, else 404.
  const auto refuse_method = [this](const httplib::Request& request, httplib::Response& response,
                                    const httplib::ContentReader& content_reader) {
    try {
      (void)read_body(request, response, content_reader, 0, nullptr);
      send(response, default_error(request, api::kHttpNotFound));
    } catch (...) {
      send_internal_error(response);
    }
  };
  server_.Post(".*", refuse_method);  // after the POST routes: handlers match in order
  server_.Put(".*", refuse_method);
  server_.Patch(".*", refuse_method);
  server_.Delete(".*", refuse_method);
}

// ---- Plumbing ----

void HttpApi::Impl::route_get(const std::string& pattern, Handler handler, bool authenticated) {
  routes_.emplace_back("GET", std::regex(pattern));
  server_.Get(pattern, [this, handler, authenticated](const httplib::Request& request,
                                                      httplib::Response& response) {
    try {
      if (authenticated) {
        if (auto refused = authorize(request)) {
          send(response, *refused);
          return;
        }
      }
      serve(request, response, handler, std::string());
    } catch (...) {
      send_internal_error(response);
    }
  });
}

// POST handlers read the body themselves (httplib's content reader): httplib would otherwise
// parse a body sent as application/x-www-form-urlencoded (curl's default) into parameters
// and refuse one longer than 8 KiB.
void HttpApi::Impl::route_post(const std::string& pattern, Handler handler, std::size_t max_body) {
  if (max_body == 0) max_body = options_.max_body_bytes;
  routes_.emplace_back("POST", std::regex(pattern));
  server_.Post(pattern, [this, handler, max_body](const httplib::Request& request,
                                                  httplib::Response& response,
                                                  const httplib::ContentReader& content_reader) {
    try {
      const bool multipart = request.is_multipart_form_data();
      const auto refused = authorize(request);
      std::string body;
      // A body that will not be used is read and dropped, so the connection stays usable.
      const BodyRead read = read_body(request, response, content_reader, max_body,
                                      refused || multipart ? nullptr : &body);
      if (read == BodyRead::kTooLarge) {
        send(response, default_error(request, api::kHttpPayloadTooLarge));
      } else if (read == BodyRead::kFailed) {
        send(response, error_answer(api::kHttpBadRequest,
                                    "the request body could not be read (cut short, or a "
                                    "malformed chunked encoding)"));
      } else if (refused) {
        send(response, *refused);
      } else if (multipart) {
        send(response, error_answer(api::kHttpUnsupportedMediaType,
                                    "multipart bodies are not accepted: send JSON, or the model "
                                    "bytes as application/octet-stream"));
      } else {
        serve(request, response, handler, body);
      }
    } catch (...) {
      send_internal_error(response);
    }
  });
}

void HttpApi::Impl::serve(const httplib::Request& request, httplib::Response& response,
                          Handler handler, const std::string& body) {
  try {
    send(response, (this->*handler)(request, body));
  } catch (const std::exception& error) {
    spdlog::error("http api: {} {}: {}", request.method, request.path, error.what());
    send_internal_error(response);
  }
}

std::optional<Answer> HttpApi::Impl::authorize(const httplib::Request& request) const {
  const auto refuse = [](std::string message, bool invalid_token) {
    Answer answer = error_answer(api::kHttpUnauthorized, std::move(message));
    answer.headers.emplace_back("WWW-Authenticate",
                                invalid_token ? R"(Bearer realm="spindle", error="invalid_token")"
                                              : R"(Bearer realm="spindle")");
    return answer;
  };
  if (options_.token.empty()) {
    return refuse(
        "the API is closed: the gateway was started without an API token; restart it with one",
        false);
  }
  constexpr std::string_view kScheme = "Bearer ";
  const std::string header = request.get_header_value("Authorization");
  if (!starts_with_ignoring_case(header, kScheme)) {
    return refuse("missing bearer token: send the header \"Authorization: Bearer <token>\"", false);
  }
  const std::string_view token = host::trim(std::string_view(header).substr(kScheme.size()));
  if (!crypto::equal_constant_time(crypto::Sha256::of(crypto::as_bytes(token)), token_digest_)) {
    return refuse("wrong bearer token: send the token the gateway was started with", true);
  }
  return std::nullopt;
}

Answer HttpApi::Impl::default_error(const httplib::Request& request, int status) const {
  switch (status) {
    case api::kHttpNotFound: {
      if (request.path.starts_with("/api/v1/")) {
        if (auto refused = authorize(request)) return *refused;
      }
      std::set<std::string> methods;  // sorted, each once
      for (const auto& [method, pattern] : routes_) {
        if (method != request.method && std::regex_match(request.path, pattern)) {
          methods.insert(method);
        }
      }
      std::string allowed;
      for (const auto& method : methods)
        allowed += (allowed.empty() ? "" : ", ") + method;
      if (!allowed.empty()) {
        Answer answer =
            error_answer(api::kHttpMethodNotAllowed, request.method + " is not allowed on " +
                                                         request.path + ": use " + allowed);
        answer.headers.emplace_back("Allow", allowed);
        return answer;
      }
      return error_answer(api::kHttpNotFound,
                          "no endpoint " + request.method + " " + request.path +
                              ": the endpoints are listed in docs/gateway/api.md");
    }
    case api::kHttpPayloadTooLarge:
      return error_answer(
          api::kHttpPayloadTooLarge,
          "the request body is larger than the gateway's limit of " +
              std::to_string(request.path == "/api/v1/rollouts" ? options_.max_rollout_body_bytes
                                                                : options_.max_body_bytes) +
              " bytes" +
              (request.path == "/api/v1/rollouts"
                   ? std::string(": split the devices over several rollouts")
                   : std::string()));
    case api::kHttpBadRequest:
      return error_answer(api::kHttpBadRequest, "malformed HTTP request");
    default:
      return error_answer(status, "HTTP error " + std::to_string(status));
  }
}

void HttpApi::Impl::log(const httplib::Request& request, const httplib::Response& response) {
  metrics_.count_http_request(response.status);
  spdlog::debug("http api: {} {} from {}:{} -> {} ({} bytes)", request.method, request.path,
                request.remote_addr, request.remote_port, response.status, response.body.size());
}

// ---- Lifecycle ----

Status HttpApi::Impl::start() {
  const std::lock_guard lock(state_mutex_);
  if (started_ || stopped_) return Error::kInvalidState;
  int bound = -1;
  if (options_.port == 0) {
    bound = server_.bind_to_any_port(options_.address);
  } else if (server_.bind_to_port(options_.address, options_.port)) {
    bound = options_.port;
  }
  if (bound <= 0 || bound > std::numeric_limits<std::uint16_t>::max()) {
    spdlog::error("http api: cannot listen on {}:{}: {}", options_.address, options_.port,
                  std::strerror(errno));
    return Error::kIoError;
  }
  port_.store(static_cast<std::uint16_t>(bound));
  started_ = true;
  if (options_.token.empty()) {
    spdlog::warn("http api: no API token configured: every /api/v1 request will be refused");
  }
  if (options_.signers.empty()) {
    spdlog::warn("http api: no trusted signing key configured: deployments will be refused");
  }
  spdlog::info("http api: listening on {}:{}", options_.address, bound);
  return kOk;
}

void HttpApi::Impl::run() {
  {
    const std::lock_guard lock(state_mutex_);
    if (!started_ || stopped_) return;
  }
  // A stop() from here on closes the socket, which ends the accept loop wherever it is.
  if (!server_.listen_after_bind()) spdlog::error("http api: the accept loop failed");
}

void HttpApi::Impl::stop() {
  {
    const std::lock_guard lock(state_mutex_);
    stopped_ = true;
  }
  server_.close_listener();
}

// ---- HttpApi ----

HttpApi::HttpApi(HttpApiOptions options, Writer& writer, std::unique_ptr<Store> reader,
                 const SiteKeys& keys, Metrics& metrics, FleetListener& listener,
                 RolloutDriver* rollouts)
    : impl_(std::make_unique<Impl>(std::move(options), writer, std::move(reader), keys, metrics,
                                   listener, rollouts)) {}

HttpApi::~HttpApi() = default;

Status HttpApi::start() {
  return impl_->start();
}

std::uint16_t HttpApi::port() const {
  return impl_->port();
}

void HttpApi::run() {
  impl_->run();
}

void HttpApi::stop() {
  impl_->stop();
}

}  // namespace spindle::gateway
