// When the gateway opens a data capture by itself (docs/gateway/drift.md "What drift
// does"): under --drift-policy capture, a device that starts drifting is asked for a
// features capture, so that the data a retraining needs is collected while the machine is
// in the state the model does not know. Bounded in one place, decide_drift_capture: at most
// one open capture per device (an operator's or the gateway's), and at most daily_cap
// automatic captures per device in any 24 hours. Also the rule every capture's label follows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "spindle/gateway/drift.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

// A capture's label ends up in CSV cells and shell commands: at most kMaxCaptureLabelSize
// printable ASCII characters without , " and \.
inline constexpr std::size_t kMaxCaptureLabelSize = 64;
bool valid_capture_label(std::string_view label);

// What the gateway does when a device starts drifting. Every policy scores drift, keeps the
// state and appends the drift events; only kCapture acts on them.
enum class DriftPolicy : std::uint8_t { kOff, kNotify, kCapture };
inline constexpr std::size_t kDriftPolicyCount = 3;
// "off", "notify", "capture".
const char* drift_policy_name(DriftPolicy policy);
// Errors: kInvalidValue (not a name drift_policy_name gives).
Result<DriftPolicy> drift_policy_from_name(std::string_view name);

// The automatic captures' window over which daily_cap counts.
inline constexpr std::int64_t kDriftCaptureCapPeriodMs = 24LL * 3600 * 1000;

struct DriftCaptureOptions {
  DriftPolicy policy = DriftPolicy::kNotify;  // --drift-policy
  std::uint32_t windows = 300;                // --drift-capture-windows: features windows
  std::uint32_t daily_cap = 2;                // --drift-capture-daily-cap
};
// Errors: kInvalidValue (windows outside 1..capture::kMaxWindows, daily_cap 0).
Status validate(const DriftCaptureOptions& options);

enum class DriftCaptureOutcome : std::uint8_t {
  kNoAction,     // the policy is not kCapture
  kOpen,         // open a capture
  kSkippedOpen,  // the device has a capture open (requested or collecting)
  kSkippedCap,   // daily_cap automatic captures were opened in the last 24 hours
};

struct DriftCaptureDecision {
  DriftCaptureOutcome outcome = DriftCaptureOutcome::kNoAction;
  std::int64_t open_capture = 0;  // kSkippedOpen: the open capture's id
  std::uint32_t recent = 0;       // automatic captures of the device in the last 24 hours
  // Why a capture is skipped ("" otherwise), for the drift-capture-skipped event.
  std::string reason;
};

// Whether a device that started drifting at `now_ms` gets a capture, given every capture
// of the device (any order, any origin). An open capture wins over the cap. Pure.
DriftCaptureDecision decide_drift_capture(const DriftCaptureOptions& options,
                                          std::span<const StoredCapture> captures,
                                          std::int64_t now_ms);

// The label of a drift capture: "drift:<reference>:<feature>+<feature>...", the tracker's
// drifting features by score, highest first, as many as fit in kMaxCaptureLabelSize
// ("drift:calibration:x_rms+y_rms"); "drift:<reference>" when none fits or none drifts.
std::string drift_capture_label(const drift::Tracker& tracker);

}  // namespace spindle::gateway
