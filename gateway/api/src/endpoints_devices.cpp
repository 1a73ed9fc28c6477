// The operator API's health and device endpoints (docs/gateway/api.md).
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "endpoints_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/device_selector.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

using api::Answer;
using api::error_answer;
using api::json_answer;
using nlohmann::json;

// ---- Health ----

Answer HttpApi::Impl::healthz(const httplib::Request&, const std::string&) {
  // An indexed lookup of a key that cannot exist: answers "not found" when the database is
  // readable.
  const Status status = read_store([](Store& store) { return store.get_model("").status(); });
  if (status.ok() || status == Status(Error::kNotFound)) {
    return json_answer(api::kHttpOk, {{"status", "ok"}});
  }
  return json_answer(api::kHttpUnavailable,
                     {{"status", "unavailable"},
                      {"error", std::string("the store cannot be read (") + status.name() +
                                    "): see the gateway log"}});
}

// ---- Devices ----

Answer HttpApi::Impl::provision_devices(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  json parsed;
  if (auto bad = api::parse_entries(body, "devices", api::kMaxBatchEntries, parsed)) return *bad;
  const json& entries = parsed;

  struct Provisioned {
    std::string id;
    DeviceKeys keys;
    bool created = false;
  };
  std::vector<Provisioned> devices;
  devices.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const json& entry = entries[i];
    const std::string where = api::index_name("devices", i);
    if (!entry.contains("id") || !entry["id"].is_string()) {
      return error_answer(api::kHttpBadRequest,
                          where + " has no \"id\" string: send {\"id\": \"node-1\"}");
    }
    std::string id = entry["id"].get<std::string>();
    const auto keys = keys_.device_keys(id);
    if (!keys.ok()) {
      return error_answer(
          api::kHttpBadRequest,
          where + ".id \"" + id.substr(0, 64) + "\" is not a valid device id: " + api::id_rule());
    }
    devices.push_back({std::move(id), *keys, false});
  }

  const std::int64_t now = now_ms();
  const Status written = writer_.run([&devices, now](Store& store) -> Status {
    for (auto& device : devices) {
      const Status added = store.add_device(device.id, now);
      device.created = added.ok();
      if (added == Status(Error::kAlreadyExists)) continue;  // provisioning is idempotent
      SPINDLE_TRY(added);
    }
    return kOk;
  });
  if (!written.ok()) return api::write_failed(written);

  json answer = json::array();
  for (const auto& device : devices) {
    if (device.created) listener_.device_added(device.id);
    json entry = api::keys_view(device.keys);
    entry["id"] = device.id;
    entry["created"] = device.created;
    answer.push_back(std::move(entry));
  }
  return json_answer(api::kHttpOk, {{"devices", std::move(answer)}});
}

Answer HttpApi::Impl::list_devices(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {"selector"})) return *bad;
  std::string selector_text;
  if (auto bad = api::read_text(request, "selector", 1024, selector_text)) return *bad;
  std::vector<SelectorTerm> selector;
  if (!selector_text.empty()) {
    std::string why;
    auto parsed = parse_selector(selector_text, &why);
    if (!parsed.ok()) return error_answer(api::kHttpBadRequest, why);
    selector = std::move(*parsed);
  }
  const auto devices = read_store([](Store& store) { return store.list_devices(); });
  if (!devices.ok()) return api::read_failed(devices.status());
  std::vector<StoredDevice> selected;
  for (const StoredDevice& device : *devices) {
    if (selector_matches(selector, api::effective_tags(device))) selected.push_back(device);
  }
  return json_answer(api::kHttpOk, {{"devices", api::views(selected, api::device_view)}});
}

