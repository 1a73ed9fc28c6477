// Registration at /rd (RFC 9176) and the gateway's piggybacked requests.
#include <algorithm>
#include <cstdio>

#include "node_state_private.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/content_format.hpp"
#include "spindle/protocol/gateway_request.hpp"
#include "spindle/protocol/registration.hpp"
#include "uplink_private.hpp"

namespace spindle::app::internal {
namespace {

Result<std::span<const std::uint8_t>> registration_body() {
  const NodeConfig& config = *g_state.config;
  registration::Registration reg;
  reg.board = config.board.name();
  reg.firmware_version = config.firmware_version;
  const modelstore::StoreState& store = g_state.installer->state();
  bool any = false;
  for (std::size_t i = 0; i < kModelSlots; ++i) {
    const modelstore::SlotInfo& slot = store.slots[i];
    if (slot.state == registration::SlotState::kEmpty) continue;
    any = true;
    reg.slots[i] = {slot.state, slot.id(), slot.version, slot.digest};
  }
  if (store.active != modelstore::kNoSlot && g_state.installer->running()) {
    reg.active_slot = store.active;
  }
  if (!any && !config.model.empty()) {
    // Development: a plaintext model given on the command line.
    g_state.development_model_digest = crypto::Sha256::of(config.model);
    reg.slots[0] = {registration::SlotState::kActive, config.model_id, config.model_version,
                    g_state.development_model_digest};
    reg.active_slot = 0;
  }
  reg.budgets = {.sram_bytes = config.board.sram_bytes,
                 .arena_bytes = config.board.model_arena_bytes,
                 .model_flash_bytes = config.board.model_payload_capacity(),
                 .op_set = inference::runtime_op_set()};
  return registration::encode(reg, g_state.registration_body);
}

}  // namespace

Result<net::Response> post_own(net::CoapClient& client, const char* prefix, const char* suffix,
                               int content_format, std::span<const std::uint8_t> body) {
  const NodeConfig& config = *g_state.config;
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "%s%.*s%s", prefix, static_cast<int>(config.device_id.size()),
                config.device_id.data(), suffix);
  net::Request request;
  request.method = net::Method::kPost;
  request.path = path;
  request.content_format = content_format;
  request.payload = body;
  return client.request(request, kRequestTimeoutMs);
}

void take_gateway_request(const net::Response& response) {
  if (!response.success() || response.content_format != content_format::kCbor ||
      response.payload_size == 0)
    return;
  const auto request = gateway_request::decode(response.body());
  if (!request.ok()) {
    SPINDLE_LOG_WRN(kLog, "unreadable gateway request: %s", request.status().name());
    return;
  }
  if (!request->nonce.empty()) {
    std::copy(request->nonce.begin(), request->nonce.end(), g_state.nonce.begin());
    g_state.nonce_size = request->nonce.size();
  }
  if (request->has_capture && g_state.capture.request(request->capture)) {
    SPINDLE_LOG_INF(kLog, "capture %llu: collecting %u %s windows",
                    static_cast<unsigned long long>(request->capture.capture_id),
                    request->capture.windows, capture::kind_name(request->capture.kind));
  }
  if (!request->decision.empty()) {
    // Carried out by the network thread's delivery work (the installer skips a decision it
    // handled already, so the gateway's repetitions cost a digest each).
    std::copy(request->decision.begin(), request->decision.end(), g_state.decision.begin());
    g_state.decision_size = request->decision.size();
    g_state.decision_pending = true;
  }
  if (request->has_recalibrate) {
    const Status s = g_state.pipeline.recalibrate(request->recalibrate_after);
    if (!s.ok()) SPINDLE_LOG_WRN(kLog, "recalibration not possible: %s", s.name());
    // Whether begun now or before, the gateway waits for the new generation's report.
    g_state.pipeline.request_calibration_report();
  }
}

Result<UplinkOutcome> register_or_refresh(net::CoapClient& client, bool registered,
                                          RegistrationLocation& location) {
  const NodeConfig& config = *g_state.config;
  SPINDLE_TRY_ASSIGN(const auto body, registration_body());
  // A registration names the endpoint; an update (RFC 9176 section 5.1) only the lifetime.
  char query[96];
  if (registered) {
    std::snprintf(query, sizeof query, "lt=%u", static_cast<unsigned>(config.lifetime_s));
  } else {
    std::snprintf(query, sizeof query, "ep=%.*s&lt=%u", static_cast<int>(config.device_id.size()),
                  config.device_id.data(), static_cast<unsigned>(config.lifetime_s));
  }
  net::Request request;
  request.method = net::Method::kPost;
  request.path = registered ? std::string_view(location.path.data(), location.size) : "rd";
  request.query = query;
  request.content_format = content_format::kCbor;
  request.payload = body;
  SPINDLE_TRY_ASSIGN(const net::Response response, client.request(request, kRequestTimeoutMs));
  take_gateway_request(response);
  if (!response.success()) {
    char code[8];
    net::format_code(response.code, code);
    SPINDLE_LOG_WRN(kLog, "registration answered %s", code);
    return UplinkOutcome::kForgotten;
  }
  if (!registered) {
    if (response.location_size == 0) return Error::kRemoteError;
    std::copy(response.location.begin(), response.location.begin() + response.location_size,
              location.path.begin());
    location.size = response.location_size;
    SPINDLE_LOG_INF(kLog, "registered at /%.*s, lifetime %u s", static_cast<int>(location.size),
                    location.path.data(), config.lifetime_s);
    // A new registration may be a gateway that never heard of this node's calibration.
    g_state.pipeline.request_calibration_report();
  }
  return UplinkOutcome::kDone;
}

}  // namespace spindle::app::internal
