#include "spindle/gateway/capture_policy.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/feature_names.hpp"

namespace spindle::gateway {
namespace {

// Indexed by DriftPolicy.
constexpr std::array<const char*, kDriftPolicyCount> kDriftPolicyNames = {"off", "notify",
                                                                          "capture"};

bool open(CaptureState state) {
  return state == CaptureState::kRequested || state == CaptureState::kCollecting;
}

}  // namespace

bool valid_capture_label(std::string_view label) {
  if (label.size() > kMaxCaptureLabelSize) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return c >= 0x20 && c <= 0x7e && c != ',' && c != '"' && c != '\\';
  });
}

const char* drift_policy_name(DriftPolicy policy) {
  return kDriftPolicyNames[static_cast<std::size_t>(policy)];
}

Result<DriftPolicy> drift_policy_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kDriftPolicyCount; ++i) {
    if (name == kDriftPolicyNames[i]) return static_cast<DriftPolicy>(i);
  }
  return Error::kInvalidValue;
}

Status validate(const DriftCaptureOptions& options) {
  if (options.windows < 1 || options.windows > capture::kMaxWindows || options.daily_cap < 1) {
    return Error::kInvalidValue;
  }
  return kOk;
}

DriftCaptureDecision decide_drift_capture(const DriftCaptureOptions& options,
                                          std::span<const StoredCapture> captures,
                                          std::int64_t now_ms) {
  DriftCaptureDecision decision;
  if (options.policy != DriftPolicy::kCapture) return decision;
  const StoredCapture* newest_open = nullptr;
  for (const StoredCapture& capture : captures) {
    if (open(capture.state) && (newest_open == nullptr || capture.id > newest_open->id)) {
      newest_open = &capture;
    }
    // (now - 24 h, now]: a capture opened exactly a day ago no longer counts.
    if (capture.origin == CaptureOrigin::kDrift && capture.created_ms <= now_ms &&
        now_ms - capture.created_ms < kDriftCaptureCapPeriodMs) {
      decision.recent += 1;
    }
  }
  if (newest_open != nullptr) {
    decision.outcome = DriftCaptureOutcome::kSkippedOpen;
    decision.open_capture = newest_open->id;
    decision.reason = "capture " + std::to_string(newest_open->id) + " (" +
                      capture_origin_name(newest_open->origin) + ") is still " +
                      capture_state_name(newest_open->state) + ", " +
                      std::to_string(newest_open->windows_received) + " of " +
                      std::to_string(newest_open->windows_requested) + " windows";
    return decision;
  }
  if (decision.recent >= options.daily_cap) {
    decision.outcome = DriftCaptureOutcome::kSkippedCap;
    decision.reason = std::to_string(decision.recent) +
                      " automatic captures in the last 24 h, the daily cap is " +
                      std::to_string(options.daily_cap);
    return decision;
  }
  decision.outcome = DriftCaptureOutcome::kOpen;
  return decision;
}

std::string drift_capture_label(const drift::Tracker& tracker) {
  std::string label = std::string("drift:") + drift::reference_name(tracker.kind);
  std::vector<std::size_t> drifting;
  for (std::size_t i = 0; i < tracker.features.size(); ++i) {
    if (tracker.features[i].drifting) drifting.push_back(i);
  }
  std::stable_sort(drifting.begin(), drifting.end(), [&](std::size_t a, std::size_t b) {
    return tracker.features[a].score > tracker.features[b].score;
  });
  char separator = ':';
  for (const std::size_t i : drifting) {
    std::string name(feature_names::name(i));
    if (name.empty()) name.assign(1, 'f').append(std::to_string(i));  // GCC 12: no "f" + s
    if (label.size() + 1 + name.size() > kMaxCaptureLabelSize) break;
    label += separator;
    label += name;
    separator = '+';
  }
  return label;
}

}  // namespace spindle::gateway
