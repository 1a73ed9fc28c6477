// How the operator API renders stored records as JSON (docs/gateway/api.md, "Objects").
// Private to gateway/api.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "spindle/gateway/drift.hpp"
#include "spindle/gateway/site_keys.hpp"
#include "spindle/gateway/store.hpp"

namespace spindle::gateway::api {

// Lower-case hex, the form digests and keys take in every answer.
std::string to_hex(std::span<const std::uint8_t> bytes);

// <device>: the registry entry, with its last registration body decoded (null before the
// first registration; null plus "registration_error" when the stored body no longer decodes),
// its latest attestation verdict and calibration report (each null before the first).
nlohmann::json device_view(const StoredDevice& device);
// The device's latest shadow report: counters, agreement, histograms, latency.
nlohmann::json shadow_report_view(const StoredShadowReport& report);
// The device's tags as selectors see them: the operator's, and "board" from its
// registration unless the operator set one.
std::map<std::string, std::string> effective_tags(const StoredDevice& device);
// The device's tags as selectors see them: the operator's, and "board" from its
// registration unless the operator set one.
std::map<std::string, std::string> effective_tags(const StoredDevice& device);
// {"psk", "model_kek", "attestation_key"}: a device's derived keys, hex.
nlohmann::json keys_view(const DeviceKeys& keys);
nlohmann::json model_view(const StoredModel& model);
nlohmann::json deployment_view(const StoredDeployment& deployment);
// "value" is a number, string, bool, {"hex": ...} for data, or null.
nlohmann::json telemetry_view(const TelemetryRecord& record);
nlohmann::json event_view(const StoredEvent& event);
// <capture>: the request, its progress and, once the first chunk arrived, the window shape.
nlohmann::json capture_view(const StoredCapture& capture);
// <drift>: a device's drift state, its primary reference's comparison at the top level and
// the training baseline's under "baseline" (docs/gateway/api.md).
nlohmann::json drift_view(const std::string& device_id, const drift::State& state,
                          std::int64_t updated_ms);

}  // namespace spindle::gateway::api
