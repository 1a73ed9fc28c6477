// The endpoint handlers of the operator API (reference: docs/gateway/api.md).
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture_export_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "request_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/senml.hpp"

namespace spindle::gateway {
namespace {

using api::Answer;
using api::error_answer;
using api::json_answer;
using api::NewDeployment;
using nlohmann::json;

constexpr std::size_t kMaxBatchEntries = 1000;
constexpr std::int64_t kDefaultQueryLimit = 1000;
constexpr std::int64_t kMaxQueryLimit = 10000;
// A manifest with every optional part at its largest is about 2.5 KiB; leave room.
constexpr std::size_t kMaxManifestBytes = 8192;
constexpr std::size_t kMaxEventKindSize = 64;
constexpr std::size_t kMaxLabelSize = 64;
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

std::string index_name(const char* member, std::size_t index) {
  return std::string(member) + "[" + std::to_string(index) + "]";
}

// A key id as text when it is printable ASCII, else as hex.
std::string kid_text(std::span<const std::uint8_t> kid) {
  for (const auto byte : kid) {
    if (byte < 0x20 || byte > 0x7e) return "hex " + api::to_hex(kid);
  }
  return "\"" + std::string(kid.begin(), kid.end()) + "\"";
}

// Why a manifest did not verify, in the operator's terms.
std::string verify_failure(const std::string& where, std::span<const std::uint8_t> message,
                           Status status) {
  const auto decoded = cose::decode(message);
  const std::string kid = decoded.ok() ? kid_text(decoded->kid) : "?";
  const std::string name = status.name();
  switch (status.error()) {
    case Error::kUnknownKey:
      return where + ": the manifest is signed by key id " + kid +
             ", which this gateway does not trust (" + name +
             "): sign it with a trusted key, or start the gateway with --trust-key KID=FILE";
    case Error::kBadSignature:
      return where + ": the manifest's signature does not verify against the trusted key " + kid +
             " (" + name + "): it was altered, or signed with another key under that id";
    case Error::kUnsupportedAlgorithm:
      return where + ": the manifest is not signed with ES256 (" + name + ")";
    default:
      return where + ": the manifest is not a valid COSE_Sign1 (" + name +
             "): send the signed manifest bytes as hex";
  }
}

Answer read_failed(Status status) {
  return error_answer(api::kHttpInternalError, std::string("reading the store failed (") +
                                                   status.name() + "): see the gateway log");
}

Answer write_failed(Status status) {
  switch (status.error()) {
    case Error::kFull: {
      Answer answer = error_answer(api::kHttpUnavailable,
                                   "the gateway's write queue is full: retry in a moment");
      answer.headers.emplace_back("Retry-After", "1");
      return answer;
    }
    case Error::kUnavailable:
      return error_answer(api::kHttpUnavailable, "the gateway is shutting down");
    default:
      return error_answer(api::kHttpInternalError, std::string("writing to the store failed (") +
                                                       status.name() + "): see the gateway log");
  }
}

Answer bad_path_id(const std::string& what, const std::string& id) {
  return error_answer(
      api::kHttpBadRequest,
      what + " \"" + id.substr(0, 64) + "\" in the path is not a valid id: " + api::id_rule());
}

Answer unknown_device(const std::string& id) {
  return error_answer(api::kHttpNotFound,
                      "no device \"" + id + "\": provision it with POST /api/v1/devices");
}

// The first `limit` items, rendered, and where the next page starts (null on the last
// page). The store was asked for limit + 1 items so that the last page is recognised.
template <typename Record, typename View>
json page(const std::vector<Record>& records, std::size_t limit, const char* member, View view) {
  json items = json::array();
  for (std::size_t i = 0; i < records.size() && i < limit; ++i)
    items.push_back(view(records[i]));
  json next = nullptr;
  if (records.size() > limit) next = records[limit - 1].id;
  return {{member, std::move(items)}, {"next_after", std::move(next)}};
}

}  // namespace

// ---- Health ----

Answer HttpApi::Impl::healthz(const httplib::Request&, const std::string&) {
  Status status;
  {
    const std::lock_guard lock(reader_mutex_);
    // An indexed lookup of a key that cannot exist: answers "not found" when the database
    // is readable.
    status = reader_->get_model("").status();
  }
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
  if (auto bad = api::parse_entries(body, "devices", kMaxBatchEntries, parsed)) return *bad;
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
    const std::string where = index_name("devices", i);
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
  if (!written.ok()) return write_failed(written);

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
  if (auto bad = api::check_parameters(request, {})) return *bad;
  Result<std::vector<StoredDevice>> devices = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    devices = reader_->list_devices();
  }
  if (!devices.ok()) return read_failed(devices.status());
  json items = json::array();
  for (const auto& device : *devices)
    items.push_back(api::device_view(device));
  return json_answer(api::kHttpOk, {{"devices", std::move(items)}});
}