Answer HttpApi::Impl::set_device_tags(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return api::bad_path_id("device id", id);
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("tags") || !parsed["tags"].is_object() ||
      parsed.size() != 1) {
    return error_answer(api::kHttpBadRequest,
                        "the body must be {\"tags\": {\"key\": \"value\", ...}} (an empty "
                        "object clears the tags)");
  }
  constexpr std::size_t kMaxTags = 32;
  if (parsed["tags"].size() > kMaxTags) {
    return error_answer(api::kHttpBadRequest,
                        "a device holds at most " + std::to_string(kMaxTags) + " tags");
  }
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : parsed["tags"].items()) {
    if (!value.is_string()) {
      return error_answer(api::kHttpBadRequest,
                          "tag \"" + key.substr(0, 40) + "\" must be a string");
    }
    std::string why;
    if (!check_tag(key, value.get_ref<const std::string&>(), &why).ok()) {
      return error_answer(api::kHttpBadRequest, why);
    }
    tags.emplace(key, value.get<std::string>());
  }
  const Status written = writer_.run([&](Store& store) { return store.set_device_tags(id, tags); });
  if (written == Status(Error::kNotFound)) return api::unknown_device(id);
  if (!written.ok()) return api::write_failed(written);
  return json_answer(api::kHttpOk, {{"id", id}, {"tags", tags}});
}

Answer HttpApi::Impl::get_device(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return api::bad_path_id("device id", id);
  Result<StoredDevice> device = Error::kIoError;
  Result<std::uint64_t> telemetry = Error::kIoError;
  Result<std::vector<StoredDeployment>> history = Error::kIoError;
  Result<StoredShadowReport> shadow = Error::kIoError;
  read_store([&](Store& store) {
    device = store.get_device(id);
    if (!device.ok()) return;
    telemetry = store.count_telemetry(id);
    history = store.device_deployments(id);
    shadow = store.get_shadow_report(id);
  });
  if (device.status() == Status(Error::kNotFound)) return api::unknown_device(id);
  if (!device.ok()) return api::read_failed(device.status());
  if (!telemetry.ok()) return api::read_failed(telemetry.status());
  if (!history.ok()) return api::read_failed(history.status());
  json view = api::device_view(*device);
  view["telemetry_records"] = *telemetry;
  view["deployment"] = history->empty() ? json(nullptr) : api::deployment_view(history->front());
  if (!shadow.ok() && shadow.status() != Status(Error::kNotFound)) {
    return api::read_failed(shadow.status());
  }
  view["shadow"] = shadow.ok() ? api::shadow_report_view(*shadow) : json(nullptr);
  return json_answer(api::kHttpOk, std::move(view));
}

Answer HttpApi::Impl::list_device_deployments(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return api::bad_path_id("device id", id);
  Result<StoredDevice> device = Error::kIoError;
  Result<std::vector<StoredDeployment>> history = Error::kIoError;
  read_store([&](Store& store) {
    device = store.get_device(id);
    if (device.ok()) history = store.device_deployments(id);
  });
  if (device.status() == Status(Error::kNotFound)) return api::unknown_device(id);
  if (!device.ok()) return api::read_failed(device.status());
  if (!history.ok()) return api::read_failed(history.status());
  return json_answer(api::kHttpOk, {{"deployments", api::views(*history, api::deployment_view)}});
}

std::optional<Answer> HttpApi::Impl::find_device(const httplib::Request& request, std::string& id) {
  id = request.matches[1].str();
  if (!check_id(id).ok()) return api::bad_path_id("device id", id);
  const Status status = read_store([&id](Store& store) { return store.get_device(id).status(); });
  if (status == Status(Error::kNotFound)) return api::unknown_device(id);
  if (!status.ok()) return api::read_failed(status);
  return std::nullopt;
}

// Never provisions: the keys of a device that was not provisioned are not handed out.
Answer HttpApi::Impl::get_device_keys(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const auto keys = keys_.device_keys(id);
  if (!keys.ok()) return api::read_failed(keys.status());  // cannot happen for a valid id
  json view = api::keys_view(*keys);
  view["device"] = id;
  return json_answer(api::kHttpOk, std::move(view));
}

