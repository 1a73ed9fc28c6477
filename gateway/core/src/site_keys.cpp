#include "spindle/gateway/site_keys.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {

Result<SiteKeys> SiteKeys::load_or_create(const std::filesystem::path& file) {
  std::error_code error;
  if (!std::filesystem::exists(file, error)) {
    std::vector<std::uint8_t> master(kMasterSecretSize);
    if (getrandom(master.data(), master.size(), 0) != static_cast<ssize_t>(master.size())) {
      spdlog::error("site keys: no randomness for a new master secret: {}", std::strerror(errno));
      return Error::kIoError;
    }
    std::string text(master.size() * 2, '\0');
    if (!hex::encode(master, text).ok()) return Error::kIoError;
    text.push_back('\n');
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      spdlog::error("site keys: cannot create {}: {}", file.string(), std::strerror(errno));
      return Error::kIoError;
    }
    const bool written =
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      spdlog::error("site keys: cannot write {}", file.string());
      return Error::kIoError;
    }
    spdlog::info("site keys: created a new master secret in {}", file.string());
    return SiteKeys(std::move(master));
  }
  std::ifstream in(file);
  if (!in) {
    spdlog::error("site keys: cannot read {}", file.string());
    return Error::kIoError;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  std::vector<std::uint8_t> master(text.size() / 2);
  const auto size = hex::decode(text, master);
  if (!size.ok() || *size < 16) {
    spdlog::error("site keys: {} is not a hex secret of at least 16 bytes", file.string());
    return Error::kInvalidValue;
  }
  master.resize(*size);
  return SiteKeys(std::move(master));
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
