// The operator API's data capture endpoints (docs/gateway/api.md).
#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "capture_export_private.hpp"
#include "endpoints_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "spindle/gateway/capture_policy.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

using api::Answer;
using api::error_answer;
using api::json_answer;

Answer HttpApi::Impl::request_capture(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) {
    return error_answer(api::kHttpBadRequest,
                        "the body must be a JSON object: {\"windows\": 50, \"kind\": "
                        "\"features\", \"label\": \"healthy\"}");
  }
  const auto windows = parsed.find("windows");
  if (windows == parsed.end() || !windows->is_number_integer() || *windows < 1 ||
      *windows > static_cast<std::int64_t>(capture::kMaxWindows)) {
    return error_answer(api::kHttpBadRequest, "\"windows\" must be an integer from 1 to " +
                                                  std::to_string(capture::kMaxWindows));
  }
  const auto kind_entry = parsed.find("kind");
  const auto kind = kind_entry != parsed.end() && kind_entry->is_string()
                        ? capture::kind_from_name(kind_entry->get<std::string>())
                        : Result<capture::Kind>(Error::kInvalidValue);
  if (!kind.ok()) {
    return error_answer(api::kHttpBadRequest, "\"kind\" must be \"features\" or \"raw\"");
  }
  std::string label;
  if (const auto entry = parsed.find("label"); entry != parsed.end()) {
    if (!entry->is_string() || !valid_capture_label(entry->get<std::string>())) {
      return error_answer(api::kHttpBadRequest,
                          "\"label\" must be a string of at most " +
                              std::to_string(kMaxCaptureLabelSize) +
                              " printable ASCII characters without , \" or \\");
    }
    label = entry->get<std::string>();
  }
  for (const auto& [key, value] : parsed.items()) {
    if (key != "windows" && key != "kind" && key != "label") {
      return error_answer(api::kHttpBadRequest, "unknown member \"" + key.substr(0, 64) +
                                                    "\": give windows, kind and label");
    }
  }
  // The node's window shape is known only from its first chunk: bound by the largest window
  // of the kind the protocol allows.
  const std::size_t per_window =
      *kind == capture::Kind::kRaw ? capture::kMaxChunkData : kMaxFeatures * sizeof(float);
  const auto count = windows->get<std::uint32_t>();
  if (std::size_t{count} * per_window > options_.max_capture_bytes) {
    return error_answer(
        api::kHttpPayloadTooLarge,
        std::to_string(count) + " " + capture::kind_name(*kind) + " windows may take up to " +
            std::to_string(std::size_t{count} * per_window) + " bytes (" +
            std::to_string(per_window) + " per window), above the gateway's capture limit of " +
            std::to_string(options_.max_capture_bytes) +
            " bytes: ask for fewer windows, or raise --max-capture-bytes");
  }
  StoredCapture capture;
  capture.device_id = id;
  capture.kind = capture::kind_name(*kind);
  capture.label = label;
  capture.windows_requested = count;
  capture.created_ms = now_ms();
  std::optional<StoredCapture> busy;
  const Status written = writer_.run([&](Store& store) -> Status {
    SPINDLE_TRY_ASSIGN(const auto active, store.list_captures(id, true));
    if (!active.empty()) {
      busy = active.front();
      return kOk;
    }
    SPINDLE_TRY_ASSIGN(capture, store.add_capture(capture));
    return store
        .append_event(id, "capture-requested",
                      "capture " + std::to_string(capture.id) + ": " + std::to_string(count) + " " +
                          capture.kind + " windows, label \"" + label + "\"",
                      capture.created_ms)
        .status();
  });
  if (!written.ok()) return api::write_failed(written);
  if (busy) {
    return error_answer(api::kHttpConflict, "device " + id + " is already collecting capture " +
                                                std::to_string(busy->id) + " (" +
                                                std::to_string(busy->windows_received) + " of " +
                                                std::to_string(busy->windows_requested) +
                                                " windows): wait for it to complete");
  }
  metrics_.count_capture_requested();
  listener_.capture_requested(capture);
  return json_answer(api::kHttpCreated, api::capture_view(capture));
}

Answer HttpApi::Impl::list_captures(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {"device", "limit"})) return *bad;
  std::string device;
  std::int64_t limit = api::kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", device)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, api::kMaxQueryLimit, limit)) return *bad;
  const auto captures =
      read_store([&device](Store& store) { return store.list_captures(device, false); });
  if (!captures.ok()) return api::read_failed(captures.status());
  return json_answer(
      api::kHttpOk,
      {{"captures", api::views(*captures, api::capture_view, static_cast<std::size_t>(limit))}});
}

std::optional<Answer> HttpApi::Impl::find_capture(const httplib::Request& request,
                                                  StoredCapture& out) {
  const std::string text = request.matches[1].str();
  std::int64_t id = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), id);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size() || id < 1) {
    return error_answer(api::kHttpBadRequest,
                        "capture id \"" + text.substr(0, 64) + "\" in the path is not a number");
  }
  const auto found = read_store([id](Store& store) { return store.get_capture(id); });
  if (found.status() == Status(Error::kNotFound)) {
    return error_answer(api::kHttpNotFound, "no capture " + text +
                                                ": list them with GET "
                                                "/api/v1/captures");
  }
  if (!found.ok()) return api::read_failed(found.status());
  out = *found;
  return std::nullopt;
}

Answer HttpApi::Impl::get_capture(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  StoredCapture capture;
  if (auto bad = find_capture(request, capture)) return *bad;
  return json_answer(api::kHttpOk, api::capture_view(capture));
}

Answer HttpApi::Impl::capture_data(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {"format"})) return *bad;
  std::string format = "csv";
  if (auto bad = api::read_text(request, "format", 8, format)) return *bad;
  if (format != "csv" && format != "raw") {
    return error_answer(api::kHttpBadRequest,
                        "query parameter format=\"" + format + "\" is invalid: give csv or raw");
  }
  StoredCapture capture;
  if (auto bad = find_capture(request, capture)) return *bad;
  const bool raw_samples = capture.kind == capture::kind_name(capture::Kind::kRaw);
  if (format == "raw" && !raw_samples) {
    return error_answer(api::kHttpBadRequest, "capture " + std::to_string(capture.id) +
                                                  " holds features: its only export is format=csv");
  }
  const auto chunks =
      read_store([&capture](Store& store) { return store.capture_chunks(capture.id); });
  if (!chunks.ok()) return api::read_failed(chunks.status());
  Answer answer;
  answer.status = api::kHttpOk;
  const std::string name = "capture-" + std::to_string(capture.id);
  if (!raw_samples) {
    answer.content_type = "text/csv";
    answer.content = api::features_csv(capture, *chunks);
    answer.headers.emplace_back("Content-Disposition", "attachment; filename=" + name + ".csv");
  } else if (format == "csv") {
    answer.content_type = "text/csv";
    answer.content = api::samples_csv(capture, *chunks);
    answer.headers.emplace_back("Content-Disposition", "attachment; filename=" + name + ".csv");
  } else {
    answer.content_type = "audio/wav";
    answer.content = api::samples_wav(capture, *chunks);
    answer.headers.emplace_back("Content-Disposition", "attachment; filename=" + name + ".wav");
  }
  return answer;
}

}  // namespace spindle::gateway
