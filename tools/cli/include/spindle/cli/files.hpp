// Files and hex text for the host tools: keys, tokens, digests and model files are
// exchanged as files (hex text for anything short and secret, so shell scripts and the
// Python tests read them without a CBOR or PEM library). The work is spindle::host's
// (spindle/host/files.hpp, text.hpp), which the gateway uses too; this header gives it the
// tools' error reporting.
//
// Errors are exceptions, for a tool's main() (guarded_main.hpp): std::runtime_error when a
// file cannot be read or written, std::invalid_argument when its contents are not what
// they should be, each naming the file.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/host/files.hpp"
#include "spindle/host/text.hpp"

namespace spindle::cli {

using ByteVector = host::ByteVector;
using host::to_hex;
using host::Visibility;

// Decodes hex text (whitespace ignored). Throws std::invalid_argument naming `what` (a flag
// or a file) when it is not hex or is empty.
inline ByteVector parse_hex(std::string_view text, const std::string& what) {
  auto bytes = host::parse_hex(text);
  if (!bytes.ok())
    throw std::invalid_argument(what + " is not hex (" + bytes.status().name() + ")");
  if (bytes->empty()) throw std::invalid_argument(what + " is empty");
  return std::move(bytes).value();
}

inline ByteVector read_file(const std::string& path) {
  std::string problem;
  auto bytes = host::read_file(path, &problem);
  if (!bytes.ok()) throw std::runtime_error(problem);
  return std::move(bytes).value();
}

// The file's text without leading and trailing whitespace (a token, a key in hex).
inline std::string read_trimmed_text(const std::string& path) {
  std::string problem;
  auto text = host::read_trimmed_text(path, &problem);
  if (!text.ok()) throw std::runtime_error(problem);
  if (text->empty()) throw std::invalid_argument(path + " is empty");
  return std::move(text).value();
}

inline ByteVector read_hex_file(const std::string& path) {
  return parse_hex(read_trimmed_text(path), path);
}

// Like read_hex_file, for a file that must hold exactly N bytes (a key).
template <std::size_t N>
std::array<std::uint8_t, N> read_hex_key(const std::string& path, std::string_view what) {
  const ByteVector bytes = read_hex_file(path);
  if (bytes.size() != N) {
    throw std::invalid_argument(path + " is not " + std::string(what) + ": it holds " +
                                std::to_string(bytes.size()) + " bytes, not " + std::to_string(N));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

// host::write_file (atomic and durable), throwing std::runtime_error naming the file.
inline void write_file(const std::string& path, std::span<const std::uint8_t> bytes,
                       Visibility visibility = Visibility::kPublic) {
  std::string problem;
  if (!host::write_file(path, bytes, visibility, host::Existing::kReplace, &problem).ok()) {
    throw std::runtime_error(problem);
  }
}

inline void write_text_file(const std::string& path, std::string_view text,
                            Visibility visibility = Visibility::kPublic) {
  cli::write_file(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                  visibility);
}

}  // namespace spindle::cli
