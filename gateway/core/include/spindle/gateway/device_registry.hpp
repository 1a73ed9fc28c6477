// The CoAP side's registry of devices (DESIGN.md section 5): what it answers from memory
// about each provisioned device, and the lifetime state machine of RFC 9176 registrations.
//
// A device is provisioned (known), then registered (its first POST /rd committed) and
// online; it stays online while it refreshes within its lifetime. When housekeeping finds
// the lifetime over, the device becomes "expiring": an offline write is queued for it, at
// most one at a time. When that write completes the device goes offline, unless a refresh
// landed meanwhile (then it stays online) or the write failed (then the next housekeeping
// round tries again).
//
// One thread owns a DeviceRegistry (the CoAP thread); it does no I/O and knows nothing of
// libcoap: the transport keeps its own per-device object behind `DeviceRecord::handle`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "spindle/gateway/store.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

struct DeviceRecord {
  std::string id;
  bool registered = false;
  bool online = false;
  bool expiring = false;  // an offline write is queued
  std::uint32_t lifetime_s = 0;
  std::int64_t last_seen_ms = 0;  // last committed registration or refresh
  // The device's current deployment; 0 and empty before the first.
  std::int64_t deployment_id = 0;
  std::string model_id;
  std::uint64_t version = 0;
  std::string model_digest;                       // payload SHA-256, lower-case hex
  DeploymentRole role = DeploymentRole::kActive;  // the current deployment's
  // The payload digest of the model the node should be running as its active one, which
  // attestation expects: the current deployment's, except for a shadow not yet promoted,
  // beside which the node still runs the model of the deployment before.
  std::string active_digest;
  Bytes manifest;                               // the COSE_Sign1 served on /d/{id}/manifest
  std::array<std::uint8_t, 8> manifest_etag{};  // the first bytes of the manifest's SHA-256
  void* handle = nullptr;  // the transport's, opaque here (the CoAP side: its manifest resource)

  // Whether the lifetime has run out at `now_ms` (seen more than lifetime_s ago).
  bool lifetime_over(std::int64_t now_ms) const {
    return now_ms - last_seen_ms > std::int64_t{lifetime_s} * 1000;
  }
};

// Whether the node runs the deployment's model as its active one once installed: an
// active-role deployment, or a shadow the node reported promoted (activated, confirmed).
bool runs_as_active(const StoredDeployment& deployment);

// A device whose lifetime ran out: the offline write to queue for it.
struct Expiry {
  std::string device_id;
  std::uint32_t lifetime_s = 0;  // the lifetime it did not refresh within
};

class DeviceRegistry {
 public:
  // Adds a provisioned device, or returns the one already held. The record's address is
  // stable for the registry's life.
  DeviceRecord& add(std::string_view id);
  // Adds a device as the store holds it (start-up): registered, online, lifetime and last
  // seen as stored.
  DeviceRecord& load(const StoredDevice& stored);

  // Null when the device is not provisioned.
  DeviceRecord* find(std::string_view id);
  const DeviceRecord* find(std::string_view id) const;

  std::size_t size() const { return devices_.size(); }
  std::size_t online() const { return online_; }

  // A registration with `lifetime_s` committed at `now_ms`: registered and online.
  void registered(DeviceRecord& device, std::uint32_t lifetime_s, std::int64_t now_ms);
  // A refresh seen at `seen_ms` committed: online; the lifetime changes unless it is 0; last
  // seen never moves back (refreshes may commit out of order).
  void refreshed(DeviceRecord& device, std::uint32_t lifetime_s, std::int64_t seen_ms);

  // Takes the device's newest deployment. Errors: kNotFound (the device is not provisioned).
  // False when `deployment` is older than the one held (it arrived late and is ignored).
  Result<bool> apply_deployment(const StoredDeployment& deployment);

  // Housekeeping: every online device whose lifetime is over at `now_ms` and that has no
  // offline write queued yet; each is marked expiring. The caller queues the offline
  // writes and reports each with expiry_not_queued or expiry_done.
  std::vector<Expiry> take_expired(std::int64_t now_ms);
  // The offline write could not be queued: the next take_expired offers the device again.
  void expiry_not_queued(std::string_view id);
  // The offline write finished with `status` at `now_ms`. True when the device is now
  // offline; false when it stays online (the write failed, or a refresh landed meanwhile
  // and its lifetime is not over) or is unknown.
  bool expiry_done(std::string_view id, Status status, std::int64_t now_ms);

 private:
  std::unordered_map<std::string, std::unique_ptr<DeviceRecord>> devices_;
  std::size_t online_ = 0;
};

}  // namespace spindle::gateway