Answer HttpApi::Impl::get_device(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return bad_path_id("device id", id);
  Result<StoredDevice> device = Error::kIoError;
  Result<std::uint64_t> telemetry = Error::kIoError;
  Result<std::vector<StoredDeployment>> history = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    device = reader_->get_device(id);
    if (device.ok()) {
      telemetry = reader_->count_telemetry(id);
      history = reader_->device_deployments(id);
    }
  }
  if (device.status() == Status(Error::kNotFound)) return unknown_device(id);
  if (!device.ok()) return read_failed(device.status());
  if (!telemetry.ok()) return read_failed(telemetry.status());
  if (!history.ok()) return read_failed(history.status());
  json view = api::device_view(*device);
  view["telemetry_records"] = *telemetry;
  view["deployment"] = history->empty() ? json(nullptr) : api::deployment_view(history->front());
  return json_answer(api::kHttpOk, std::move(view));
}

Answer HttpApi::Impl::list_device_deployments(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const std::string id = request.matches[1].str();
  if (!check_id(id).ok()) return bad_path_id("device id", id);
  Result<StoredDevice> device = Error::kIoError;
  Result<std::vector<StoredDeployment>> history = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    device = reader_->get_device(id);
    if (device.ok()) history = reader_->device_deployments(id);
  }
  if (device.status() == Status(Error::kNotFound)) return unknown_device(id);
  if (!device.ok()) return read_failed(device.status());
  if (!history.ok()) return read_failed(history.status());
  json items = json::array();
  for (const auto& deployment : *history)
    items.push_back(api::deployment_view(deployment));
  return json_answer(api::kHttpOk, {{"deployments", std::move(items)}});
}

std::optional<Answer> HttpApi::Impl::find_device(const httplib::Request& request, std::string& id) {
  id = request.matches[1].str();
  if (!check_id(id).ok()) return bad_path_id("device id", id);
  Status status;
  {
    const std::lock_guard lock(reader_mutex_);
    status = reader_->get_device(id).status();
  }
  if (status == Status(Error::kNotFound)) return unknown_device(id);
  if (!status.ok()) return read_failed(status);
  return std::nullopt;
}

// Never provisions: the keys of a device that was not provisioned are not handed out.
Answer HttpApi::Impl::get_device_keys(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const auto keys = keys_.device_keys(id);
  if (!keys.ok()) return read_failed(keys.status());  // cannot happen for a valid id
  json view = api::keys_view(*keys);
  view["device"] = id;
  return json_answer(api::kHttpOk, std::move(view));
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

// ---- Models ----

Answer HttpApi::Impl::upload_model(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {"model_id"})) return *bad;
  if (!request.has_param("model_id")) {
    return error_answer(api::kHttpBadRequest,
                        "query parameter model_id is missing: POST /api/v1/models?model_id=<id> "
                        "with the payload bytes as the body");
  }
  std::string model_id;
  if (auto bad = api::read_id(request, "model_id", model_id)) return *bad;
  if (body.empty()) {
    return error_answer(api::kHttpBadRequest,
                        "the request body is empty: send the model payload bytes "
                        "(Content-Type: application/octet-stream)");
  }
  if (body.size() > options_.max_models_bytes) {
    return error_answer(api::kHttpPayloadTooLarge,
                        "the model payload is " + std::to_string(body.size()) +
                            " bytes, above the gateway's model limit of " +
                            std::to_string(options_.max_models_bytes) + " bytes");
  }
  const std::span<const std::uint8_t> payload(reinterpret_cast<const std::uint8_t*>(body.data()),
                                              body.size());
  const std::string digest = api::to_hex(crypto::Sha256::of(payload));
  const std::int64_t now = now_ms();
  StoredModel model;
  bool existed = false;
  const Status written = writer_.run([&](Store& store) -> Status {
    existed = store.get_model(digest).ok();
    // Stored again even when present: that repairs a damaged copy on disk.
    SPINDLE_TRY_ASSIGN(model, store.put_model(model_id, payload, now));
    return kOk;
  });
  if (!written.ok()) return write_failed(written);
  listener_.model_added(model);
  return json_answer(existed ? api::kHttpOk : api::kHttpCreated, api::model_view(model));
}

