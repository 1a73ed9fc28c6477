#include "spindle/fleet/psk_source.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"

namespace spindle::fleet {

Status PskSource::key_for(std::string_view identity, ByteVector& out) const {
  if (secret_.empty()) return Error::kInvalidState;
  if (!derive_) {
    out = secret_;
    return kOk;
  }
  out.resize(kDevicePskSize);
  return crypto::derive_device_key(secret_, identity, crypto::KeyPurpose::kDtlsPsk, out);
}

ByteVector parse_hex(std::string_view text, const std::string& what) {
  ByteVector out(text.size() / 2 + 1);
  const auto size = hex::decode(text, out);
  if (!size.ok()) {
    throw std::invalid_argument(what + " is not hex (" + size.status().name() + ")");
  }
  if (*size == 0) throw std::invalid_argument(what + " is empty");
  out.resize(*size);
  return out;
}

ByteVector read_hex_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_hex(text, path);
}

}  // namespace spindle::fleet
