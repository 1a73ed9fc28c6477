#include "spindle/telemetry/reading.hpp"

#include "spindle/protocol/feature_pairs.hpp"

#include <cmath>
#include <cstring>

#include "spindle/protocol/senml.hpp"

namespace spindle::telemetry {
namespace {

constexpr std::size_t kReadingSize = 41;
constexpr std::size_t kStatsHeaderSize = 15;

// Little-endian field writer / reader over a byte span; overflow is reported once.
class Packer {
 public:
  explicit Packer(std::span<std::uint8_t> out) : out_(out) {}
  template <typename T>
  void put(T value) {
    static_assert(sizeof(T) <= 8);
    if (used_ + sizeof(T) > out_.size()) {
      overflow_ = true;
      return;
    }
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      out_[used_++] = static_cast<std::uint8_t>(bits >> (8 * i));
    }
  }
  Result<std::size_t> finish() const {
    if (overflow_) return Error::kBufferTooSmall;
    return used_;
  }

 private:
  std::span<std::uint8_t> out_;
  std::size_t used_ = 0;
  bool overflow_ = false;
};

class Unpacker {
 public:
  explicit Unpacker(std::span<const std::uint8_t> in) : in_(in) {}
  template <typename T>
  T get() {
    if (used_ + sizeof(T) > in_.size()) {
      short_ = true;
      return T{};
    }
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      bits |= static_cast<std::uint64_t>(in_[used_++]) << (8 * i);
    }
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
  }
  bool complete() const { return !short_ && used_ == in_.size(); }

 private:
  std::span<const std::uint8_t> in_;
  std::size_t used_ = 0;
  bool short_ = false;
};

}  // namespace

Result<std::size_t> serialize(const Reading& r, std::span<std::uint8_t> out) {
  Packer p(out);
  p.put(r.seq);
  p.put(r.unix_ms);
  p.put(r.score);
  // Flags: bit 0 anomaly, bit 1 calibrating (a record written before bit 1 existed reads
  // as not calibrating).
  p.put(static_cast<std::uint8_t>((r.anomaly ? 1U : 0U) | (r.calibrating ? 2U : 0U)));
  p.put(r.latency_us);
  p.put(r.arena_high_water);
  p.put(r.uptime_s);
  p.put(r.reboots);
  p.put(r.download_retries);
  p.put(r.ring_dropped);
  return p.finish();
}

Result<Reading> deserialize_reading(std::span<const std::uint8_t> payload) {
  if (payload.size() != kReadingSize) return Error::kMalformed;
  Unpacker u(payload);
  Reading r;
  r.seq = u.get<std::uint32_t>();
  r.unix_ms = u.get<std::uint64_t>();
  r.score = u.get<float>();
  const auto flags = u.get<std::uint8_t>();
  r.anomaly = (flags & 1U) != 0;
  r.calibrating = (flags & 2U) != 0;
  r.latency_us = u.get<std::uint32_t>();
  r.arena_high_water = u.get<std::uint32_t>();
  r.uptime_s = u.get<std::uint32_t>();
  r.reboots = u.get<std::uint32_t>();
  r.download_retries = u.get<std::uint32_t>();
  r.ring_dropped = u.get<std::uint32_t>();
  if (!u.complete()) return Error::kMalformed;
  return r;
}

Result<std::size_t> serialize(const FeatureStats& s, std::span<std::uint8_t> out) {
  if (s.count > kMaxFeatures) return Error::kOversize;
  Packer p(out);
  p.put(s.seq);
  p.put(s.unix_ms);
  p.put(s.windows);
  p.put(s.count);
  for (std::size_t i = 0; i < s.count; ++i) {
    p.put(s.mean[i]);
    p.put(s.stddev[i]);
  }
  return p.finish();
}

Result<FeatureStats> deserialize_feature_stats(std::span<const std::uint8_t> payload) {
  if (payload.size() < kStatsHeaderSize) return Error::kMalformed;
  Unpacker u(payload);
  FeatureStats s;
  s.seq = u.get<std::uint32_t>();
  s.unix_ms = u.get<std::uint64_t>();
  s.windows = u.get<std::uint16_t>();
  s.count = u.get<std::uint8_t>();
  if (s.count > kMaxFeatures) return Error::kOversize;
  for (std::size_t i = 0; i < s.count; ++i) {
    s.mean[i] = u.get<float>();
    s.stddev[i] = u.get<float>();
  }
  if (!u.complete()) return Error::kMalformed;
  return s;
}

Result<std::uint32_t> record_seq(const RingEntry& entry) {
  if (entry.length < 4) return Error::kMalformed;
  Unpacker u({entry.payload.data(), 4});
  return u.get<std::uint32_t>();
}

