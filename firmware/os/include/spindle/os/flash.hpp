// NOR flash devices and partitions (Zephyr: the flash driver API and flash_area).
//
// The contract is real NOR behaviour, because the model store and the telemetry ring are
// only power-safe if they respect it: erasing sets whole sectors to 0xFF; writing can only
// clear bits (the cell ends up as old AND new), in whole write blocks. Code that "works"
// by overwriting bytes in place would corrupt data on a real board, so the native_sim
// device refuses to behave more kindly than the hardware.
#pragma once

#include <cstdint>
#include <span>

#include "spindle/status.hpp"

namespace spindle::os {

inline constexpr std::uint8_t kFlashErasedByte = 0xFF;

class FlashDevice {
 public:
  virtual ~FlashDevice() = default;

  // Geometry; all zero before the device is ready. Sectors are uniform (what
  // flash_get_page_info reports for every page of the parts Spindle supports).
  virtual std::uint32_t size() const = 0;
  virtual std::uint32_t sector_size() const = 0;
  virtual std::uint32_t write_block_size() const = 0;

  // Copies `out.size()` bytes from `offset`. Any offset and length.
  // Errors: kInvalidValue if the range leaves the device; kInvalidState if the device is
  // not ready; kIoError if the medium fails; kPowerLoss after a (simulated) power cut.
  virtual Status read(std::uint32_t offset, std::span<std::uint8_t> out) = 0;

  // Programs `data` at `offset`: each byte becomes old AND data, so only an erased range
  // takes the data as given. `offset` and `data.size()` must be multiples of
  // write_block_size(). Programming is done when the call returns.
  // Errors: kInvalidValue if misaligned or out of range; kInvalidState if the device is
  // not ready; kIoError if the medium fails; kPowerLoss if power was cut during or before
  // the write (the range is then partly programmed).
  virtual Status write(std::uint32_t offset, std::span<const std::uint8_t> data) = 0;

  // Sets `size` bytes from `offset` to 0xFF. Both must be multiples of sector_size().
  // Errors: as write(); after kPowerLoss the range is partly erased.
  virtual Status erase(std::uint32_t offset, std::uint32_t size) = 0;

 protected:
  FlashDevice() = default;
  FlashDevice(const FlashDevice&) = default;
  FlashDevice& operator=(const FlashDevice&) = default;
};

// A partition of a FlashDevice (slot A, slot B, state record, telemetry ring), addressed
// from its own start and unable to touch its neighbours.
class FlashArea {
 public:
  // The area may be declared before the device is ready; it is checked on every call.
  FlashArea(FlashDevice& device, std::uint32_t offset, std::uint32_t size)
      : device_(&device), offset_(offset), size_(size) {}

  std::uint32_t offset() const { return offset_; }  // in the device
  std::uint32_t size() const { return size_; }
  std::uint32_t sector_size() const { return device_->sector_size(); }
  std::uint32_t write_block_size() const { return device_->write_block_size(); }

  // As FlashDevice::read / write / erase, with `offset` relative to the area.
  // Errors: kInvalidValue if the range leaves the area, or if the area itself does not lie
  // within the device on sector boundaries; kInvalidState if the device is not ready;
  // otherwise the device's errors.
  Status read(std::uint32_t offset, std::span<std::uint8_t> out);
  Status write(std::uint32_t offset, std::span<const std::uint8_t> data);
  Status erase(std::uint32_t offset, std::uint32_t size);

 private:
  Status check(std::uint32_t offset, std::uint64_t length) const;

  FlashDevice* device_;
  std::uint32_t offset_;
  std::uint32_t size_;
};

}  // namespace spindle::os
