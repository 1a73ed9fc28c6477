#include "spindle/calibration/calibration_store.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "spindle/support/crc32.hpp"
#include "spindle/support/little_endian.hpp"

namespace spindle::calibration {
namespace {

// The record, little-endian, at the start of its sector:
//   0 magic "SPCL" | 4 format u16 | 6 feature count u8 | 7 phase u8 | 8 seq u32
//   12 generation u32 | 16 windows_done u32 | 20 threshold f32 | 24 clamp u8, 3 zero bytes
//   28 model version u64 | 36 model id, 33 bytes NUL-padded, 3 zero bytes
//   72 mean f32 x 64 | 328 stddev f32 x 64 | 584 CRC-32 of bytes 0..583
constexpr std::uint32_t kMagic = 0x4C435053U;  // "SPCL"
constexpr std::uint16_t kFormat = 1;
constexpr std::size_t kIdAt = 36;
constexpr std::size_t kMeanAt = 72;
constexpr std::size_t kStddevAt = kMeanAt + 4 * kMaxFeatures;
constexpr std::size_t kCrcAt = kStddevAt + 4 * kMaxFeatures;
constexpr std::size_t kRecordBytes = kCrcAt + 4;
static_assert(kIdAt + kMaxIdSize + 1 <= kMeanAt, "the model id overlaps the statistics");
static_assert(kRecordBytes == 588, "the calibration record layout changed: bump kFormat");
// Room for any write block up to 64 bytes.
constexpr std::size_t kBufferBytes = 640;

std::size_t padded(std::size_t bytes, std::size_t block) {
  return (bytes + block - 1) / block * block;
}

bool valid_progress(const Progress& p) {
  const auto phase = static_cast<std::uint8_t>(p.phase);
  if (phase < static_cast<std::uint8_t>(Phase::kNormalizing) ||
      phase > status_report::kMaxCalibrationState) {
    return false;
  }
  if (static_cast<std::uint8_t>(p.clamp) > status_report::kMaxThresholdClamp) return false;
  if (p.normalization.count > kMaxFeatures || p.generation == 0) return false;
  if (!std::isfinite(p.threshold)) return false;
  for (std::size_t i = 0; i < p.normalization.count; ++i) {
    if (!std::isfinite(p.normalization.mean[i]) || !std::isfinite(p.normalization.stddev[i]) ||
        p.normalization.stddev[i] < 0.0F) {
      return false;
    }
  }
  return true;
}

void encode(const Record& r, std::uint32_t seq, std::span<std::uint8_t, kBufferBytes> out) {
  std::fill(out.begin(), out.end(), std::uint8_t{0xFF});
  std::uint8_t* p = out.data();
  std::fill(p, p + kRecordBytes, std::uint8_t{0});
  const Progress& g = r.progress;
  support::store32(p, kMagic);
  support::store16(p + 4, kFormat);
  p[6] = static_cast<std::uint8_t>(g.normalization.count);
  p[7] = static_cast<std::uint8_t>(g.phase);
  support::store32(p + 8, seq);
  support::store32(p + 12, g.generation);
  support::store32(p + 16, g.windows_done);
  support::store_float(p + 20, g.threshold);
  p[24] = static_cast<std::uint8_t>(g.clamp);
  support::store64(p + 28, r.version);
  std::memcpy(p + kIdAt, r.model_id.data(), r.id().size());
  for (std::size_t i = 0; i < g.normalization.count; ++i) {
    support::store_float(p + kMeanAt + 4 * i, g.normalization.mean[i]);
    support::store_float(p + kStddevAt + 4 * i, g.normalization.stddev[i]);
  }
  support::store32(p + kCrcAt, support::crc32_update(0, {p, kCrcAt}));
}

// False for an erased, torn or foreign sector.
bool decode(std::span<const std::uint8_t> in, Record* r, std::uint32_t* seq) {
  const std::uint8_t* p = in.data();
  if (support::load32(p) != kMagic || support::load16(p + 4) != kFormat) return false;
  if (support::load32(p + kCrcAt) != support::crc32_update(0, {p, kCrcAt})) return false;
  Record out;
  Progress& g = out.progress;
  g.normalization.count = p[6];
  g.phase = static_cast<Phase>(p[7]);
  *seq = support::load32(p + 8);
  g.generation = support::load32(p + 12);
  g.windows_done = support::load32(p + 16);
  g.threshold = support::load_float(p + 20);
  g.clamp = static_cast<ThresholdClamp>(p[24]);
  out.version = support::load64(p + 28);
  std::memcpy(out.model_id.data(), p + kIdAt, kMaxIdSize);
  out.model_id[kMaxIdSize] = '\0';
  if (g.normalization.count > kMaxFeatures) return false;
  for (std::size_t i = 0; i < g.normalization.count; ++i) {
    g.normalization.mean[i] = support::load_float(p + kMeanAt + 4 * i);
    g.normalization.stddev[i] = support::load_float(p + kStddevAt + 4 * i);
  }
  if (!valid_progress(g) || !check_id(out.id()).ok()) return false;
  *r = out;
  return true;
}

}  // namespace

void Record::set_id(std::string_view id) {
  model_id.fill('\0');
  std::memcpy(model_id.data(), id.data(), std::min(id.size(), kMaxIdSize));
}

Status CalibrationStore::mount(os::FlashArea* area) {
  const std::uint32_t sector = area->sector_size();
  if (sector == 0 || area->size() < 2 * sector || sector < kBufferBytes ||
      area->write_block_size() == 0 || kBufferBytes % area->write_block_size() != 0) {
    return Error::kInvalidValue;
  }
  area_ = area;
  has_record_ = false;
  std::array<std::uint8_t, kBufferBytes> buffer{};
  for (std::uint32_t s = 0; s < 2; ++s) {
    SPINDLE_TRY(area->read(s * sector, {buffer.data(), kRecordBytes}));
    Record r;
    std::uint32_t seq = 0;
    if (!decode({buffer.data(), kRecordBytes}, &r, &seq)) continue;
    // Sequence numbers only grow; the newer copy wins (wrap-around takes 2^32 saves).
    if (!has_record_ || static_cast<std::int32_t>(seq - seq_) > 0) {
      record_ = r;
      seq_ = seq;
      sector_ = s;
      has_record_ = true;
    }
  }
  return kOk;
}

Status CalibrationStore::save(const Record& record) {
  if (area_ == nullptr) return Error::kInvalidState;
  if (!check_id(record.id()).ok() || !valid_progress(record.progress)) {
    return Error::kInvalidValue;
  }
  const std::uint32_t sector = area_->sector_size();
  const std::uint32_t target = has_record_ ? 1 - sector_ : 0;
  const std::uint32_t seq = has_record_ ? seq_ + 1 : 1;
  std::array<std::uint8_t, kBufferBytes> buffer{};
  encode(record, seq, buffer);
  SPINDLE_TRY(area_->erase(target * sector, sector));
  SPINDLE_TRY(area_->write(target * sector,
                           {buffer.data(), padded(kRecordBytes, area_->write_block_size())}));
  record_ = record;
  seq_ = seq;
  sector_ = target;
  has_record_ = true;
  return kOk;
}

}  // namespace spindle::calibration