// The drift state is stored with each summary (gateway/core/drift_monitor.hpp), so this
// reads it as of the last committed telemetry batch.
Answer HttpApi::Impl::get_device_drift(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const auto stored = read_store([&id](Store& store) { return store.get_drift_state(id); });
  if (stored.status() == Status(Error::kNotFound)) {
    return json_answer(api::kHttpOk, api::drift_view(id, drift::State{}, 0));
  }
  if (!stored.ok()) return api::read_failed(stored.status());
  const auto state = drift::decode_state(stored->state);
  if (!state.ok()) {
    return error_answer(api::kHttpInternalError,
                        std::string("the stored drift state does not decode (") +
                            state.status().name() + "): the next feature summary starts it over");
  }
  return json_answer(api::kHttpOk, api::drift_view(id, *state, stored->updated_ms));
}

// The challenge lives in memory only (the CoAP side keeps it): a gateway restart forgets it,
// and the operator asks again.
Answer HttpApi::Impl::attest_device(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const auto challenge = draw_challenge(now_ms());
  if (!challenge.ok()) {
    return error_answer(api::kHttpInternalError,
                        "no randomness for a challenge: see the gateway log");
  }
  listener_.challenge_issued(id, *challenge);
  return json_answer(api::kHttpCreated, {
                                            {"device", id},
                                            {"nonce", api::to_hex(challenge->nonce)},
                                            {"expires_ms", challenge->expires_ms},
                                        });
}

// Stored (the CoAP side repeats the request on every answer until the device reports the
// next generation, across restarts), then handed to the CoAP side.
Answer HttpApi::Impl::reset_calibration(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return api::bad_path_id("device id", id);
  if (!body.empty()) {
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (!parsed.is_object() || !parsed.empty()) {
      return error_answer(api::kHttpBadRequest, "the body must be empty or {}");
    }
  }
  const std::int64_t now = now_ms();
  std::optional<StoredCalibration> calibration;
  bool known = true;
  const Status written = writer_.run([&](Store& store) -> Status {
    const auto device = store.get_device(id);
    if (device.status() == Status(Error::kNotFound)) {
      known = false;
      return kOk;
    }
    SPINDLE_TRY(device.status());
    calibration = device->calibration;
    if (!calibration || calibration->state == status_report::CalibrationState::kNone) return kOk;
    SPINDLE_TRY(store.save_recalibration(
        id, {calibration->model_id, calibration->version, calibration->generation, now}));
    return store
        .append_event(id, "calibration-reset",
                      calibration->model_id + " v" + std::to_string(calibration->version) +
                          ": generation " + std::to_string(calibration->generation) + " " +
                          status_report::calibration_state_name(calibration->state) +
                          "; asked to begin generation " +
                          std::to_string(std::uint64_t{calibration->generation} + 1),
                      now)
        .status();
  });
  if (!written.ok()) return api::write_failed(written);
  if (!known) return api::unknown_device(id);
  if (!calibration) {
    return error_answer(api::kHttpConflict,
                        "device " + id +
                            " has sent no calibration report: nothing to reset (its model has "
                            "no calibration, or it has not registered with one yet)");
  }
  if (calibration->state == status_report::CalibrationState::kNone) {
    return error_answer(api::kHttpConflict,
                        "device " + id +
                            " reports calibration state none: " + calibration->model_id + " v" +
                            std::to_string(calibration->version) + " has no calibration to reset");
  }
  listener_.recalibration_requested(
      id, {calibration->model_id, calibration->version, calibration->generation, now});
  return json_answer(api::kHttpCreated,
                     {
                         {"device", id},
                         {"model_id", calibration->model_id},
                         {"version", calibration->version},
                         {"state", status_report::calibration_state_name(calibration->state)},
                         {"after_generation", calibration->generation},
                         {"next_generation", std::uint64_t{calibration->generation} + 1},
                         {"requested_ms", now},
                     });
}

}  // namespace spindle::gateway
