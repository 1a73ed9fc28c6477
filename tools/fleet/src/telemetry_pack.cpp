#include "telemetry_pack_private.hpp"

#include <string>

namespace spindle::fleet {
namespace {

// SplitMix64: a cheap, well-mixed hash so synthetic values look independent per reading.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

double unit_interval(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace

Result<std::span<const std::uint8_t>> encode_readings(const ReadingBatch& batch,
                                                      std::vector<senml::Record>& scratch,
                                                      std::span<std::uint8_t> out) {
  const std::string base_name = "urn:dev:spindle:" + std::string(batch.device_id) + ":";
  std::uint64_t device_hash = 0;
  for (const char c : batch.device_id)
    device_hash = mix(device_hash ^ static_cast<std::uint8_t>(c));

  scratch.clear();
  for (unsigned i = 0; i < batch.count; ++i) {
    const std::uint64_t seq = batch.first_seq + i;
    const double t = -static_cast<double>(batch.count - 1 - i) * batch.reading_interval_s;
    const std::uint64_t noise = mix(device_hash ^ seq);
    // Mostly normal operation (scores well under the threshold 1.0), now and then an anomaly.
    const double score = 1.25 * unit_interval(noise) * unit_interval(mix(noise));
    scratch.push_back(senml::reading_number("score", "/", score, t, seq));
    senml::Record anomaly = senml::reading_number("anomaly", "", 0, t, seq);
    anomaly.kind = senml::ValueKind::kBool;
    anomaly.boolean = score > 1.0;
    scratch.push_back(anomaly);
    scratch.push_back(
        senml::reading_number("latency", "s", 0.004 + 0.001 * unit_interval(~noise), t, seq));
    scratch.push_back(senml::reading_number("arena_hwm", "B", 6144, t, seq));
    scratch.push_back(senml::reading_number("uptime", "s", batch.uptime_s + t, t, seq));
  }
  if (scratch.empty()) return Error::kInvalidValue;
  scratch.front().base_name = base_name;
  scratch.front().has_base_time = true;
  scratch.front().base_time = batch.now_unix_s;
  return senml::encode(scratch, out);
}

}  // namespace spindle::fleet
