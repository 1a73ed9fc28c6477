// A power-safe ring of telemetry records in a NOR flash partition.
//
// Every reading is appended here first and sent from here, so a reading survives a link
// outage or a reboot, and is dropped only by the explicit overflow policy below. Records
// are acknowledged in place (a word cleared after the gateway confirmed them), so nothing
// is sent twice after a reboot either, and acknowledging never erases.
//
// Layout (all little-endian, offsets within a sector):
//   sector header  24 B: sector sequence u32, its complement, drops so far u32, its
//                  complement (written first), then magic "SRNG" (0x474E5253) and FF..FF
//                  (written last, so a torn header is never taken for a valid one)
//   record         16 B header: magic 0xA55A u16, kind u8, 0xFF, payload length u16,
//                  0xFFFF, CRC-32 (IEEE) over kind, length and payload u32, 0xFFFFFFFF;
//                  payload padded with FF to 8 bytes; then an 8-byte ack word, FF..FF
//                  until acknowledged, cleared to 00..00 after.
// A torn record (bad magic or CRC) ends its sector: nothing is written after it.
// Overflow policy: when the ring is full, the oldest sector is erased and its
// unacknowledged records are dropped and counted (dropped(), kept across reboots in the
// newest sector header).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/os/flash.hpp"
#include "spindle/status.hpp"

namespace spindle::telemetry {

// Room for the largest record: feature statistics of kMaxFeatures features (15 + 512 B).
inline constexpr std::size_t kMaxRecordPayload = 576;
inline constexpr std::size_t kMaxRingSectors = 256;

// Where a record lives, and a copy of it.
struct RingEntry {
  std::uint32_t sector = 0;
  std::uint32_t sector_sequence = 0;  // guards against acknowledging into a reused sector
  std::uint32_t offset = 0;           // of the record header within the sector
  std::uint8_t kind = 0;
  std::uint16_t length = 0;
  std::array<std::uint8_t, kMaxRecordPayload> payload{};
  std::span<const std::uint8_t> bytes() const { return {payload.data(), length}; }
};

// Not thread-safe: the caller serialises append, peek and acknowledge.
class FlashRing {
 public:
  // Scans the partition and recovers order, the unacknowledged records and the write
  // position; formats it when it holds no ring. Errors: kInvalidValue (the area has fewer
  // than 2 or more than kMaxRingSectors sectors, or sectors too small for one record),
  // the flash device's errors (kIoError, kPowerLoss).
  Status mount(os::FlashArea* area);

  // Appends a record. May erase the next sector, dropping its unacknowledged records.
  // Errors: kOversize (payload above kMaxRecordPayload), kInvalidState (not mounted),
  // the flash device's errors.
  Status append(std::uint8_t kind, std::span<const std::uint8_t> payload);

  // Copies up to out.size() unacknowledged records, oldest first; returns how many.
  Result<std::size_t> peek(std::span<RingEntry> out);

  // Marks a record (as returned by peek) acknowledged. Errors: the flash device's.
  Status acknowledge(const RingEntry& entry);

  // The most recently appended record, acknowledged or not (the node resumes its sequence
  // numbers after it). Errors: kUnavailable (the ring holds no record), the flash's.
  Status newest(RingEntry* out);

  // Counts records the caller gave up on (e.g. refused by the gateway) as dropped.
  void count_dropped(std::uint32_t records) { dropped_ += records; }

  std::uint32_t unacknowledged() const { return unacked_total_; }
  std::uint32_t dropped() const { return dropped_; }

 private:
  struct Sector {
    bool valid = false;
    std::uint32_t sequence = 0;
    bool closed = false;    // a torn record or a full sector: no more appends here
    std::uint32_t end = 0;  // end of the valid records
    std::uint32_t unacked = 0;
  };

  Status format_sector(std::uint32_t index, std::uint32_t sequence);
  Status scan_sector(std::uint32_t index);
  // Reads the record at `offset` of sector `index` into `entry`; false at the end of the
  // valid records (free space, a torn record, or the end of the sector).
  Result<bool> read_record(std::uint32_t index, std::uint32_t offset, RingEntry* entry,
                           bool* acknowledged);
  Status advance();
  std::uint32_t next(std::uint32_t index) const { return (index + 1) % sector_count_; }

  os::FlashArea* area_ = nullptr;
  std::uint32_t sector_size_ = 0;
  std::uint32_t sector_count_ = 0;
  std::uint32_t head_ = 0;  // the sector being written
  std::array<Sector, kMaxRingSectors> sectors_{};
  std::uint32_t unacked_total_ = 0;
  std::uint32_t dropped_ = 0;
};

}  // namespace spindle::telemetry
