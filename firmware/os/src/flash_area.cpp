// FlashArea: bounds checks in front of any FlashDevice, shared by every backend.
#include "spindle/os/flash.hpp"

namespace spindle::os {

Status FlashArea::check(std::uint32_t offset, std::uint64_t length) const {
  const std::uint32_t sector = device_->sector_size();
  if (sector == 0) return Error::kInvalidState;  // the device is not open yet
  // A partition that is misaligned or hangs off the device would let an erase reach a
  // neighbour; refuse to use it at all.
  if (offset_ % sector != 0 || size_ % sector != 0 ||
      std::uint64_t{offset_} + size_ > device_->size()) {
    return Error::kInvalidValue;
  }
  if (std::uint64_t{offset} + length > size_) return Error::kInvalidValue;
  return kOk;
}

Status FlashArea::read(std::uint32_t offset, std::span<std::uint8_t> out) {
  SPINDLE_TRY(check(offset, out.size()));
  return device_->read(offset_ + offset, out);
}

Status FlashArea::write(std::uint32_t offset, std::span<const std::uint8_t> data) {
  SPINDLE_TRY(check(offset, data.size()));
  return device_->write(offset_ + offset, data);
}

Status FlashArea::erase(std::uint32_t offset, std::uint32_t size) {
  SPINDLE_TRY(check(offset, size));
  return device_->erase(offset_ + offset, size);
}

}  // namespace spindle::os
