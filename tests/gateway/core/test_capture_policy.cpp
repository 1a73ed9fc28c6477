// gateway/core/capture_policy: a drifting device gets a capture only under policy capture,
// never while one is open, and at most daily_cap automatic ones in any 24 hours; its label
// names the reference and the drifting features within the label rule.
#include "spindle/gateway/capture_policy.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "spindle/protocol/capture.hpp"

namespace spindle::gateway {
namespace {

constexpr std::int64_t kNow = 10LL * 24 * 3600 * 1000;
constexpr std::int64_t kHourMs = 3600LL * 1000;

DriftCaptureOptions capture_policy() {
  DriftCaptureOptions options;
  options.policy = DriftPolicy::kCapture;
  options.windows = 300;
  options.daily_cap = 2;
  return options;
}

StoredCapture capture(std::int64_t id, CaptureOrigin origin, CaptureState state,
                      std::int64_t created_ms) {
  StoredCapture c;
  c.id = id;
  c.device_id = "pump-1";
  c.kind = "features";
  c.windows_requested = 300;
  c.windows_received = state == CaptureState::kComplete ? 300 : 12;
  c.origin = origin;
  c.state = state;
  c.created_ms = created_ms;
  return c;
}

TEST(DecideDriftCaptureTest, NotifyAndOffTakeNoAction) {
  for (const DriftPolicy policy : {DriftPolicy::kOff, DriftPolicy::kNotify}) {
    DriftCaptureOptions options = capture_policy();
    options.policy = policy;
    const auto decision = decide_drift_capture(options, {}, kNow);
    EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kNoAction) << drift_policy_name(policy);
    EXPECT_TRUE(decision.reason.empty());
  }
}

TEST(DecideDriftCaptureTest, ADeviceWithoutCapturesGetsOne) {
  const auto decision = decide_drift_capture(capture_policy(), {}, kNow);
  EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kOpen);
  EXPECT_EQ(decision.recent, 0u);
}

TEST(DecideDriftCaptureTest, AnOpenCaptureOfEitherOriginSkipsIt) {
  for (const CaptureState state : {CaptureState::kRequested, CaptureState::kCollecting}) {
    for (const CaptureOrigin origin : {CaptureOrigin::kOperator, CaptureOrigin::kDrift}) {
      const std::vector<StoredCapture> captures = {
          capture(7, origin, state, kNow - kHourMs),
          capture(3, CaptureOrigin::kOperator, CaptureState::kComplete, kNow - 2 * kHourMs)};
      const auto decision = decide_drift_capture(capture_policy(), captures, kNow);
      EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kSkippedOpen);
      EXPECT_EQ(decision.open_capture, 7);
      EXPECT_NE(decision.reason.find("capture 7"), std::string::npos) << decision.reason;
      EXPECT_NE(decision.reason.find(capture_state_name(state)), std::string::npos);
    }
  }
}

TEST(DecideDriftCaptureTest, AnOpenCaptureWinsOverTheCap) {
  const std::vector<StoredCapture> captures = {
      capture(3, CaptureOrigin::kDrift, CaptureState::kCollecting, kNow - kHourMs),
      capture(2, CaptureOrigin::kDrift, CaptureState::kComplete, kNow - 2 * kHourMs),
      capture(1, CaptureOrigin::kDrift, CaptureState::kComplete, kNow - 3 * kHourMs)};
  const auto decision = decide_drift_capture(capture_policy(), captures, kNow);
  EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kSkippedOpen);
  EXPECT_EQ(decision.recent, 3u);
}

