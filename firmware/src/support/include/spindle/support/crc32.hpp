// CRC-32 (IEEE 802.3, reflected, as zlib) for record integrity in flash.
#pragma once

#include <cstdint>
#include <span>

namespace spindle::support {

inline std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::uint8_t> data) {
  crc = ~crc;
  for (const std::uint8_t byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

}  // namespace spindle::support
