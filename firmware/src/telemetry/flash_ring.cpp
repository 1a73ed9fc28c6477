#include "spindle/telemetry/flash_ring.hpp"

#include <cstring>

#include "spindle/support/little_endian.hpp"

#include "spindle/support/crc32.hpp"

namespace spindle::telemetry {
namespace {

using support::crc32_update;
using support::load16;
using support::load32;
using support::store16;
using support::store32;

constexpr std::uint32_t kSectorMagic = 0x474E5253;  // "SRNG"
constexpr std::uint16_t kRecordMagic = 0xA55A;
constexpr std::uint32_t kSectorHeaderSize = 24;
constexpr std::uint32_t kRecordHeaderSize = 16;
constexpr std::uint32_t kAckSize = 8;

constexpr std::uint32_t padded(std::uint32_t length) {
  return (length + 7U) & ~7U;
}
constexpr std::uint32_t record_size(std::uint32_t length) {
  return kRecordHeaderSize + padded(length) + kAckSize;
}

bool all_erased(std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) {
    if (b != 0xFF) return false;
  }
  return true;
}

std::uint32_t record_crc(std::uint8_t kind, std::uint16_t length,
                         std::span<const std::uint8_t> payload) {
  std::uint8_t head[3] = {kind, static_cast<std::uint8_t>(length),
                          static_cast<std::uint8_t>(length >> 8)};
  return crc32_update(crc32_update(0, head), payload);
}

}  // namespace

Status FlashRing::mount(os::FlashArea* area) {
  area_ = area;
  sector_size_ = area->sector_size();
  sector_count_ = sector_size_ == 0 ? 0 : area->size() / sector_size_;
  if (sector_count_ < 2 || sector_count_ > kMaxRingSectors ||
      sector_size_ < kSectorHeaderSize + record_size(kMaxRecordPayload) ||
      area->write_block_size() == 0 || kAckSize % area->write_block_size() != 0) {
    area_ = nullptr;
    return Error::kInvalidValue;
  }
  unacked_total_ = 0;
  dropped_ = 0;
  bool any = false;
  std::uint32_t head_dropped = 0;
  for (std::uint32_t i = 0; i < sector_count_; ++i) {
    sectors_[i] = {};
    std::uint8_t header[kSectorHeaderSize];
    SPINDLE_TRY(area_->read(i * sector_size_, header));
    const std::uint32_t sequence = load32(header);
    const std::uint32_t dropped = load32(header + 8);
    // The magic is written last, after the checked fields: a header torn anywhere fails.
    if (load32(header + 16) != kSectorMagic || load32(header + 4) != ~sequence ||
        load32(header + 12) != ~dropped) {
      continue;
    }
    sectors_[i].valid = true;
    sectors_[i].sequence = sequence;
    SPINDLE_TRY(scan_sector(i));
    unacked_total_ += sectors_[i].unacked;
    if (!any || sectors_[i].sequence > sectors_[head_].sequence) {
      head_ = i;
      head_dropped = dropped;
    }
    any = true;
  }
  dropped_ = head_dropped;
  if (!any) {
    head_ = 0;
    return format_sector(0, 1);
  }
  // Only the newest sector takes appends; older ones are closed whatever space they have.
  for (std::uint32_t i = 0; i < sector_count_; ++i) {
    if (i != head_) sectors_[i].closed = true;
  }
  return kOk;
}

Result<bool> FlashRing::read_record(std::uint32_t index, std::uint32_t offset, RingEntry* entry,
                                    bool* acknowledged) {
  if (offset + kRecordHeaderSize > sector_size_) return false;
  const std::uint32_t base = index * sector_size_ + offset;
  std::uint8_t header[kRecordHeaderSize];
  SPINDLE_TRY(area_->read(base, header));
  if (load16(header) != kRecordMagic) return false;
  const std::uint8_t kind = header[2];
  const std::uint16_t length = load16(header + 4);
  if (length > kMaxRecordPayload || offset + record_size(length) > sector_size_) return false;
  SPINDLE_TRY(area_->read(base + kRecordHeaderSize, {entry->payload.data(), length}));
  if (record_crc(kind, length, {entry->payload.data(), length}) != load32(header + 8)) {
    return false;
  }
  std::uint8_t ack[kAckSize];
  SPINDLE_TRY(area_->read(base + kRecordHeaderSize + padded(length), ack));
  // Any cleared byte counts: a torn acknowledgement still means the gateway had it.
  *acknowledged = !all_erased(ack);
  entry->sector = index;
  entry->sector_sequence = sectors_[index].sequence;
  entry->offset = offset;
  entry->kind = kind;
  entry->length = length;
  return true;
}

Status FlashRing::scan_sector(std::uint32_t index) {
  Sector& s = sectors_[index];
  std::uint32_t offset = kSectorHeaderSize;
  RingEntry entry;
  for (;;) {
    bool acknowledged = false;
    SPINDLE_TRY_ASSIGN(const bool found, read_record(index, offset, &entry, &acknowledged));
    if (!found) break;
    if (!acknowledged) ++s.unacked;
    offset += record_size(entry.length);
  }
  s.end = offset;
  // What follows the last record must be free space; anything else is a torn write.
  if (offset + kRecordHeaderSize <= sector_size_) {
    std::uint8_t header[kRecordHeaderSize];
    SPINDLE_TRY(area_->read(index * sector_size_ + offset, header));
    s.closed = !all_erased(header);
  } else {
    s.closed = true;
  }
  return kOk;
}