Answer HttpApi::Impl::list_models(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  Result<std::vector<StoredModel>> models = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    models = reader_->list_models();
  }
  if (!models.ok()) return read_failed(models.status());
  json items = json::array();
  for (const auto& model : *models)
    items.push_back(api::model_view(model));
  return json_answer(api::kHttpOk, {{"models", std::move(items)}});
}

// ---- Deployments ----

std::optional<Answer> HttpApi::Impl::decode_deployment(const json& entry, std::size_t index,
                                                       std::int64_t now, NewDeployment& out) const {
  out.where = index_name("deployments", index);
  if (!entry.contains("manifest") || !entry["manifest"].is_string()) {
    return error_answer(api::kHttpBadRequest,
                        out.where + " has no \"manifest\" string: send the COSE_Sign1 as hex");
  }
  const auto& text = entry["manifest"].get_ref<const std::string&>();
  if (text.size() > 2 * kMaxManifestBytes + 1024) {
    return error_answer(api::kHttpBadRequest, out.where + ".manifest is longer than " +
                                                  std::to_string(kMaxManifestBytes) + " bytes");
  }
  Bytes bytes(text.size() / 2 + 1);
  const auto size = hex::decode(text, bytes);
  if (!size.ok() || *size == 0 || *size > kMaxManifestBytes) {
    return error_answer(api::kHttpBadRequest,
                        out.where + ".manifest is not hex (" +
                            (size.ok() ? std::string("empty or too long") : size.status().name()) +
                            "): send the signed manifest bytes as hex digits");
  }
  bytes.resize(*size);
  const auto sign1 = cose::verify(bytes, trusted_keys_);
  if (!sign1.ok()) {
    return error_answer(api::kHttpBadRequest, verify_failure(out.where, bytes, sign1.status()));
  }
  const auto manifest = manifest::decode(sign1->payload);
  if (!manifest.ok()) {
    return error_answer(api::kHttpBadRequest,
                        out.where + ": the signed manifest payload does not decode (" +
                            manifest.status().name() + ")");
  }
  out.record.device_id = std::string(manifest->device_id);
  out.record.model_id = std::string(manifest->model_id);
  out.record.version = manifest->version;
  out.record.model_digest = api::to_hex(manifest->payload_digest);
  out.record.created_ms = now;
  out.record.updated_ms = now;
  out.record.state = "pending";
  out.payload_size = manifest->payload_size;
  out.record.manifest = std::move(bytes);  // the views above are not used past this point
  return std::nullopt;
}

