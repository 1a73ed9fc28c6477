// Where a DTLS-PSK key for a device identity comes from: one key shared by every identity
// (--psk-hex), or a key derived per identity from the site master secret
// (--master-secret-file, crypto::derive_device_key with KeyPurpose::kDtlsPsk), the way the
// gateway derives it. Used by spindle-fleet (client side) and by the bare CoAP baseline
// server (server side), so both ends of a benchmark agree on the keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/status.hpp"

namespace spindle::fleet {

using ByteVector = std::vector<std::uint8_t>;

inline constexpr std::size_t kDevicePskSize = 16;

class PskSource {
 public:
  PskSource() = default;  // no keys: plain UDP
  static PskSource shared(ByteVector key) { return PskSource(std::move(key), false); }
  static PskSource derived(ByteVector master_secret) {
    return PskSource(std::move(master_secret), true);
  }

  bool empty() const { return secret_.empty(); }

  // The key for `identity` into `out`. Errors: kInvalidState (no key source),
  // kInvalidValue (an empty identity, from derive_device_key).
  Status key_for(std::string_view identity, ByteVector& out) const;

 private:
  PskSource(ByteVector secret, bool derive) : secret_(std::move(secret)), derive_(derive) {}

  ByteVector secret_;
  bool derive_ = false;
};

// Decodes hex text (whitespace ignored). Throws std::invalid_argument naming `what`
// (a flag or file) when it is not hex or is empty; meant for start-up only.
ByteVector parse_hex(std::string_view text, const std::string& what);

// Reads a file of hex text, e.g. a site master secret. Throws std::runtime_error naming
// the file when it cannot be read, std::invalid_argument when it is not hex.
ByteVector read_hex_file(const std::string& path);

}  // namespace spindle::fleet
