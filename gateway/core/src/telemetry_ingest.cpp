#include "spindle/gateway/telemetry_ingest.hpp"

#include <string>

namespace spindle::gateway {

Result<std::vector<TelemetryRecord>> resolve_batch(std::string_view device_id,
                                                   std::span<const senml::Record> records,
                                                   std::int64_t received_ms) {
  if (records.empty()) return Error::kInvalidValue;
  const std::string own_prefix = std::string(kDeviceBaseNamePrefix) + std::string(device_id) + ":";
  std::vector<TelemetryRecord> out;
  out.reserve(records.size());
  for (const senml::Record& r : records) {
    std::string name = std::string(r.base_name) + std::string(r.name);
    if (name.starts_with(own_prefix)) {
      name.erase(0, own_prefix.size());
    } else if (name.starts_with(kDeviceBaseNamePrefix)) {
      return Error::kNotForThisDevice;
    }
    TelemetryRecord t;
    t.device_id = device_id;
    t.seq = r.has_seq ? r.seq : 0;
    t.name = std::move(name);
    t.time = r.resolved_time();
    t.unit = r.resolved_unit();
    t.kind = r.kind;
    switch (r.kind) {
      case senml::ValueKind::kNumber:
        t.number = r.resolved_number();
        break;
      case senml::ValueKind::kString:
        t.text = r.text;
        break;
      case senml::ValueKind::kBool:
        t.boolean = r.boolean;
        break;
      case senml::ValueKind::kData:
        t.data.assign(r.data.begin(), r.data.end());
        break;
      case senml::ValueKind::kNone:
        // A sum-only record: keep the sum as its number.
        t.number = r.sum;
        break;
    }
    t.received_ms = received_ms;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace spindle::gateway
