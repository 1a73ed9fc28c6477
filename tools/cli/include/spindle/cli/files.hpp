// Files and hex text for the host tools: keys, tokens, digests and model files are
// exchanged as files (hex text for anything short and secret, so shell scripts and the
// Python tests read them without a CBOR or PEM library). Header-only; callers link
// spindle::protocol (hex.hpp).
//
// Errors are exceptions, for a tool's main() (guarded_main.hpp): std::runtime_error when a
// file cannot be read or written, std::invalid_argument when its contents are not what
// they should be, each naming the file.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/protocol/hex.hpp"

namespace spindle::cli {

using ByteVector = std::vector<std::uint8_t>;

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(2 * bytes.size(), '\0');
  (void)hex::encode(bytes, out);
  return out;
}

// Decodes hex text (whitespace ignored). Throws std::invalid_argument naming `what` (a flag
// or a file) when it is not hex or is empty.
inline ByteVector parse_hex(std::string_view text, const std::string& what) {
  ByteVector out(text.size() / 2 + 1);
  const auto size = hex::decode(text, out);
  if (!size.ok()) throw std::invalid_argument(what + " is not hex (" + size.status().name() + ")");
  if (*size == 0) throw std::invalid_argument(what + " is empty");
  out.resize(*size);
  return out;
}

inline ByteVector read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The file's text without leading and trailing whitespace (a token, a key in hex).
inline std::string read_trimmed_text(const std::string& path) {
  const ByteVector raw = read_file(path);
  const std::string text(raw.begin(), raw.end());
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw std::invalid_argument(path + " is empty");
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
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

enum class Visibility : std::uint8_t {
  kPublic,  // mode 0644, less the umask
  kSecret,  // mode 0600: keys, provisioning files
};

// Writes `bytes` to `path` through a temporary file renamed into place, so a reader never
// sees half a file and a secret is never readable by others, not even for a moment.
inline void write_file(const std::string& path, std::span<const std::uint8_t> bytes,
                       Visibility visibility = Visibility::kPublic) {
  const bool secret = visibility == Visibility::kSecret;
  const std::string temporary = path + ".tmp";
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(temporary.c_str());
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(error));
    }
    done += static_cast<std::size_t>(n);
  }
  // fchmod: an existing temporary file keeps its old mode through open().
  bool ok = (!secret || ::fchmod(fd, 0600) == 0) && ::fsync(fd) == 0;
  int error = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    error = errno;
  }
  if (ok && ::rename(temporary.c_str(), path.c_str()) != 0) {
    ok = false;
    error = errno;
  }
  if (!ok) {
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(error));
  }
}

inline void write_text_file(const std::string& path, std::string_view text,
                            Visibility visibility = Visibility::kPublic) {
  write_file(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, visibility);
}

}  // namespace spindle::cli
