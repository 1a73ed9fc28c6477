// The active model's adaptation to this machine (docs/firmware/calibration.md): which
// normalization its input gets, which threshold flags a window, and whether alarms are on
// yet. A model whose manifest carries a calibration section is calibrated once it is
// loaded, resuming a calibration that a reset interrupted; one without runs as trained.
//
// Not thread-safe: the Pipeline calls it under its mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "spindle/calibration/calibration_store.hpp"
#include "spindle/calibration/calibrator.hpp"
#include "spindle/calibration/normalization.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::app {

class ModelCalibration {
 public:
  // Mounts the calibration record in `area` (the board's calibration partition). Without
  // one (unit tests of other parts) a calibration runs in RAM only.
  // Errors: the store's.
  Status attach(os::FlashArea* area);

  // A model from `manifest` with `feature_count` inputs is now active. Resumes the stored
  // calibration when it is this model's (id and version), else the one `carried` made of
  // the same model (its run in shadow, docs/firmware/shadow.md), else begins the first
  // one; stores it. Without a calibration section the model runs as trained (state kNone).
  // Errors: kInvalidValue (a baseline the normalization
  // refuses), the flash's (the calibration then runs on in RAM and is stored at its next
  // step).
  Status start(const manifest::Manifest& manifest, std::size_t feature_count,
               const ModelCalibration* carried = nullptr);
  // A model without a manifest (development, flagging windows above `threshold`) or none.
  void stop(float threshold = 0.0F);
  // The operator's reset: forgets what this machine's calibration learned and begins again
  // (generation + 1) when the generation is at most `after_generation`, else does nothing
  // (the gateway repeats its request until it hears of the new generation).
  // Errors: kInvalidState (no model with a calibration section), the flash's.
  Status restart(std::uint64_t after_generation);

  // The model's input for these raw features: normalized into `scratch`, or `raw` itself
  // for a model without calibration. Errors: kSizeMismatch.
  Result<std::span<const float>> input(std::span<const float> raw, std::span<float> scratch) const;
  // Whether a window with this score is an anomaly: never while calibrating.
  bool anomaly(float score) const;
  bool calibrating() const;
  // The threshold in force: the calibrated one, else the manifest's.
  float threshold() const;
  // Where the calibration stands (kNone: none, or no model from a manifest).
  status_report::CalibrationState state() const;
  // One scored window: feeds the calibration; stores it when a phase completes. A flash
  // error is logged and the calibration goes on in RAM.
  void observe(std::span<const float> raw, float score);

  // The report the gateway gets (normalization packed into `buffer`, 8 bytes per feature).
  // False when no model from a manifest is active.
  bool report(std::span<std::uint8_t> buffer, status_report::CalibrationReport* out) const;
  // True once after every change worth reporting (start, a phase, every kReportEvery
  // windows while calibrating), and after request_report().
  bool take_report_due() { return report_due_.exchange(false); }
  void request_report() { report_due_ = true; }

  static constexpr std::uint32_t kReportEvery = 64;

 private:
  void persist();

  calibration::CalibrationStore store_;
  bool attached_ = false;
  bool active_ = false;   // a model from a manifest
  bool enabled_ = false;  // ... that carries a calibration section
  std::array<char, kMaxIdSize + 1> model_id_{};
  std::uint64_t version_ = 0;
  std::size_t feature_count_ = 0;
  manifest::Calibration params_{};
  float manifest_threshold_ = 0.0F;
  calibration::Normalization baseline_;  // normalizes until the machine's is learned
  calibration::Calibrator calibrator_;
  std::atomic<bool> report_due_{false};
};

}  // namespace spindle::app
