// GET /m/{sha256}: content-addressed model payloads in Block2 blocks (RFC 7959), to the
// devices they are deployed to; payloads are read from the store on first use and the
// least recently used are dropped beyond max_cached_models.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

constexpr std::size_t kMaxTrackedTransfers = 100000;

void CoapServer::Impl::add_model_entry(const StoredModel& stored) {
  if (models_.find(stored.digest) != models_.end()) return;
  auto owned = std::make_unique<Model>();
  Model& model = *owned;
  model.digest = stored.digest;
  model.size = stored.size;
  std::array<std::uint8_t, kDigestSize> digest{};
  if (hex::decode(stored.digest, digest).ok()) {
    std::copy_n(digest.begin(), model.etag.size(), model.etag.begin());
  }
  models_.emplace(stored.digest, std::move(owned));
  coap_resource_t* resource = make_resource(context_, "m/" + stored.digest, &model);
  coap_register_request_handler(
      resource, COAP_REQUEST_GET,
      &Impl::on_entry_request<CoapResource::kModel, Model, &Impl::handle_model>);
}

std::shared_ptr<const Bytes> CoapServer::Impl::model_payload(Model& model) {
  model.last_used_ms = now_ms();
  if (model.payload) return model.payload;
  auto payload = reader_->read_model_payload(model.digest);
  if (!payload.ok()) {
    spdlog::error("coap: model {} cannot be served: {}", model.digest, payload.status().name());
    record_event("", "model-unreadable", model.digest + ": " + payload.status().name());
    return nullptr;
  }
  model.payload = std::make_shared<const Bytes>(std::move(payload).value());
  // Keep at most max_cached_models payloads in memory: drop the least recently used.
  std::vector<Model*> cached;
  for (auto& [digest, entry] : models_) {
    if (entry->payload) cached.push_back(entry.get());
  }
  if (cached.size() > options_.max_cached_models) {
    std::sort(cached.begin(), cached.end(),
              [](const Model* a, const Model* b) { return a->last_used_ms < b->last_used_ms; });
    for (std::size_t i = 0; i + options_.max_cached_models < cached.size(); ++i) {
      if (cached[i] != &model) cached[i]->payload.reset();
    }
  }
  return model.payload;
}

void CoapServer::Impl::handle_model(Model& model, coap_session_t* session,
                                    const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kModel;
  if (!admit(kResource, session, request, nullptr, response)) return;
  if (!options_.insecure) {
    // Only a device this model is deployed to may fetch it; to anyone else it does not exist.
    const DeviceRecord* device = registry_.find(identity_of(session));
    if (device == nullptr || device->model_digest != model.digest) {
      respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND, "");
      return;
    }
  }
  const auto payload = model_payload(model);
  if (!payload) {
    respond(kResource, response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "payload unreadable");
    return;
  }
  const std::string key = peer_key(session) + "|" + model.digest;
  if (transfers_.size() < kMaxTrackedTransfers || transfers_.count(key) != 0) {
    transfers_[key] = now_ms();
  }
  serve_blocks(kResource, request, response, content_format::kOctetStream, *payload, model.etag);
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  if (coap_get_data(response, &length, &data)) metrics_.count_block_served(length);
}

void CoapServer::Impl::forget_idle_transfers(std::int64_t now) {
  std::erase_if(transfers_,
                [now](const auto& entry) { return now - entry.second > kTransferIdleMs; });
  metrics_.set_block_transfers_in_flight(transfers_.size());
}

}  // namespace spindle::gateway
