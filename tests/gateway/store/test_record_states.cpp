// gateway/store: every record state has one name, read back to the same state, and a name
// that is not in the table is refused.
#include "spindle/gateway/record_states.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <string>

namespace spindle::gateway {
namespace {

TEST(RecordStates, CaptureStatesRoundTripThroughTheirNames) {
  EXPECT_STREQ(capture_state_name(CaptureState::kRequested), "requested");
  EXPECT_STREQ(capture_state_name(CaptureState::kCollecting), "collecting");
  EXPECT_STREQ(capture_state_name(CaptureState::kComplete), "complete");
  EXPECT_STREQ(capture_state_name(CaptureState::kFailed), "failed");
  for (std::size_t i = 0; i < kCaptureStateCount; ++i) {
    const auto state = static_cast<CaptureState>(i);
    const auto read = capture_state_from_name(capture_state_name(state));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, state);
  }
  EXPECT_EQ(capture_state_from_name("done").status(), Status(Error::kInvalidValue));
  EXPECT_EQ(capture_state_from_name("").status(), Status(Error::kInvalidValue));
}

TEST(RecordStates, DeploymentStatesArePendingThenTheNodesInstallStates) {
  EXPECT_STREQ(deployment_state_name(DeploymentState::kPending), "pending");
  for (std::uint8_t i = 0; i <= status_report::kMaxInstallState; ++i) {
    const auto reported = static_cast<status_report::InstallState>(i);
    EXPECT_STREQ(deployment_state_name(deployment_state(reported)),
                 status_report::install_state_name(reported));
  }
  EXPECT_EQ(deployment_state(status_report::InstallState::kConfirmed), DeploymentState::kConfirmed);
  std::set<std::string> names;
  for (std::size_t i = 0; i < kDeploymentStateCount; ++i) {
    const auto state = static_cast<DeploymentState>(i);
    names.insert(deployment_state_name(state));
    const auto read = deployment_state_from_name(deployment_state_name(state));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, state);
  }
  EXPECT_EQ(names.size(), kDeploymentStateCount);
  EXPECT_EQ(deployment_state_from_name("installed").status(), Status(Error::kInvalidValue));
}

TEST(RecordStates, AttestationVerdictsRoundTripThroughTheirNames) {
  EXPECT_STREQ(attestation_verdict_name(AttestationVerdict::kMatch), "match");
  EXPECT_STREQ(attestation_verdict_name(AttestationVerdict::kMismatch), "mismatch");
  EXPECT_STREQ(attestation_verdict_name(AttestationVerdict::kMacInvalid), "mac-invalid");
  EXPECT_STREQ(attestation_verdict_name(AttestationVerdict::kStale), "stale");
  for (std::size_t i = 0; i < kAttestationVerdictCount; ++i) {
    const auto verdict = static_cast<AttestationVerdict>(i);
    const auto read = attestation_verdict_from_name(attestation_verdict_name(verdict));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, verdict);
  }
  EXPECT_EQ(attestation_verdict_from_name("unknown").status(), Status(Error::kInvalidValue));
}

TEST(RecordStates, CalibrationStatesAndClampsRoundTripThroughTheNodesNames) {
  for (std::uint8_t i = 0; i <= status_report::kMaxCalibrationState; ++i) {
    const auto state = static_cast<status_report::CalibrationState>(i);
    const auto read = calibration_state_from_name(status_report::calibration_state_name(state));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, state);
  }
  for (std::uint8_t i = 0; i <= status_report::kMaxThresholdClamp; ++i) {
    const auto clamp = static_cast<status_report::ThresholdClamp>(i);
    const auto read = threshold_clamp_from_name(status_report::threshold_clamp_name(clamp));
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, clamp);
  }
  EXPECT_EQ(calibration_state_from_name("unknown").status(), Status(Error::kInvalidValue));
  EXPECT_EQ(threshold_clamp_from_name("unknown").status(), Status(Error::kInvalidValue));
}

}  // namespace
}  // namespace spindle::gateway
