// What a node reports, as stored in the flash ring and as sent in SenML-CBOR batches
// (protocol/cddl/telemetry.cddl, Spindle profile).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"
#include "spindle/telemetry/flash_ring.hpp"

namespace spindle::telemetry {

enum class RecordKind : std::uint8_t { kReading = 1, kFeatureStats = 2 };

// One scored window.
struct Reading {
  std::uint32_t seq = 0;
  std::uint64_t unix_ms = 0;
  float score = 0.0F;        // NaN while no model is active
  bool anomaly = false;      // score above the model's threshold
  bool calibrating = false;  // the model is still adapting to this machine: no alarms
  std::uint32_t latency_us = 0;
  std::uint32_t arena_high_water = 0;
  std::uint32_t uptime_s = 0;
  std::uint32_t reboots = 0;
  std::uint32_t download_retries = 0;
  std::uint32_t ring_dropped = 0;
};

// Per-feature mean and standard deviation over the last `windows` windows, for drift
// checks against the model's training baseline.
struct FeatureStats {
  std::uint32_t seq = 0;
  std::uint64_t unix_ms = 0;
  std::uint16_t windows = 0;
  std::uint8_t count = 0;
  std::array<float, kMaxFeatures> mean{};
  std::array<float, kMaxFeatures> stddev{};
};

// Fixed little-endian layouts of the ring payloads. Errors: kBufferTooSmall / kMalformed
// (a payload of the wrong length), kOversize (more than kMaxFeatures).
Result<std::size_t> serialize(const Reading& reading, std::span<std::uint8_t> out);
Result<std::size_t> serialize(const FeatureStats& stats, std::span<std::uint8_t> out);
Result<Reading> deserialize_reading(std::span<const std::uint8_t> payload);
Result<FeatureStats> deserialize_feature_stats(std::span<const std::uint8_t> payload);

// The sequence number of a ring record of either kind. Errors: kMalformed.
Result<std::uint32_t> record_seq(const RingEntry& entry);

struct Batch {
  std::span<const std::uint8_t> bytes;  // the SenML-CBOR pack
  std::size_t entries = 0;              // how many ring entries (from the front) it holds
};

// Encodes as many of `entries` (oldest first, at most 8) as fit in `out` into one SenML
// pack with base name "urn:dev:spindle:<device_id>:", stopping before an entry that does
// not deserialize. Errors: kBufferTooSmall (not even the first entry fits), kMalformed
// (the first entry does not deserialize; the caller drops it), kInvalidValue (no entries
// or a bad device id).
Result<Batch> encode_batch(std::string_view device_id, std::span<const RingEntry> entries,
                           std::span<std::uint8_t> out);

}  // namespace spindle::telemetry
