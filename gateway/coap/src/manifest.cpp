// GET /d/{id}/manifest (Observe): the signed manifest of the device's current deployment,
// and the notification that tells its observers a new one is there.
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"

namespace spindle::gateway {

void CoapServer::Impl::handle_manifest(DeviceRecord& device, coap_session_t* session,
                                       const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kManifest;
  if (!admit(kResource, session, request, &device, response)) return;
  coap_opt_iterator_t it;
  if (coap_check_option(request, COAP_OPTION_URI_QUERY, &it) != nullptr) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_OPTION, "the manifest takes no query");
    return;
  }
  // No deployment yet: an empty 2.05, so that an observation stays registered and the
  // first deployment reaches the device as a notification.
  serve_blocks(kResource, request, response, content_format::kCoseSign1, device.manifest,
               device.manifest.empty() ? std::span<const std::uint8_t>()
                                       : std::span<const std::uint8_t>(device.manifest_etag));
}

void CoapServer::Impl::apply_deployment(const StoredDeployment& deployment) {
  const auto applied = registry_.apply_deployment(deployment);
  if (!applied.ok()) {
    spdlog::warn("coap: deployment {} names unknown device {}", deployment.id,
                 deployment.device_id);
    return;
  }
  if (!*applied) return;  // an older one arrived late
  const DeviceRecord& device = *registry_.find(deployment.device_id);
  coap_resource_notify_observers(static_cast<coap_resource_t*>(device.handle), nullptr);
}

}  // namespace spindle::gateway