// Checks a batch against what the store holds. Runs inside the writer job that then adds
// the batch, so no deployment committed in between can slip under the version check.
std::optional<Answer> HttpApi::Impl::check_deployments(Store& store,
                                                       const std::vector<NewDeployment>& batch,
                                                       Status& failure) const {
  std::map<std::string, std::uint64_t, std::less<>> deployed;  // device -> newest version
  for (const auto& item : batch) {
    const auto& record = item.record;
    const auto device = store.get_device(record.device_id);
    if (device.status() == Status(Error::kNotFound)) {
      failure = Error::kNotFound;
      return error_answer(api::kHttpNotFound, item.where + ": device \"" + record.device_id +
                                                  "\" is not provisioned: POST /api/v1/devices "
                                                  "first");
    }
    if (!device.ok()) {
      failure = device.status();
      return std::nullopt;
    }
    const auto model = store.get_model(record.model_digest);
    if (model.status() == Status(Error::kNotFound)) {
      failure = Error::kNotFound;
      return error_answer(api::kHttpNotFound, item.where + ": model " + record.model_digest +
                                                  " not uploaded: POST /api/v1/models first");
    }
    if (!model.ok()) {
      failure = model.status();
      return std::nullopt;
    }
    if (model->size != item.payload_size) {
      failure = Error::kSizeMismatch;
      return error_answer(api::kHttpBadRequest,
                          item.where + ": the manifest gives the payload size as " +
                              std::to_string(item.payload_size) + " bytes but model " +
                              record.model_digest + " is " + std::to_string(model->size) +
                              " bytes (" + Status(Error::kSizeMismatch).name() + ")");
    }
    auto newest = deployed.find(record.device_id);
    if (newest == deployed.end()) {
      const auto history = store.device_deployments(record.device_id);
      if (!history.ok()) {
        failure = history.status();
        return std::nullopt;
      }
      if (!history->empty()) {
        newest = deployed.emplace(record.device_id, history->front().version).first;
      }
    }
    if (newest != deployed.end() && record.version <= newest->second) {
      failure = Error::kRollback;
      return error_answer(api::kHttpConflict,
                          item.where + ": version " + std::to_string(record.version) +
                              " is not above the deployed version " +
                              std::to_string(newest->second) + " of device \"" + record.device_id +
                              "\": sign the manifest with a higher version");
    }
    deployed[record.device_id] = record.version;
  }
  return std::nullopt;
}

Answer HttpApi::Impl::add_deployments(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  if (trusted_keys_.empty()) {
    return error_answer(api::kHttpBadRequest,
                        "no trusted signing key configured: start the gateway with "
                        "--trust-key KID=FILE");
  }
  json parsed;
  if (auto bad = api::parse_entries(body, "deployments", kMaxBatchEntries, parsed)) return *bad;
  const json& entries = parsed;

  const std::int64_t now = now_ms();
  std::vector<NewDeployment> batch(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (auto bad = decode_deployment(entries[i], i, now, batch[i])) return *bad;
  }

  std::optional<Answer> rejected;
  const Status written = writer_.run([&](Store& store) -> Status {
    Status failure;
    rejected = check_deployments(store, batch, failure);
    SPINDLE_TRY(failure);
    for (auto& item : batch) {
      SPINDLE_TRY_ASSIGN(item.record.id, store.add_deployment(item.record));
    }
    return kOk;
  });
  if (rejected) return *rejected;
  if (!written.ok()) return write_failed(written);

  json answer = json::array();
  for (const auto& item : batch) {
    const auto& record = item.record;
    answer.push_back({
        {"id", record.id},
        {"device", record.device_id},
        {"model_id", record.model_id},
        {"version", record.version},
        {"model_digest", record.model_digest},
    });
    listener_.deployment_added(record);
  }
  return json_answer(api::kHttpCreated, {{"deployments", std::move(answer)}});
}

Answer HttpApi::Impl::list_deployments(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  Result<std::vector<StoredDeployment>> deployments = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    deployments = reader_->current_deployments();
  }
  if (!deployments.ok()) return read_failed(deployments.status());
  json items = json::array();
  for (const auto& deployment : *deployments)
    items.push_back(api::deployment_view(deployment));
  return json_answer(api::kHttpOk, {{"deployments", std::move(items)}});
}

// ---- Telemetry and events ----

