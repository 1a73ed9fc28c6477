// How the operator API tells the CoAP side about changes it has committed: a new device
// (resources to create, a PSK identity to accept), a new model (a payload to serve), a new
// deployment (a manifest to serve and notify observers of), a capture or a calibration reset
// or a rollout's signed decision
// (to piggyback on the device's answers); and about a new attestation challenge, which lives
// in memory only. Implemented by CoapServer. Called from API threads
// after the write is durable; implementations must be thread-safe.
#pragma once

#include <string>

#include "spindle/gateway/attestation.hpp"
#include "spindle/gateway/store.hpp"

namespace spindle::gateway {

class FleetListener {
 public:
  virtual ~FleetListener() = default;
  virtual void device_added(std::string device_id) = 0;
  virtual void model_added(StoredModel model) = 0;
  virtual void deployment_added(StoredDeployment deployment) = 0;
  // Replaces any earlier challenge of the device.
  virtual void challenge_issued(std::string device_id, Challenge challenge) = 0;
  // A capture was stored in state "requested": ask the device for it.
  virtual void capture_requested(StoredCapture capture) = 0;
  // A calibration reset was stored: ask the device to begin the generation after its
  // after_generation until it reports one (replaces any earlier reset of the device).
  virtual void recalibration_requested(std::string device_id,
                                       StoredRecalibration recalibration) = 0;
  // A rollout released a signed decision for the device (protocol/decision.hpp): send it
  // until withdrawn. Empty `decision`: withdrawn (it took effect). Replaces any earlier one.
  virtual void decision_set(std::string device_id, Bytes decision) = 0;
};

}  // namespace spindle::gateway
