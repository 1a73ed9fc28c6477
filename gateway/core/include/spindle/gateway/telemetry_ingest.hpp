// Turns a decoded SenML pack from /t/{device} into the records the store keeps.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "spindle/gateway/store.hpp"
#include "spindle/protocol/senml.hpp"

namespace spindle::gateway {

// The base-name prefix of a Spindle device's packs (protocol/cddl/telemetry.cddl).
inline constexpr std::string_view kDeviceBaseNamePrefix = "urn:dev:spindle:";

// Resolves every record (RFC 8428 section 4.6) and strips the device's own base name
// ("urn:dev:spindle:<id>:"), so stored names are the profile's short names ("score").
// A record without "seq" is stored with seq 0.
// Errors: kNotForThisDevice (a base name of another Spindle device: one device cannot post
// readings in another's name), kInvalidValue (an empty pack).
Result<std::vector<TelemetryRecord>> resolve_batch(std::string_view device_id,
                                                   std::span<const senml::Record> records,
                                                   std::int64_t received_ms);

}  // namespace spindle::gateway
