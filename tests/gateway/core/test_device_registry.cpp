// gateway/core/device_registry: a device is online from its registration while it
// refreshes within its lifetime; when the lifetime runs out one offline write is queued,
// and its completion takes the device offline unless a refresh landed meanwhile.
#include "spindle/gateway/device_registry.hpp"

#include <gtest/gtest.h>

#include <string>

namespace spindle::gateway {
namespace {

constexpr std::int64_t kNow = 1'763'800'000'000;
constexpr std::uint32_t kLifetimeS = 60;
constexpr std::int64_t kLifetimeMs = std::int64_t{kLifetimeS} * 1000;

class DeviceRegistryTest : public ::testing::Test {
 protected:
  DeviceRecord& registered_device(const std::string& id = "pump-1") {
    DeviceRecord& device = registry_.add(id);
    registry_.registered(device, kLifetimeS, kNow);
    return device;
  }

  DeviceRegistry registry_;
};

TEST_F(DeviceRegistryTest, AProvisionedDeviceIsKnownButNeitherRegisteredNorOnline) {
  DeviceRecord& device = registry_.add("pump-1");
  EXPECT_EQ(registry_.find("pump-1"), &device);
  EXPECT_EQ(registry_.find("pump-2"), nullptr);
  EXPECT_FALSE(device.registered);
  EXPECT_FALSE(device.online);
  EXPECT_EQ(registry_.size(), 1U);
  EXPECT_EQ(registry_.online(), 0U);
}

TEST_F(DeviceRegistryTest, AddingAKnownDeviceAgainKeepsItsRecordAndState) {
  DeviceRecord& device = registered_device();
  EXPECT_EQ(&registry_.add("pump-1"), &device);
  EXPECT_TRUE(device.online);
  EXPECT_EQ(registry_.size(), 1U);
  EXPECT_EQ(registry_.online(), 1U);
}

TEST_F(DeviceRegistryTest, LoadingAStoredDeviceTakesItsRegistrationAndOnlineState) {
  StoredDevice stored;
  stored.id = "pump-1";
  stored.registration = {0xa0};
  stored.online = true;
  stored.lifetime_s = kLifetimeS;
  stored.last_seen_ms = kNow;
  const DeviceRecord& device = registry_.load(stored);
  EXPECT_TRUE(device.registered);
  EXPECT_TRUE(device.online);
  EXPECT_EQ(device.lifetime_s, kLifetimeS);
  EXPECT_EQ(device.last_seen_ms, kNow);
  EXPECT_EQ(registry_.online(), 1U);

  stored.id = "pump-2";
  stored.registration.clear();
  stored.online = false;
  EXPECT_FALSE(registry_.load(stored).registered);
  EXPECT_EQ(registry_.online(), 1U);
}

TEST_F(DeviceRegistryTest, ARegistrationMakesTheDeviceOnlineAndCountsItOnce) {
  DeviceRecord& device = registered_device();
  registry_.registered(device, kLifetimeS, kNow + 1);
  EXPECT_TRUE(device.registered);
  EXPECT_TRUE(device.online);
  EXPECT_EQ(device.last_seen_ms, kNow + 1);
  EXPECT_EQ(registry_.online(), 1U);
}

TEST_F(DeviceRegistryTest, ARefreshWithLifetimeZeroKeepsTheLifetimeAndLastSeenNeverMovesBack) {
  DeviceRecord& device = registered_device();
  registry_.refreshed(device, 0, kNow + 5000);
  EXPECT_EQ(device.lifetime_s, kLifetimeS);
  EXPECT_EQ(device.last_seen_ms, kNow + 5000);
  registry_.refreshed(device, 120, kNow + 1000);  // committed after a later one
  EXPECT_EQ(device.lifetime_s, 120U);
  EXPECT_EQ(device.last_seen_ms, kNow + 5000);
}

TEST_F(DeviceRegistryTest, NoExpiryWhileTheLifetimeLasts) {
  registered_device();
  EXPECT_TRUE(registry_.take_expired(kNow + kLifetimeMs).empty());
}

TEST_F(DeviceRegistryTest, AnExpiredLifetimeQueuesOneOfflineWriteAtATime) {
  const DeviceRecord& device = registered_device();
  const auto expired = registry_.take_expired(kNow + kLifetimeMs + 1);
  ASSERT_EQ(expired.size(), 1U);
  EXPECT_EQ(expired[0].device_id, "pump-1");
  EXPECT_EQ(expired[0].lifetime_s, kLifetimeS);
  EXPECT_TRUE(device.expiring);
  EXPECT_TRUE(device.online);  // until the write completes
  EXPECT_TRUE(registry_.take_expired(kNow + kLifetimeMs + 2000).empty());
}

TEST_F(DeviceRegistryTest, OfflineAndUnregisteredDevicesDoNotExpire) {
  registry_.add("never-registered");
  DeviceRecord& device = registered_device();
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);
  ASSERT_TRUE(registry_.expiry_done("pump-1", kOk, kNow + kLifetimeMs + 1));
  EXPECT_FALSE(device.online);
  EXPECT_TRUE(registry_.take_expired(kNow + 10 * kLifetimeMs).empty());
}

TEST_F(DeviceRegistryTest, ACompletedOfflineWriteTakesTheDeviceOffline) {
  const DeviceRecord& device = registered_device();
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);
  EXPECT_TRUE(registry_.expiry_done("pump-1", kOk, kNow + kLifetimeMs + 2));
  EXPECT_FALSE(device.online);
  EXPECT_FALSE(device.expiring);
  EXPECT_EQ(registry_.online(), 0U);
}

