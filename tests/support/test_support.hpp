// Helpers shared by Spindle's tests: hex conversion and golden-vector files.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/protocol/hex.hpp"

namespace spindle::test {

// Hex test data; whitespace separates groups for readability (protocol/hex.hpp rules).
inline std::vector<std::uint8_t> from_hex(std::string_view text) {
  std::vector<std::uint8_t> out(text.size() / 2 + 1);
  const auto size = hex::decode(text, out);
  if (!size.ok()) throw std::invalid_argument("bad hex test data");
  out.resize(*size);
  return out;
}

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(2 * bytes.size(), '\0');
  (void)hex::encode(bytes, out);
  return out;
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string vector_path(std::string_view name) {
  return std::string(SPINDLE_VECTORS_DIR) + "/" + std::string(name);
}

}  // namespace spindle::test
