#include "spindle/protocol/hex.hpp"

namespace spindle::hex {

Result<std::size_t> decode(std::string_view text, std::span<std::uint8_t> out) {
  std::size_t used = 0;
  int high = -1;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int value = -1;
    if (c >= '0' && c <= '9') value = c - '0';
    if (c >= 'a' && c <= 'f') value = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') value = c - 'A' + 10;
    if (value < 0) return Error::kMalformed;
    if (high < 0) {
      high = value;
      continue;
    }
    if (used == out.size()) return Error::kBufferTooSmall;
    out[used++] = static_cast<std::uint8_t>(high * 16 + value);
    high = -1;
  }
  if (high >= 0) return Error::kMalformed;
  return used;
}

Result<std::size_t> encode(std::span<const std::uint8_t> bytes, std::span<char> out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  if (out.size() < 2 * bytes.size()) return Error::kBufferTooSmall;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return 2 * bytes.size();
}

}  // namespace spindle::hex