TEST(DecideDriftCaptureTest, TheDailyCapCountsAutomaticCapturesOfTheLast24Hours) {
  // Two automatic captures within the day: capped. Failed ones count too (they were asked).
  std::vector<StoredCapture> captures = {
      capture(5, CaptureOrigin::kDrift, CaptureState::kComplete, kNow - kHourMs),
      capture(4, CaptureOrigin::kDrift, CaptureState::kFailed, kNow - 23 * kHourMs)};
  auto decision = decide_drift_capture(capture_policy(), captures, kNow);
  EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kSkippedCap);
  EXPECT_EQ(decision.recent, 2u);
  EXPECT_NE(decision.reason.find("daily cap is 2"), std::string::npos) << decision.reason;

  // The operator's captures do not count, nor does one opened exactly 24 hours ago.
  captures[1].created_ms = kNow - kDriftCaptureCapPeriodMs;
  captures.push_back(capture(6, CaptureOrigin::kOperator, CaptureState::kComplete, kNow - 60));
  decision = decide_drift_capture(capture_policy(), captures, kNow);
  EXPECT_EQ(decision.outcome, DriftCaptureOutcome::kOpen);
  EXPECT_EQ(decision.recent, 1u);

  DriftCaptureOptions one_a_day = capture_policy();
  one_a_day.daily_cap = 1;
  EXPECT_EQ(decide_drift_capture(one_a_day, captures, kNow).outcome,
            DriftCaptureOutcome::kSkippedCap);
}

TEST(DriftCaptureOptionsTest, WindowsAndCapAreBounded) {
  DriftCaptureOptions options = capture_policy();
  EXPECT_TRUE(validate(options).ok());
  options.windows = 0;
  EXPECT_FALSE(validate(options).ok());
  options.windows = capture::kMaxWindows + 1;
  EXPECT_FALSE(validate(options).ok());
  options = capture_policy();
  options.daily_cap = 0;
  EXPECT_FALSE(validate(options).ok());
}

TEST(DriftPolicyTest, NamesReadBack) {
  for (const DriftPolicy policy :
       {DriftPolicy::kOff, DriftPolicy::kNotify, DriftPolicy::kCapture}) {
    const auto back = drift_policy_from_name(drift_policy_name(policy));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, policy);
  }
  EXPECT_FALSE(drift_policy_from_name("retrain").ok());
}

TEST(DriftCaptureLabelTest, NamesTheReferenceAndTheDriftingFeaturesHighestFirst) {
  drift::Tracker tracker;
  tracker.kind = drift::ReferenceKind::kCalibration;
  tracker.features.resize(45);
  tracker.features[0].drifting = true;  // x_rms
  tracker.features[0].score = 4.0;
  tracker.features[15].drifting = true;  // y_rms
  tracker.features[15].score = 6.0;
  tracker.features[16].score = 9.0;  // scores high but does not drift (yet)
  const std::string label = drift_capture_label(tracker);
  EXPECT_EQ(label, "drift:calibration:y_rms+x_rms");
  EXPECT_TRUE(valid_capture_label(label));
}

TEST(DriftCaptureLabelTest, StaysWithinTheLabelRule) {
  drift::Tracker tracker;
  tracker.kind = drift::ReferenceKind::kBaseline;
  tracker.features.resize(45);
  for (auto& feature : tracker.features)
    feature.drifting = true;
  const std::string label = drift_capture_label(tracker);
  EXPECT_LE(label.size(), kMaxCaptureLabelSize);
  EXPECT_TRUE(label.starts_with("drift:baseline:x_rms+"));
  EXPECT_TRUE(valid_capture_label(label));

  tracker.features.clear();
  EXPECT_EQ(drift_capture_label(tracker), "drift:baseline");
}

TEST(ValidCaptureLabelTest, RefusesWhatBreaksCsvOrShells) {
  EXPECT_TRUE(valid_capture_label(""));
  EXPECT_TRUE(valid_capture_label("healthy pump: run 2"));
  EXPECT_FALSE(valid_capture_label("a,b"));
  EXPECT_FALSE(valid_capture_label("a\"b"));
  EXPECT_FALSE(valid_capture_label("a\\b"));
  EXPECT_FALSE(valid_capture_label("tab\there"));
  EXPECT_FALSE(valid_capture_label(std::string(kMaxCaptureLabelSize + 1, 'a')));
}

}  // namespace
}  // namespace spindle::gateway
