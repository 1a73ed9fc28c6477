// The states of stored records as types: a capture's progress, a deployment's install
// state, an attestation verdict, a calibration's state and threshold clamp. They become text only
// where they leave C++: in the database (gateway/store's row mapping) and in the operator API's
// JSON. Each enum has one name table, read both ways: *_name gives the text stored and shown,
// *_from_name reads it back and refuses a text it does not know.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

// A data capture (docs/protocol.md "Data capture"): requested, collecting once its first
// chunk arrived, then complete (every requested window stored) or failed.
enum class CaptureState : std::uint8_t { kRequested, kCollecting, kComplete, kFailed };
inline constexpr std::size_t kCaptureStateCount = 4;

// "requested", "collecting", "complete", "failed".
const char* capture_state_name(CaptureState state);
// Errors: kInvalidValue (not a name capture_state_name gives).
Result<CaptureState> capture_state_from_name(std::string_view name);

// Who opened a capture: the operator (the API, spindlectl capture) or the gateway itself,
// because the device started drifting under --drift-policy capture (docs/gateway/drift.md).
enum class CaptureOrigin : std::uint8_t { kOperator, kDrift };
inline constexpr std::size_t kCaptureOriginCount = 2;

// "operator", "drift".
const char* capture_origin_name(CaptureOrigin origin);
// Errors: kInvalidValue (not a name capture_origin_name gives).
Result<CaptureOrigin> capture_origin_from_name(std::string_view name);

// A deployment: pending from its creation until the node first reports on it, then the
// install state the node reported last (status_report::InstallState, in its order).
enum class DeploymentState : std::uint8_t {
  kPending,
  kManifestAccepted,
  kManifestRejected,
  kDownloading,
  kDownloaded,
  kVerified,
  kSelfTestPassed,
  kActivated,
  kConfirmed,
  kRolledBack,
  kFailed,
  kShadowing,
  kDiscarded,
  kDecisionRejected,
  kAwaitingActivation,
};
inline constexpr std::size_t kDeploymentStateCount = 15;
static_assert(kDeploymentStateCount == 2 + status_report::kMaxInstallState);

// The deployment state a node's report puts a deployment in.
DeploymentState deployment_state(status_report::InstallState reported);
// "pending", then the node's names (status_report::install_state_name: "manifest-accepted",
// ..., "failed").
const char* deployment_state_name(DeploymentState state);
// Errors: kInvalidValue (not a name deployment_state_name gives).
Result<DeploymentState> deployment_state_from_name(std::string_view name);

// Whether a deployment's manifest makes the model the device's active one or runs it in
// shadow beside the active one (manifest key 13; docs/firmware/shadow.md).
enum class DeploymentRole : std::uint8_t { kActive, kShadow };
inline constexpr std::size_t kDeploymentRoleCount = 2;

// "active", "shadow".
const char* deployment_role_name(DeploymentRole role);
// Errors: kInvalidValue (not a name deployment_role_name gives).
Result<DeploymentRole> deployment_role_from_name(std::string_view name);

// A staged rollout (gateway/core/rollout.hpp): running stage by stage, paused by the
// operator, halted by a failed gate, completed, or aborted by the operator.
enum class RolloutPhase : std::uint8_t { kRunning, kPaused, kHalted, kCompleted, kAborted };
inline constexpr std::size_t kRolloutPhaseCount = 5;

// "running", "paused", "halted", "completed", "aborted".
const char* rollout_phase_name(RolloutPhase phase);
// Errors: kInvalidValue (not a name rollout_phase_name gives).
Result<RolloutPhase> rollout_phase_from_name(std::string_view name);

// Where one device of a rollout is: waiting for its stage; released (its candidate
// manifest deployed); promoting and promoted (a shadow made active by a signed decision);
// discarding or reverting (sent back after a halt); restored (its previous manifest
// deployed again).
enum class RolloutDeviceStep : std::uint8_t {
  kWaiting,
  kReleased,
  kPromoting,
  kPromoted,
  kDiscarding,
  kReverting,
  kRestored,
};
inline constexpr std::size_t kRolloutDeviceStepCount = 7;

// "waiting", "released", "promoting", "promoted", "discarding", "reverting", "restored".
const char* rollout_device_step_name(RolloutDeviceStep step);
// Errors: kInvalidValue (not a name rollout_device_step_name gives).
Result<RolloutDeviceStep> rollout_device_step_from_name(std::string_view name);

// The gateway's verdict on a device's attestation answer (docs/delivery.md "Attestation").
// gateway/core's Verdict is this type (core judges and names the events).
enum class AttestationVerdict : std::uint8_t { kMatch, kMismatch, kMacInvalid, kStale };
inline constexpr std::size_t kAttestationVerdictCount = 4;

// "match", "mismatch", "mac-invalid", "stale".
const char* attestation_verdict_name(AttestationVerdict verdict);
// Errors: kInvalidValue (not a name attestation_verdict_name gives).
Result<AttestationVerdict> attestation_verdict_from_name(std::string_view name);

// A calibration report's state and clamp are the node's (status_report::CalibrationState,
// ThresholdClamp), named once in protocol/ (calibration_state_name, threshold_clamp_name).
// Errors: kInvalidValue (not a name those give).
Result<status_report::CalibrationState> calibration_state_from_name(std::string_view name);
Result<status_report::ThresholdClamp> threshold_clamp_from_name(std::string_view name);

}  // namespace spindle::gateway
