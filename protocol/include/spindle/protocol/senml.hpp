// SenML-CBOR (RFC 8428, content-format 112) packs: the telemetry a node POSTs to /t/{id}.
//
// The codec is generic SenML with one Spindle extension label, "seq": the unsigned
// sequence number of the reading a record belongs to, so the gateway can de-duplicate
// retransmitted batches. The Spindle profile (names, units, one reading per time) is in
// protocol/cddl/telemetry.cddl and docs/protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::senml {

inline constexpr std::size_t kMaxNameSize = 64;      // bn, n
inline constexpr std::size_t kMaxUnitSize = 16;      // bu, u
inline constexpr std::size_t kMaxStringValue = 128;  // vs
// vd: Spindle packs per-feature statistics (64 features x 2 float32) into one data value.
inline constexpr std::size_t kMaxDataValue = 512;
inline constexpr std::size_t kMaxRecordEntries = 16;
inline constexpr std::uint64_t kSupportedVersion = 10;  // RFC 8428's default bver

enum class ValueKind : std::uint8_t { kNone, kNumber, kString, kBool, kData };

// One record. On encoding, base fields are written when set (has_* or non-empty). On
// decoding, each record carries the base fields in effect for it (RFC 8428 section 4.1:
// base values apply to every later record until replaced), so it can be resolved alone.
struct Record {
  std::string_view base_name;
  bool has_base_time = false;
  double base_time = 0.0;
  std::string_view base_unit;
  bool has_base_value = false;
  double base_value = 0.0;

  std::string_view name;
  std::string_view unit;
  ValueKind kind = ValueKind::kNone;
  double number = 0.0;
  std::string_view text;
  bool boolean = false;
  std::span<const std::uint8_t> data;
  bool has_sum = false;
  double sum = 0.0;
  bool has_time = false;
  double time = 0.0;
  bool has_seq = false;
  std::uint64_t seq = 0;

  // Resolution (RFC 8428 section 4.6).
  double resolved_time() const { return base_time + time; }
  double resolved_number() const { return base_value + number; }
  std::string_view resolved_unit() const { return unit.empty() ? base_unit : unit; }
};

// A numeric record of one Spindle reading (protocol/cddl/telemetry.cddl): its name, unit
// and value, the time relative to the pack's base time (0: at the base time, not sent),
// and the reading's sequence number.
constexpr Record reading_number(std::string_view name, std::string_view unit, double value,
                                double time, std::uint64_t seq) {
  Record r;
  r.name = name;
  r.unit = unit;
  r.kind = ValueKind::kNumber;
  r.number = value;
  r.has_time = time != 0.0;
  r.time = time;
  r.has_seq = true;
  r.seq = seq;
  return r;
}

// Errors: kBufferTooSmall; kInvalidValue for a record that would not decode (no name,
// no value, bad characters).
Result<std::span<const std::uint8_t>> encode(std::span<const Record> records,
                                             std::span<std::uint8_t> out);

// Decodes a pack into `records` (capacity = its size) and returns the record count.
// Errors: the CBOR reader's; kOversize (more records than capacity, long strings);
// kDuplicateKey; kUnknownCriticalField (a label ending in "_", RFC 8428 section 4.4);
// kUnsupportedVersion (bver above 10); kInvalidValue (a record with no value or sum, more
// than one value, a resolved name empty or with characters RFC 8428 section 4.5.1 forbids);
// kWrongType (a label of the wrong type).
Result<std::size_t> decode(std::span<const std::uint8_t> input, std::span<Record> records);

}  // namespace spindle::senml
