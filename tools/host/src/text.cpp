#include "spindle/host/text.hpp"

#include "spindle/protocol/hex.hpp"

namespace spindle::host {

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string text(2 * bytes.size(), '\0');
  (void)hex::encode(bytes, text);  // cannot fail: the buffer is exactly large enough
  return text;
}

Result<ByteVector> parse_hex(std::string_view text) {
  ByteVector bytes(text.size() / 2 + 1);
  SPINDLE_TRY_ASSIGN(const std::size_t size, hex::decode(text, bytes));
  bytes.resize(size);
  return bytes;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

}  // namespace spindle::host
