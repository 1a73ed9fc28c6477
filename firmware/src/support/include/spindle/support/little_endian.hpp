// Little-endian field access for the firmware's flash layouts (byte order stated
// once, independent of the CPU's).
#pragma once

#include <cstdint>
#include <cstring>

namespace spindle::support {

inline std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
inline void store32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
inline std::uint64_t load64(const std::uint8_t* p) {
  return static_cast<std::uint64_t>(load32(p)) | (static_cast<std::uint64_t>(load32(p + 4)) << 32);
}
inline void store64(std::uint8_t* p, std::uint64_t v) {
  store32(p, static_cast<std::uint32_t>(v));
  store32(p + 4, static_cast<std::uint32_t>(v >> 32));
}
// IEEE 754 binary32, by its bits.
inline float load_float(const std::uint8_t* p) {
  const std::uint32_t bits = load32(p);
  float v = 0.0F;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
inline void store_float(std::uint8_t* p, float v) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  store32(p, bits);
}

}  // namespace spindle::support
