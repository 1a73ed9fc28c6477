// Discovery and registration (RFC 6690, RFC 9176): GET /.well-known/core, POST /rd?ep=&lt=
// and the refresh POST /rd/{id}; each device's entry (its manifest resource) and the
// offline writes for devices whose lifetime ran out (device_registry.hpp decides which).
#include <spdlog/spdlog.h>

#include <charconv>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"

namespace spindle::gateway {
namespace {

constexpr std::uint32_t kDefaultLifetimeS = 90000;  // RFC 9176 section 5

bool parse_u32(std::string_view text, std::uint32_t& out) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

}  // namespace

void CoapServer::Impl::handle_well_known_core(coap_session_t* session, const coap_pdu_t* request,
                                              coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kWellKnownCore;
  if (!admit(kResource, session, request, nullptr, response)) return;
  // A device sees the resources it may use, not the rest of the fleet.
  std::string links = "</rd>;rt=\"core.rd\";ct=60";
  if (const DeviceRecord* device = registry_.find(identity_of(session))) {
    const std::string& id = device->id;
    links += ",</rd/" + id + ">;ct=60,</d/" + id + "/manifest>;ct=18;obs,</d/" + id +
             "/status>;ct=60,</d/" + id + "/capture>;ct=60,</t/" + id + ">;ct=112";
    if (!device->model_digest.empty()) {
      const auto model = models_.find(device->model_digest);
      links += ",</m/" + device->model_digest + ">;ct=42";
      if (model != models_.end()) links += ";sz=" + std::to_string(model->second->size);
    }
  }
  serve_blocks(kResource, request, response, content_format::kLinkFormat,
               {reinterpret_cast<const std::uint8_t*>(links.data()), links.size()}, {});
}

void CoapServer::Impl::handle_register(coap_session_t* session, const coap_pdu_t* request,
                                       coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kRegister;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, nullptr, response)) return;
  const std::string id = query_value(request, "ep");
  if (id.empty() || !check_id(id).ok()) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST, "ep missing or not a device id");
    return;
  }
  if (registry_.find(id) == nullptr) {
    respond(kResource, response, COAP_RESPONSE_CODE_FORBIDDEN, "device not provisioned");
    return;
  }
  if (!options_.insecure && identity_of(session) != id) {
    respond(kResource, response, COAP_RESPONSE_CODE_FORBIDDEN, "ep is not the DTLS identity");
    return;
  }
  const auto lifetime_or = lifetime_of(kResource, request, response, kDefaultLifetimeS);
  if (!lifetime_or) return;
  const std::uint32_t lifetime = *lifetime_or;
  const auto accepted =
      accept_body(kResource, request, response, content_format::kCbor, id, "registration");
  if (!accepted) return;
  const auto body = *accepted;
  const auto decoded = registration::decode(body);
  if (!decoded.ok()) {
    record_event(id, "bad-registration", decoded.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("registration: ") + decoded.status().name());
    return;
  }
  const std::string detail = std::string(decoded->board) + ", firmware " +
                             std::string(decoded->firmware_version) + ", lifetime " +
                             std::to_string(lifetime) + " s";
  const std::int64_t now = now_ms();
  write_then_reply(
      kResource, session, request, response,
      [id, body = Bytes(body.begin(), body.end()), lifetime, detail, now](Store& store) {
        SPINDLE_TRY(store.save_registration(id, body, "rd/" + id, lifetime, now));
        return store.append_event(id, "registered", detail, now).status();
      },
      [this, id, lifetime, now](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        DeviceRecord& device = *registry_.find(id);
        registry_.registered(device, lifetime, now);
        publish_device_counts();
        reply.code = COAP_RESPONSE_CODE_CREATED;
        reply.location = "rd/" + id;
        attach_request(device, reply, now_ms());
      });
}

void CoapServer::Impl::handle_refresh(DeviceRecord& device, coap_session_t* session,
                                      const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kRefresh;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  if (!device.registered) {
    respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND, "not registered");
    return;
  }
  const auto lifetime_or = lifetime_of(kResource, request, response, 0);  // 0: keep it
  if (!lifetime_or) return;
  const std::uint32_t lifetime = *lifetime_or;
  const bool was_offline = !device.online;
  const std::int64_t now = now_ms();
  write_then_reply(
      kResource, session, request, response,
      [id = device.id, lifetime, was_offline, now](Store& store) {
        SPINDLE_TRY(store.touch_device(id, lifetime, now));
        if (!was_offline) return Status(kOk);
        return store.append_event(id, "online", "registration refreshed", now).status();
      },
      [this, id = device.id, lifetime, now](Status status, PendingReply& reply) {
        if (reply.failed(status)) return;
        DeviceRecord& entry = *registry_.find(id);
        registry_.refreshed(entry, lifetime, now);
        publish_device_counts();
        reply.code = COAP_RESPONSE_CODE_CHANGED;
        attach_request(entry, reply, now_ms());
      });
}

std::optional<std::uint32_t> CoapServer::Impl::lifetime_of(CoapResource resource,
                                                           const coap_pdu_t* request,
                                                           coap_pdu_t* response,
                                                           std::uint32_t absent) {
  const std::string lt = query_value(request, "lt");
  if (lt.empty()) return absent;
  std::uint32_t lifetime = 0;
  if (!parse_u32(lt, lifetime) || lifetime == 0 || lifetime > options_.max_lifetime_s) {
    respond(resource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            "lt must be 1.." + std::to_string(options_.max_lifetime_s) + " seconds");
    return std::nullopt;
  }
  return lifetime;
}

DeviceRecord& CoapServer::Impl::add_device_entry(DeviceRecord& device) {
  if (device.handle != nullptr) return device;
  // Only the manifest is a resource of its own (Observe needs one); the device's POST
  // paths share the catch-all resource (on_device_post).
  coap_resource_t* manifest = make_resource(context_, "d/" + device.id + "/manifest", &device);
  coap_register_request_handler(
      manifest, COAP_REQUEST_GET,
      &Impl::on_entry_request<CoapResource::kManifest, DeviceRecord, &Impl::handle_manifest>);
  coap_resource_set_get_observable(manifest, 1);
  device.handle = manifest;
  return device;
}

void CoapServer::Impl::publish_device_counts() {
  metrics_.set_devices(registry_.size(), registry_.online());
}

void CoapServer::Impl::expire_devices(std::int64_t now) {
  for (const Expiry& expiry : registry_.take_expired(now)) {
    const Status queued = writer_.submit(
        [id = expiry.device_id, lifetime = expiry.lifetime_s](Store& store) {
          SPINDLE_TRY(store.set_online(id, false));
          return store
              .append_event(id, "offline",
                            "no refresh within the lifetime of " + std::to_string(lifetime) + " s",
                            now_ms())
              .status();
        },
        [this, id = expiry.device_id](Status status) {
          post([this, id, status] {
            if (!registry_.expiry_done(id, status, now_ms())) return;
            publish_device_counts();
            spdlog::info("coap: device {} offline (lifetime expired)", id);
          });
        });
    if (!queued.ok()) registry_.expiry_not_queued(expiry.device_id);  // again next round
  }
}

}  // namespace spindle::gateway