TEST_F(DeviceRegistryTest, ARefreshThatLandedBeforeTheOfflineWriteCompletedKeepsTheDeviceOnline) {
  DeviceRecord& device = registered_device();
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);
  registry_.refreshed(device, 0, kNow + kLifetimeMs + 1);
  EXPECT_FALSE(registry_.expiry_done("pump-1", kOk, kNow + kLifetimeMs + 2));
  EXPECT_TRUE(device.online);
  EXPECT_FALSE(device.expiring);
  EXPECT_EQ(registry_.online(), 1U);
}

TEST_F(DeviceRegistryTest, AFailedOfflineWriteLeavesTheDeviceOnlineAndExpiresItAgain) {
  const DeviceRecord& device = registered_device();
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);
  EXPECT_FALSE(registry_.expiry_done("pump-1", Error::kIoError, kNow + kLifetimeMs + 2));
  EXPECT_TRUE(device.online);
  EXPECT_EQ(registry_.take_expired(kNow + kLifetimeMs + 3).size(), 1U);
}

TEST_F(DeviceRegistryTest, AnOfflineWriteThatCouldNotBeQueuedIsOfferedAgain) {
  registered_device();
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);
  registry_.expiry_not_queued("pump-1");
  EXPECT_EQ(registry_.take_expired(kNow + kLifetimeMs + 2).size(), 1U);
}

TEST_F(DeviceRegistryTest, TheOnlineCountFollowsEveryDevice) {
  registered_device("pump-1");
  DeviceRecord& second = registered_device("pump-2");
  registry_.add("pump-3");
  EXPECT_EQ(registry_.size(), 3U);
  EXPECT_EQ(registry_.online(), 2U);
  registry_.refreshed(second, 0, kNow + 10 * kLifetimeMs);
  ASSERT_EQ(registry_.take_expired(kNow + kLifetimeMs + 1).size(), 1U);  // pump-1 only
  ASSERT_TRUE(registry_.expiry_done("pump-1", kOk, kNow + kLifetimeMs + 1));
  EXPECT_EQ(registry_.online(), 1U);
  registry_.refreshed(*registry_.find("pump-1"), 0, kNow + 2 * kLifetimeMs);
  EXPECT_EQ(registry_.online(), 2U);
}

TEST_F(DeviceRegistryTest, ADeploymentForAnUnknownDeviceIsNotFound) {
  StoredDeployment deployment;
  deployment.id = 1;
  deployment.device_id = "ghost";
  EXPECT_EQ(registry_.apply_deployment(deployment).status(), Status(Error::kNotFound));
}

TEST_F(DeviceRegistryTest, TheNewestDeploymentWinsAndALateOlderOneIsIgnored) {
  const DeviceRecord& device = registry_.add("pump-1");
  StoredDeployment newer;
  newer.id = 7;
  newer.device_id = "pump-1";
  newer.model_id = "vib-ae";
  newer.version = 3;
  newer.model_digest = std::string(64, 'a');
  newer.manifest = {0xd2, 0x84, 0x01};
  const auto applied = registry_.apply_deployment(newer);
  ASSERT_TRUE(applied.ok());
  EXPECT_TRUE(*applied);
  EXPECT_EQ(device.deployment_id, 7);
  EXPECT_EQ(device.model_id, "vib-ae");
  EXPECT_EQ(device.version, 3U);
  EXPECT_EQ(device.model_digest, newer.model_digest);
  EXPECT_EQ(device.manifest, newer.manifest);
  const auto etag = device.manifest_etag;
  EXPECT_NE(etag, (std::array<std::uint8_t, 8>{}));

  StoredDeployment older = newer;
  older.id = 6;
  older.version = 2;
  older.manifest = {0xd2, 0x84, 0x02};
  const auto ignored = registry_.apply_deployment(older);
  ASSERT_TRUE(ignored.ok());
  EXPECT_FALSE(*ignored);
  EXPECT_EQ(device.version, 3U);
  EXPECT_EQ(device.manifest_etag, etag);
}

TEST_F(DeviceRegistryTest, TheManifestEtagChangesWithTheManifest) {
  const DeviceRecord& device = registry_.add("pump-1");
  StoredDeployment deployment;
  deployment.id = 1;
  deployment.device_id = "pump-1";
  deployment.manifest = {1, 2, 3};
  ASSERT_TRUE(registry_.apply_deployment(deployment).ok());
  const auto first = device.manifest_etag;
  deployment.id = 2;
  deployment.manifest = {1, 2, 4};
  ASSERT_TRUE(registry_.apply_deployment(deployment).ok());
  EXPECT_NE(device.manifest_etag, first);
}

}  // namespace
}  // namespace spindle::gateway
