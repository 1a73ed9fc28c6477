#include "spindle/gateway/site_keys.hpp"

#include <sys/random.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>
#include <string>

#include "spindle/host/files.hpp"
#include "spindle/host/text.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

Result<SiteKeys> SiteKeys::load_or_create(const std::filesystem::path& file) {
  std::string problem;
  auto stored = host::read_trimmed_text(file.string(), &problem);
  if (stored.status() == Status(Error::kNotFound)) {
    std::vector<std::uint8_t> master(kMasterSecretSize);
    if (getrandom(master.data(), master.size(), 0) != static_cast<ssize_t>(master.size())) {
      spdlog::error("site keys: no randomness for a new master secret: {}", std::strerror(errno));
      return Error::kIoError;
    }
    // Kept if another process created it meanwhile: then that one is the site's secret.
    if (!host::write_text_file(file.string(), host::to_hex(master) + "\n",
                               host::Visibility::kSecret, host::Existing::kKeep, &problem)
             .ok()) {
      spdlog::error("site keys: {}", problem);
      return Error::kIoError;
    }
    spdlog::info("site keys: created a new master secret in {}", file.string());
    return SiteKeys(std::move(master));
  }
  if (!stored.ok()) {
    spdlog::error("site keys: {}", problem);
    return Error::kIoError;
  }
  const auto master = host::parse_hex(*stored);
  if (!master.ok() || master->size() < 16) {
    spdlog::error("site keys: {} is not a hex secret of at least 16 bytes", file.string());
    return Error::kInvalidValue;
  }
  return SiteKeys(*master);
}

Result<DeviceKeys> SiteKeys::device_keys(std::string_view device_id) const {
  SPINDLE_TRY(check_id(device_id));
  DeviceKeys keys;
  SPINDLE_TRY(
      crypto::derive_device_key(master_, device_id, crypto::KeyPurpose::kDtlsPsk, keys.psk));
  SPINDLE_TRY(
      crypto::derive_device_key(master_, device_id, crypto::KeyPurpose::kModelKek, keys.model_kek));
  SPINDLE_TRY(crypto::derive_device_key(master_, device_id, crypto::KeyPurpose::kAttestation,
                                        keys.attestation));
  return keys;
}

Status SiteKeys::psk(std::string_view device_id, std::array<std::uint8_t, 16>& out) const {
  SPINDLE_TRY(check_id(device_id));
  return crypto::derive_device_key(master_, device_id, crypto::KeyPurpose::kDtlsPsk, out);
}

}  // namespace spindle::gateway
