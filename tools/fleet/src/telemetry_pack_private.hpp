// The SenML-CBOR pack a virtual device posts to /t/{id}, in the Spindle profile of
// protocol/cddl/telemetry.cddl: the first record carries bn "urn:dev:spindle:<id>:" and
// bt; each reading is a group of records sharing t and "seq".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "spindle/protocol/senml.hpp"
#include "spindle/status.hpp"

namespace spindle::fleet {

inline constexpr std::size_t kRecordsPerReading = 5;  // score, anomaly, latency, arena, uptime
// Leaves room in libcoap's default 1152-byte PDU for the header, token and options.
inline constexpr std::size_t kMaxPackBytes = 1024;

struct ReadingBatch {
  std::string_view device_id;
  std::uint64_t first_seq = 1;  // readings carry first_seq, first_seq + 1, ...
  unsigned count = 1;
  double now_unix_s = 0;          // bt; the last reading is taken now
  double reading_interval_s = 1;  // spacing of the readings before it
  double uptime_s = 0;            // of the last reading
};

// Encodes the batch into `out` using `scratch` for the records. Values are synthetic but
// plausible and a pure function of (device id, seq), so reruns send equal packs.
// Errors: kBufferTooSmall, and senml::encode's kInvalidValue for a bad device id.
Result<std::span<const std::uint8_t>> encode_readings(const ReadingBatch& batch,
                                                      std::vector<senml::Record>& scratch,
                                                      std::span<std::uint8_t> out);

}  // namespace spindle::fleet
