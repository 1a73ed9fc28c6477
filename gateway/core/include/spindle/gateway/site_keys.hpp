// The site master secret and the per-device keys derived from it
// (protocol/crypto.hpp derive_device_key): DTLS PSK, model key-encryption key and
// attestation key. The gateway stores no per-device secret; it derives them on demand, so
// provisioning a device is recording its id.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "spindle/protocol/crypto.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

inline constexpr std::size_t kMasterSecretSize = 32;

struct DeviceKeys {
  std::array<std::uint8_t, 16> psk{};
  std::array<std::uint8_t, 16> model_kek{};
  std::array<std::uint8_t, 32> attestation{};
};

class SiteKeys {
 public:
  SiteKeys() = default;
  explicit SiteKeys(std::vector<std::uint8_t> master) : master_(std::move(master)) {}

  // Reads the master secret (hex text) from `file`; when the file does not exist, creates
  // it (mode 0600) with kMasterSecretSize random bytes. Errors: kIoError (cannot read,
  // create or get randomness), kInvalidValue (not hex, or shorter than 16 bytes).
  static Result<SiteKeys> load_or_create(const std::filesystem::path& file);

  // Errors: kInvalidValue for an id that fails check_id.
  Result<DeviceKeys> device_keys(std::string_view device_id) const;
  // Errors: as device_keys.
  Status psk(std::string_view device_id, std::array<std::uint8_t, 16>& out) const;

 private:
  std::vector<std::uint8_t> master_;
};

}  // namespace spindle::gateway
