// The calibration record in flash: which model it belongs to and its Progress, kept
// power-safely in the board's calibration partition (two sectors or more; the first two
// are used).
//
// Two copies, written in turn (sequence-numbered, CRC-32): saving erases the sector that
// does not hold the newest record and writes the new record there, so a power cut during
// the erase or the write leaves the previous record intact and valid. Mounting takes the
// valid record with the highest sequence number. A record is one fixed little-endian layout
// of kRecordBytes (calibration_store.cpp), padded to the write block.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "spindle/calibration/calibrator.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::calibration {

struct Record {
  std::array<char, kMaxIdSize + 1> model_id{};  // NUL-terminated
  std::uint64_t version = 0;
  Progress progress;

  std::string_view id() const { return model_id.data(); }
  void set_id(std::string_view id);
};

class CalibrationStore {
 public:
  // Reads the newest valid record (none on a fresh partition). No writes.
  // Errors: kInvalidValue (an area smaller than two sectors, or a sector smaller than a
  // record), the flash's errors.
  Status mount(os::FlashArea* area);

  bool has_record() const { return has_record_; }
  const Record& record() const { return record_; }

  // Makes `record` the stored one. On error the previous record stands, in flash and here.
  // Errors: kInvalidValue (a record that would not read back: bad id, too many features),
  // the flash's errors.
  Status save(const Record& record);

 private:
  os::FlashArea* area_ = nullptr;
  bool has_record_ = false;
  Record record_{};
  std::uint32_t seq_ = 0;     // of the newest record
  std::uint32_t sector_ = 0;  // holding the newest record
};

}  // namespace spindle::calibration
