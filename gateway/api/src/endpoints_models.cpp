// The operator API's model and deployment endpoints (docs/gateway/api.md).
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "endpoints_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/manifest.hpp"

namespace spindle::gateway {

using api::Answer;
using api::error_answer;
using api::json_answer;
using api::NewDeployment;
using nlohmann::json;

namespace {

// A manifest with every optional part at its largest is about 2.5 KiB; leave room.
constexpr std::size_t kMaxManifestBytes = 8192;

// A key id as text when it is printable ASCII, else as hex.
std::string kid_text(std::span<const std::uint8_t> kid) {
  for (const auto byte : kid) {
    if (byte < 0x20 || byte > 0x7e) return std::string("hex ").append(api::to_hex(kid));
  }
  // Appended, not "\"" + std::string(...): GCC 12 at -O3 reports a false -Wrestrict there.
  std::string text = "\"";
  text.append(kid.begin(), kid.end()).push_back('"');
  return text;
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

}  // namespace

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
  if (!written.ok()) return api::write_failed(written);
  listener_.model_added(model);
  return json_answer(existed ? api::kHttpOk : api::kHttpCreated, api::model_view(model));
}

Answer HttpApi::Impl::list_models(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const auto models = read_store([](Store& store) { return store.list_models(); });
  if (!models.ok()) return api::read_failed(models.status());
  return json_answer(api::kHttpOk, {{"models", api::views(*models, api::model_view)}});
}

// ---- Deployments ----

std::optional<Answer> HttpApi::Impl::decode_deployment(const json& entry, std::string where,
                                                       std::int64_t now, NewDeployment& out) const {
  out.where = std::move(where);
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
  out.record.role = manifest->role == manifest::ManifestRole::kShadow ? DeploymentRole::kShadow
                                                                      : DeploymentRole::kActive;
  out.record.created_ms = now;
  out.record.updated_ms = now;
  out.record.state = DeploymentState::kPending;
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
  if (auto bad = api::parse_entries(body, "deployments", api::kMaxBatchEntries, parsed))
    return *bad;
  const json& entries = parsed;

  const std::int64_t now = now_ms();
  std::vector<NewDeployment> batch(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (auto bad = decode_deployment(entries[i], api::index_name("deployments", i), now, batch[i]))
      return *bad;
    if (batch[i].record.role == DeploymentRole::kShadow) {
      return error_answer(api::kHttpBadRequest,
                          batch[i].where +
                              ": a shadow manifest (key 13) is deployed by a rollout, which can "
                              "promote or discard it: POST /api/v1/rollouts");
    }
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
  if (!written.ok()) return api::write_failed(written);

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
  const auto deployments = read_store([](Store& store) { return store.current_deployments(); });
  if (!deployments.ok()) return api::read_failed(deployments.status());
  return json_answer(api::kHttpOk,
                     {{"deployments", api::views(*deployments, api::deployment_view)}});
}

}  // namespace spindle::gateway
