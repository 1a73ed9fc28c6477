#include "spindle/gateway/site_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace spindle::gateway {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("site_keys_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(SiteKeys, CreatesAPrivateMasterSecretOnceAndReadsItBack) {
  const auto dir = temp_path("create");
  const auto file = dir / "site-master.key";
  auto created = SiteKeys::load_or_create(file);
  ASSERT_TRUE(created.ok());
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto loaded = SiteKeys::load_or_create(file);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(created->device_keys("node-1")->psk, loaded->device_keys("node-1")->psk);
  std::filesystem::remove_all(dir);
}

TEST(SiteKeys, DeviceKeysMatchTheProtocolDerivation) {
  const std::vector<std::uint8_t> master(32, 0x42);
  const SiteKeys keys(master);
  const auto derived = keys.device_keys("node-7");
  ASSERT_TRUE(derived.ok());
  std::array<std::uint8_t, 16> psk{};
  ASSERT_TRUE(crypto::derive_device_key(master, "node-7", crypto::KeyPurpose::kDtlsPsk, psk).ok());
  EXPECT_EQ(derived->psk, psk);
  std::array<std::uint8_t, 32> attestation{};
  ASSERT_TRUE(
      crypto::derive_device_key(master, "node-7", crypto::KeyPurpose::kAttestation, attestation)
          .ok());
  EXPECT_EQ(derived->attestation, attestation);
  EXPECT_NE(derived->psk, keys.device_keys("node-8")->psk);
}

TEST(SiteKeys, RefusesABadDeviceIdAndABadSecretFile) {
  const SiteKeys keys(std::vector<std::uint8_t>(32, 1));
  EXPECT_EQ(keys.device_keys("bad id").status(), Error::kInvalidValue);
  const auto dir = temp_path("bad");
  const auto file = dir / "site-master.key";
  std::ofstream(file) << "not hex at all\n";
  EXPECT_EQ(SiteKeys::load_or_create(file).status(), Error::kInvalidValue);
  std::ofstream(file, std::ios::trunc) << "0011\n";  // 2 bytes: too short
  EXPECT_EQ(SiteKeys::load_or_create(file).status(), Error::kInvalidValue);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace spindle::gateway
