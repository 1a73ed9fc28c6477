#include "spindle/gateway/device_registry.hpp"

#include <algorithm>

#include "spindle/protocol/crypto.hpp"

namespace spindle::gateway {

DeviceRecord& DeviceRegistry::add(std::string_view id) {
  const std::string key(id);
  const auto it = devices_.find(key);
  if (it != devices_.end()) return *it->second;
  auto owned = std::make_unique<DeviceRecord>();
  owned->id = key;
  DeviceRecord& device = *owned;
  devices_.emplace(key, std::move(owned));
  return device;
}

DeviceRecord& DeviceRegistry::load(const StoredDevice& stored) {
  DeviceRecord& device = add(stored.id);
  if (device.online) --online_;
  device.registered = !stored.registration.empty();
  device.online = stored.online;
  device.lifetime_s = stored.lifetime_s;
  device.last_seen_ms = stored.last_seen_ms;
  if (device.online) ++online_;
  return device;
}

DeviceRecord* DeviceRegistry::find(std::string_view id) {
  const auto it = devices_.find(std::string(id));
  return it == devices_.end() ? nullptr : it->second.get();
}

const DeviceRecord* DeviceRegistry::find(std::string_view id) const {
  const auto it = devices_.find(std::string(id));
  return it == devices_.end() ? nullptr : it->second.get();
}

void DeviceRegistry::registered(DeviceRecord& device, std::uint32_t lifetime_s,
                                std::int64_t now_ms) {
  device.registered = true;
  if (!device.online) ++online_;
  device.online = true;
  device.lifetime_s = lifetime_s;
  device.last_seen_ms = now_ms;
}

void DeviceRegistry::refreshed(DeviceRecord& device, std::uint32_t lifetime_s,
                               std::int64_t seen_ms) {
  if (!device.online) ++online_;
  device.online = true;
  if (lifetime_s != 0) device.lifetime_s = lifetime_s;
  device.last_seen_ms = std::max(device.last_seen_ms, seen_ms);
}

bool runs_as_active(const StoredDeployment& deployment) {
  return deployment.role == DeploymentRole::kActive ||
         deployment.state == DeploymentState::kActivated ||
         deployment.state == DeploymentState::kConfirmed;
}

Result<bool> DeviceRegistry::apply_deployment(const StoredDeployment& deployment) {
  DeviceRecord* device = find(deployment.device_id);
  if (device == nullptr) return Error::kNotFound;
  if (deployment.id < device->deployment_id) return false;
  device->deployment_id = deployment.id;
  device->model_id = deployment.model_id;
  device->version = deployment.version;
  device->model_digest = deployment.model_digest;
  device->role = deployment.role;
  if (runs_as_active(deployment)) device->active_digest = deployment.model_digest;
  device->manifest = deployment.manifest;
  const crypto::Digest digest = crypto::Sha256::of(device->manifest);
  std::copy_n(digest.begin(), device->manifest_etag.size(), device->manifest_etag.begin());
  return true;
}

std::vector<Expiry> DeviceRegistry::take_expired(std::int64_t now_ms) {
  std::vector<Expiry> expired;
  for (auto& [id, owned] : devices_) {
    DeviceRecord& device = *owned;
    if (!device.online || device.expiring || !device.lifetime_over(now_ms)) continue;
    device.expiring = true;
    expired.push_back(Expiry{device.id, device.lifetime_s});
  }
  return expired;
}

void DeviceRegistry::expiry_not_queued(std::string_view id) {
  if (DeviceRecord* device = find(id)) device->expiring = false;
}

bool DeviceRegistry::expiry_done(std::string_view id, Status status, std::int64_t now_ms) {
  DeviceRecord* device = find(id);
  if (device == nullptr) return false;
  device->expiring = false;
  if (!status.ok() || !device->online || !device->lifetime_over(now_ms)) return false;
  device->online = false;
  --online_;
  return true;
}

}  // namespace spindle::gateway
