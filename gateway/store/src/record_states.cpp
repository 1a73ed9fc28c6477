#include "spindle/gateway/record_states.hpp"

#include <array>
#include <utility>

namespace spindle::gateway {
namespace {

// Indexed by CaptureState.
constexpr std::array<const char*, kCaptureStateCount> kCaptureStateNames = {
    "requested", "collecting", "complete", "failed"};

// Indexed by CaptureOrigin.
constexpr std::array<const char*, kCaptureOriginCount> kCaptureOriginNames = {"operator", "drift"};

// Indexed by DeploymentRole.
constexpr std::array<const char*, kDeploymentRoleCount> kDeploymentRoleNames = {"active", "shadow"};

// Indexed by RolloutPhase.
constexpr std::array<const char*, kRolloutPhaseCount> kRolloutPhaseNames = {
    "running", "paused", "halted", "completed", "aborted"};

// Indexed by RolloutDeviceStep.
constexpr std::array<const char*, kRolloutDeviceStepCount> kRolloutDeviceStepNames = {
    "waiting", "released", "promoting", "promoted", "discarding", "reverting", "restored"};

// Indexed by AttestationVerdict.
constexpr std::array<const char*, kAttestationVerdictCount> kAttestationVerdictNames = {
    "match", "mismatch", "mac-invalid", "stale"};

// The enum value whose name is `name`: every value is tried, so the names are written
// once, in the to-text direction.
template <typename Enum, std::size_t kCount, typename Name>
Result<Enum> from_name(std::string_view name, Name name_of) {
  for (std::size_t i = 0; i < kCount; ++i) {
    const auto value = static_cast<Enum>(i);
    if (name == name_of(value)) return value;
  }
  return Error::kInvalidValue;
}

}  // namespace

const char* capture_state_name(CaptureState state) {
  return kCaptureStateNames[static_cast<std::size_t>(state)];
}

Result<CaptureState> capture_state_from_name(std::string_view name) {
  return from_name<CaptureState, kCaptureStateCount>(name, capture_state_name);
}

const char* capture_origin_name(CaptureOrigin origin) {
  return kCaptureOriginNames[static_cast<std::size_t>(origin)];
}

Result<CaptureOrigin> capture_origin_from_name(std::string_view name) {
  return from_name<CaptureOrigin, kCaptureOriginCount>(name, capture_origin_name);
}

DeploymentState deployment_state(status_report::InstallState reported) {
  // kPending comes first; the node's states follow in their wire order.
  return static_cast<DeploymentState>(static_cast<std::size_t>(reported) + 1);
}

const char* deployment_state_name(DeploymentState state) {
  if (state == DeploymentState::kPending) return "pending";
  // The node's states are named once, in protocol/, as operators see them in reports.
  return status_report::install_state_name(
      static_cast<status_report::InstallState>(static_cast<std::size_t>(state) - 1));
}

Result<DeploymentState> deployment_state_from_name(std::string_view name) {
  return from_name<DeploymentState, kDeploymentStateCount>(name, deployment_state_name);
}

const char* deployment_role_name(DeploymentRole role) {
  return kDeploymentRoleNames[static_cast<std::size_t>(role)];
}

Result<DeploymentRole> deployment_role_from_name(std::string_view name) {
  return from_name<DeploymentRole, kDeploymentRoleCount>(name, deployment_role_name);
}

const char* rollout_phase_name(RolloutPhase phase) {
  return kRolloutPhaseNames[static_cast<std::size_t>(phase)];
}

Result<RolloutPhase> rollout_phase_from_name(std::string_view name) {
  return from_name<RolloutPhase, kRolloutPhaseCount>(name, rollout_phase_name);
}

const char* rollout_device_step_name(RolloutDeviceStep step) {
  return kRolloutDeviceStepNames[static_cast<std::size_t>(step)];
}

Result<RolloutDeviceStep> rollout_device_step_from_name(std::string_view name) {
  return from_name<RolloutDeviceStep, kRolloutDeviceStepCount>(name, rollout_device_step_name);
}

const char* attestation_verdict_name(AttestationVerdict verdict) {
  return kAttestationVerdictNames[static_cast<std::size_t>(verdict)];
}

Result<AttestationVerdict> attestation_verdict_from_name(std::string_view name) {
  return from_name<AttestationVerdict, kAttestationVerdictCount>(name, attestation_verdict_name);
}

Result<status_report::CalibrationState> calibration_state_from_name(std::string_view name) {
  return from_name<status_report::CalibrationState, status_report::kMaxCalibrationState + 1>(
      name, status_report::calibration_state_name);
}

Result<status_report::ThresholdClamp> threshold_clamp_from_name(std::string_view name) {
  return from_name<status_report::ThresholdClamp, status_report::kMaxThresholdClamp + 1>(
      name, status_report::threshold_clamp_name);
}

}  // namespace spindle::gateway