Status FlashRing::format_sector(std::uint32_t index, std::uint32_t sequence) {
  SPINDLE_TRY(area_->erase(index * sector_size_, sector_size_));
  // Sequence and the drop count (so it survives reboots) first, each with its complement,
  // then the magic in a write of its own.
  std::uint8_t fields[16];
  store32(fields, sequence);
  store32(fields + 4, ~sequence);
  store32(fields + 8, dropped_);
  store32(fields + 12, ~dropped_);
  SPINDLE_TRY(area_->write(index * sector_size_, fields));
  std::uint8_t magic[8];
  std::memset(magic, 0xFF, sizeof magic);
  store32(magic, kSectorMagic);
  SPINDLE_TRY(area_->write(index * sector_size_ + 16, magic));
  sectors_[index] = {true, sequence, false, kSectorHeaderSize, 0};
  return kOk;
}

Status FlashRing::advance() {
  const std::uint32_t n = next(head_);
  if (sectors_[n].valid && sectors_[n].unacked > 0) {
    // The overflow policy: the oldest unsent readings give way to new ones, counted.
    dropped_ += sectors_[n].unacked;
    unacked_total_ -= sectors_[n].unacked;
  }
  sectors_[n].valid = false;
  sectors_[n].unacked = 0;
  sectors_[head_].closed = true;
  SPINDLE_TRY(format_sector(n, sectors_[head_].sequence + 1));
  head_ = n;
  return kOk;
}

Status FlashRing::append(std::uint8_t kind, std::span<const std::uint8_t> payload) {
  if (area_ == nullptr) return Error::kInvalidState;
  if (payload.size() > kMaxRecordPayload) return Error::kOversize;
  const auto length = static_cast<std::uint16_t>(payload.size());
  Sector* head = &sectors_[head_];
  if (head->closed || head->end + record_size(length) > sector_size_) {
    SPINDLE_TRY(advance());
    head = &sectors_[head_];
  }
  std::uint8_t buffer[kRecordHeaderSize + kMaxRecordPayload + 8];
  const std::uint32_t write_size = kRecordHeaderSize + padded(length);
  std::memset(buffer, 0xFF, write_size);
  store16(buffer, kRecordMagic);
  buffer[2] = kind;
  store16(buffer + 4, length);
  store32(buffer + 8, record_crc(kind, length, payload));
  if (!payload.empty()) std::memcpy(buffer + kRecordHeaderSize, payload.data(), payload.size());
  const Status written = area_->write(head_ * sector_size_ + head->end, {buffer, write_size});
  if (!written.ok()) {
    // Whatever reached the flash is torn: never write after it.
    head->closed = true;
    return written;
  }
  head->end += record_size(length);
  ++head->unacked;
  ++unacked_total_;
  return kOk;
}

Result<std::size_t> FlashRing::peek(std::span<RingEntry> out) {
  if (area_ == nullptr) return Error::kInvalidState;
  std::size_t count = 0;
  std::uint32_t index = next(head_);
  for (std::uint32_t visited = 0; visited < sector_count_ && count < out.size(); ++visited) {
    const Sector& s = sectors_[index];
    if (s.valid && s.unacked > 0) {
      std::uint32_t offset = kSectorHeaderSize;
      while (offset < s.end && count < out.size()) {
        bool acknowledged = false;
        SPINDLE_TRY_ASSIGN(const bool found,
                           read_record(index, offset, &out[count], &acknowledged));
        if (!found) break;
        offset += record_size(out[count].length);
        if (!acknowledged) ++count;
      }
    }
    index = next(index);
  }
  return count;
}

Status FlashRing::newest(RingEntry* out) {
  if (area_ == nullptr) return Error::kInvalidState;
  // Sectors from the head backwards, newest first; the last valid record of the first
  // sector that has one.
  std::uint32_t index = head_;
  for (std::uint32_t visited = 0; visited < sector_count_; ++visited) {
    const Sector& s = sectors_[index];
    bool found_any = false;
    if (s.valid) {
      std::uint32_t offset = kSectorHeaderSize;
      RingEntry entry;
      while (offset < s.end) {
        bool acknowledged = false;
        SPINDLE_TRY_ASSIGN(const bool found, read_record(index, offset, &entry, &acknowledged));
        if (!found) break;
        *out = entry;
        found_any = true;
        offset += record_size(entry.length);
      }
    }
    if (found_any) return kOk;
    index = (index + sector_count_ - 1) % sector_count_;
  }
  return Error::kUnavailable;
}

Status FlashRing::acknowledge(const RingEntry& entry) {
  if (area_ == nullptr) return Error::kInvalidState;
  if (entry.sector >= sector_count_) return Error::kInvalidValue;
  Sector& s = sectors_[entry.sector];
  // The sector was reused since the entry was read: the record was dropped, nothing to do.
  if (!s.valid || s.sequence != entry.sector_sequence) return kOk;
  const std::uint32_t ack_at =
      entry.sector * sector_size_ + entry.offset + kRecordHeaderSize + padded(entry.length);
  std::uint8_t ack[kAckSize];
  SPINDLE_TRY(area_->read(ack_at, ack));
  if (!all_erased(ack)) return kOk;  // already acknowledged
  std::memset(ack, 0, sizeof ack);
  SPINDLE_TRY(area_->write(ack_at, ack));
  if (s.unacked > 0) --s.unacked;
  if (unacked_total_ > 0) --unacked_total_;
  return kOk;
}

}  // namespace spindle::telemetry