Answer HttpApi::Impl::query_telemetry(const httplib::Request& request, const std::string&) {
  if (auto bad =
          api::check_parameters(request, {"device", "name", "from", "to", "after", "limit"})) {
    return *bad;
  }
  TelemetryQuery query;
  std::int64_t after = 0;
  std::int64_t limit = kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", query.device_id)) return *bad;
  if (auto bad = api::read_text(request, "name", senml::kMaxNameSize, query.name)) return *bad;
  if (auto bad = api::read_number(request, "from", query.from)) return *bad;
  if (auto bad = api::read_number(request, "to", query.to)) return *bad;
  if (auto bad = api::read_integer(request, "after", 0, kInt64Max, after)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, kMaxQueryLimit, limit)) return *bad;
  query.after_id = after;
  query.limit = static_cast<std::size_t>(limit) + 1;  // one more: is there a next page?

  Result<std::vector<TelemetryRecord>> records = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    records = reader_->query_telemetry(query);
  }
  if (!records.ok()) return read_failed(records.status());
  return json_answer(api::kHttpOk, page(*records, static_cast<std::size_t>(limit), "records",
                                        api::telemetry_view));
}

Answer HttpApi::Impl::query_events(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request,
                                       {"device", "kind", "from_ms", "to_ms", "after", "limit"})) {
    return *bad;
  }
  EventQuery query;
  std::int64_t after = 0;
  std::int64_t limit = kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", query.device_id)) return *bad;
  if (auto bad = api::read_text(request, "kind", kMaxEventKindSize, query.kind)) return *bad;
  if (auto bad = api::read_integer(request, "from_ms", kInt64Min, kInt64Max, query.from_ms)) {
    return *bad;
  }
  if (auto bad = api::read_integer(request, "to_ms", kInt64Min, kInt64Max, query.to_ms)) {
    return *bad;
  }
  if (auto bad = api::read_integer(request, "after", 0, kInt64Max, after)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, kMaxQueryLimit, limit)) return *bad;
  query.after_id = after;
  query.limit = static_cast<std::size_t>(limit) + 1;

  Result<std::vector<StoredEvent>> events = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    events = reader_->query_events(query);
  }
  if (!events.ok()) return read_failed(events.status());
  return json_answer(api::kHttpOk,
                     page(*events, static_cast<std::size_t>(limit), "events", api::event_view));
}

// ---- Captures ----

namespace {

// Labels end up in CSV cells and shell commands: printable ASCII without , " and \.
bool valid_label(const std::string& label) {
  if (label.size() > kMaxLabelSize) return false;
  for (const char c : label) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

Answer HttpApi::Impl::request_capture(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  std::string id;
  if (auto bad = find_device(request, id)) return *bad;
  const json parsed = json::parse(body, nullptr, false);
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
    if (!entry->is_string() || !valid_label(entry->get<std::string>())) {
      return error_answer(api::kHttpBadRequest,
                          "\"label\" must be a string of at most " + std::to_string(kMaxLabelSize) +
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
    return store.append_event(id, "capture-requested",
                              "capture " + std::to_string(capture.id) + ": " +
                                  std::to_string(count) + " " + capture.kind +
                                  " windows, label \"" + label + "\"",
                              capture.created_ms);
  });
  if (!written.ok()) return write_failed(written);
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
  std::int64_t limit = kDefaultQueryLimit;
  if (auto bad = api::read_id(request, "device", device)) return *bad;
  if (auto bad = api::read_integer(request, "limit", 1, kMaxQueryLimit, limit)) return *bad;
  Result<std::vector<StoredCapture>> captures = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    captures = reader_->list_captures(device, false);
  }
  if (!captures.ok()) return read_failed(captures.status());
  json items = json::array();
  for (std::size_t i = 0; i < captures->size() && i < static_cast<std::size_t>(limit); ++i)
    items.push_back(api::capture_view((*captures)[i]));
  return json_answer(api::kHttpOk, {{"captures", std::move(items)}});
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
  Result<StoredCapture> found = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    found = reader_->get_capture(id);
  }
  if (found.status() == Status(Error::kNotFound)) {
    return error_answer(api::kHttpNotFound, "no capture " + text +
                                                ": list them with GET "
                                                "/api/v1/captures");
  }
  if (!found.ok()) return read_failed(found.status());
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
  Result<std::vector<StoredCaptureChunk>> chunks = Error::kIoError;
  {
    const std::lock_guard lock(reader_mutex_);
    chunks = reader_->capture_chunks(capture.id);
  }
  if (!chunks.ok()) return read_failed(chunks.status());
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
