#include "spindle/app/model_calibration.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "spindle/os/log.hpp"

namespace spindle::app {
namespace {

constexpr const char* kLog = "calibration";

}  // namespace

Status ModelCalibration::attach(os::FlashArea* area) {
  SPINDLE_TRY(store_.mount(area));
  attached_ = true;
  return kOk;
}

void ModelCalibration::stop(float threshold) {
  active_ = false;
  enabled_ = false;
  manifest_threshold_ = threshold;
}

Status ModelCalibration::start(const manifest::Manifest& m, std::size_t feature_count,
                               const ModelCalibration* carried) {
  stop();
  model_id_.fill('\0');
  std::memcpy(model_id_.data(), m.model_id.data(), std::min(m.model_id.size(), kMaxIdSize));
  version_ = m.version;
  feature_count_ = feature_count;
  manifest_threshold_ = m.threshold;
  active_ = true;
  report_due_ = true;
  if (!m.has_calibration) return kOk;
  if (m.baseline_count != feature_count) return Error::kInvalidValue;
  SPINDLE_TRY_ASSIGN(
      baseline_, calibration::Normalization::from_baseline({m.baseline.data(), m.baseline_count}));
  params_ = m.calibration;
  const calibration::Record& stored = store_.record();
  if (attached_ && store_.has_record() && stored.id() == m.model_id &&
      stored.version == m.version) {
    auto resumed = calibration::Calibrator::resume(params_, feature_count, stored.progress);
    if (resumed.ok()) {
      calibrator_ = std::move(resumed).value();
      enabled_ = true;
      SPINDLE_LOG_INF(kLog, "%s v%llu: calibration %u resumed (%s, %u of %u windows)",
                      model_id_.data(), static_cast<unsigned long long>(version_),
                      calibrator_.progress().generation,
                      status_report::calibration_state_name(calibrator_.phase()),
                      calibrator_.windows_done(), calibrator_.windows_total());
      return kOk;
    }
    SPINDLE_LOG_WRN(kLog, "the stored calibration does not fit %s v%llu (%s): beginning again",
                    model_id_.data(), static_cast<unsigned long long>(version_),
                    resumed.status().name());
  }
  if (carried != nullptr && carried->enabled_ && carried->version_ == m.version &&
      std::string_view(carried->model_id_.data()) == m.model_id) {
    // What the model learned of this machine while it ran in shadow holds as it becomes
    // the active model: no second calibration period without alarms.
    auto resumed =
        calibration::Calibrator::resume(params_, feature_count, carried->calibrator_.progress());
    if (resumed.ok()) {
      calibrator_ = std::move(resumed).value();
      enabled_ = true;
      SPINDLE_LOG_INF(kLog, "%s v%llu: calibration carried over from its shadow run (%s)",
                      model_id_.data(), static_cast<unsigned long long>(version_),
                      status_report::calibration_state_name(calibrator_.phase()));
      persist();
      return kOk;
    }
  }
  SPINDLE_TRY_ASSIGN(calibrator_, calibration::Calibrator::begin(params_, feature_count, 1));
  enabled_ = true;
  SPINDLE_LOG_INF(kLog,
                  "%s v%llu: calibrating on this machine over %u windows; no alarms until "
                  "then",
                  model_id_.data(), static_cast<unsigned long long>(version_),
                  calibrator_.windows_total());
  persist();
  return kOk;
}

Status ModelCalibration::restart(std::uint64_t after_generation) {
  if (!enabled_) return Error::kInvalidState;
  if (calibrator_.progress().generation > after_generation) return kOk;  // done already
  const std::uint32_t generation = calibrator_.progress().generation + 1;
  SPINDLE_TRY_ASSIGN(calibrator_,
                     calibration::Calibrator::begin(params_, feature_count_, generation));
  SPINDLE_LOG_INF(kLog, "%s v%llu: calibration reset by the operator; calibrating again (%u)",
                  model_id_.data(), static_cast<unsigned long long>(version_), generation);
  report_due_ = true;
  persist();
  return kOk;
}

Result<std::span<const float>> ModelCalibration::input(std::span<const float> raw,
                                                       std::span<float> scratch) const {
  if (!enabled_) return raw;
  if (scratch.size() < raw.size()) return Error::kSizeMismatch;
  const calibration::Normalization& n = calibrator_.phase() == calibration::Phase::kNormalizing
                                            ? baseline_
                                            : calibrator_.progress().normalization;
  const std::span<float> out = scratch.first(raw.size());
  SPINDLE_TRY(n.apply(raw, out));
  return std::span<const float>(out);
}

bool ModelCalibration::calibrating() const {
  return enabled_ && !calibrator_.calibrated();
}

float ModelCalibration::threshold() const {
  return enabled_ && calibrator_.calibrated() ? calibrator_.progress().threshold
                                              : manifest_threshold_;
}

status_report::CalibrationState ModelCalibration::state() const {
  return enabled_ ? calibrator_.progress().phase : status_report::CalibrationState::kNone;
}

bool ModelCalibration::anomaly(float score) const {
  if (!enabled_) return score > manifest_threshold_;
  return calibrator_.calibrated() && score > calibrator_.progress().threshold;
}

void ModelCalibration::observe(std::span<const float> raw, float score) {
  if (!calibrating()) return;
  const auto moved = calibrator_.add(raw, score);
  if (!moved.ok()) {
    SPINDLE_LOG_WRN(kLog, "window not used for calibration: %s", moved.status().name());
    return;
  }
  if (*moved) {
    const calibration::Progress& p = calibrator_.progress();
    if (p.phase == calibration::Phase::kCalibrated) {
      SPINDLE_LOG_INF(
          kLog, "%s v%llu calibrated on this machine: threshold %.4f%s; alarms on",
          model_id_.data(), static_cast<unsigned long long>(version_),
          static_cast<double>(p.threshold),
          p.clamp == calibration::ThresholdClamp::kNone
              ? ""
              : (p.clamp == calibration::ThresholdClamp::kLower ? " (the manifest's minimum)"
                                                                : " (the manifest's maximum)"));
    } else {
      SPINDLE_LOG_INF(kLog,
                      "%s v%llu: machine normalization learned over %u windows; setting "
                      "the threshold",
                      model_id_.data(), static_cast<unsigned long long>(version_), p.windows_done);
    }
    persist();
    report_due_ = true;
  } else if (calibrator_.windows_done() % kReportEvery == 0) {
    report_due_ = true;
  }
}

void ModelCalibration::persist() {
  if (!attached_) return;
  calibration::Record record;
  record.set_id(model_id_.data());
  record.version = version_;
  record.progress = calibrator_.progress();
  const Status saved = store_.save(record);
  if (!saved.ok()) {
    SPINDLE_LOG_ERR(kLog, "calibration not stored (%s); it goes on in RAM", saved.name());
  }
}

bool ModelCalibration::report(std::span<std::uint8_t> buffer,
                              status_report::CalibrationReport* out) const {
  if (!active_) return false;
  *out = {};
  out->model_id = model_id_.data();
  out->version = version_;
  if (!enabled_) {
    out->state = status_report::CalibrationState::kNone;
    out->threshold = manifest_threshold_;
    return true;
  }
  const calibration::Progress& p = calibrator_.progress();
  out->state = p.phase;
  out->generation = p.generation;
  out->windows_done = calibrator_.windows_done();
  out->windows_total = calibrator_.windows_total();
  out->threshold = calibrator_.calibrated() ? p.threshold : manifest_threshold_;
  out->clamp = p.clamp;
  if (p.phase != calibration::Phase::kNormalizing) {
    const auto packed = p.normalization.pack(buffer);
    if (packed.ok()) out->normalization = *packed;
  }
  return true;
}

}  // namespace spindle::app