Result<Batch> encode_batch(std::string_view device_id, std::span<const RingEntry> entries,
                           std::span<std::uint8_t> out) {
  if (entries.empty()) return Error::kInvalidValue;
  SPINDLE_TRY(check_id(device_id));
  char base_name[16 + kMaxIdSize + 2];
  constexpr std::string_view kPrefix = "urn:dev:spindle:";
  std::memcpy(base_name, kPrefix.data(), kPrefix.size());
  std::memcpy(base_name + kPrefix.size(), device_id.data(), device_id.size());
  base_name[kPrefix.size() + device_id.size()] = ':';
  const std::string_view bn(base_name, kPrefix.size() + device_id.size() + 1);

  // Records of one reading: score, anomaly, calibrating, latency, arena, uptime, reboots,
  // retries, drops.
  constexpr std::size_t kRecordsPerEntry = 9;
  // A 1024-byte pack holds about six readings; this bounds the stack (64 records).
  constexpr std::size_t kMaxEntries = 8;
  std::array<senml::Record, kRecordsPerEntry * kMaxEntries> records{};
  // Packed (mean, stddev) float32 pairs of feature-stats entries, referenced by records.
  static_assert(kMaxRecordPayload >= 8 * kMaxFeatures);
  std::array<std::array<std::uint8_t, 8 * kMaxFeatures>, 4> packed{};
  std::size_t packed_used = 0;

  std::size_t record_count = 0;
  std::size_t accepted = 0;
  double base_time = 0.0;
  for (std::size_t e = 0; e < entries.size() && e < kMaxEntries; ++e) {
    const std::size_t before = record_count;
    auto add = [&](std::string_view name, std::string_view unit, double value, double t,
                   std::uint32_t seq) {
      senml::Record& r = records[record_count++];
      r = senml::reading_number(name, unit, value, t, seq);
      return &r;
    };
    const RingEntry& entry = entries[e];
    std::uint64_t unix_ms = 0;
    if (entry.kind == static_cast<std::uint8_t>(RecordKind::kReading)) {
      const auto decoded = deserialize_reading(entry.bytes());
      if (!decoded.ok()) {
        if (e == 0) return Error::kMalformed;
        break;  // the good records before it go now; the bad one comes first next time
      }
      const Reading& r = *decoded;
      unix_ms = r.unix_ms;
      if (e == 0) base_time = static_cast<double>(unix_ms / 1000);
      const double t = static_cast<double>(unix_ms) / 1000.0 - base_time;
      // No score while no model is active (stored as NaN, which SenML cannot carry).
      if (!std::isnan(r.score)) {
        add("score", "/", static_cast<double>(r.score), t, r.seq);
        senml::Record* anomaly = add("anomaly", "", 0, t, r.seq);
        anomaly->kind = senml::ValueKind::kBool;
        anomaly->boolean = r.anomaly;
        if (r.calibrating) {  // only while it is so: most readings are calibrated
          senml::Record* calibrating = add("calibrating", "", 0, t, r.seq);
          calibrating->kind = senml::ValueKind::kBool;
          calibrating->boolean = true;
        }
      }
      add("latency", "s", r.latency_us / 1e6, t, r.seq);
      add("arena_hwm", "B", r.arena_high_water, t, r.seq);
      add("uptime", "s", r.uptime_s, t, r.seq);
      add("reboots", "", r.reboots, t, r.seq);
      add("dl_retries", "", r.download_retries, t, r.seq);
      add("ring_dropped", "", r.ring_dropped, t, r.seq);
    } else if (entry.kind == static_cast<std::uint8_t>(RecordKind::kFeatureStats)) {
      if (packed_used == packed.size()) break;  // the rest goes in the next batch
      const auto decoded = deserialize_feature_stats(entry.bytes());
      if (!decoded.ok()) {
        if (e == 0) return Error::kMalformed;
        break;
      }
      const FeatureStats& s = *decoded;
      unix_ms = s.unix_ms;
      if (e == 0) base_time = static_cast<double>(unix_ms / 1000);
      const double t = static_cast<double>(unix_ms) / 1000.0 - base_time;
      auto& bytes = packed[packed_used++];
      SPINDLE_TRY(feature_pairs::pack({s.mean.data(), s.count}, {s.stddev.data(), s.count}, bytes));
      add("feature_windows", "", s.windows, t, s.seq);
      senml::Record* stats = add("feature_stats", "", 0, t, s.seq);
      stats->kind = senml::ValueKind::kData;
      stats->data = {bytes.data(), 8U * s.count};
    } else {
      if (e == 0) return Error::kMalformed;
      break;
    }
    records[0].base_name = bn;
    records[0].has_base_time = true;
    records[0].base_time = base_time;
    const auto attempt = senml::encode({records.data(), record_count}, out);
    if (!attempt.ok()) {
      if (attempt.status() != Status(Error::kBufferTooSmall)) return attempt.status();
      if (accepted == 0) return Error::kBufferTooSmall;
      record_count = before;
      break;
    }
    accepted = e + 1;
  }
  if (accepted == 0) return Error::kBufferTooSmall;
  // Re-encode the accepted prefix when the last attempt overflowed and left `out` partial.
  const auto final_pack = senml::encode({records.data(), record_count}, out);
  SPINDLE_TRY(final_pack.status());
  return Batch{*final_pack, accepted};
}

}  // namespace spindle::telemetry
