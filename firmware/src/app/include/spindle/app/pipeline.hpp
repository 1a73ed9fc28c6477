// One window's work on the node: features, then the active model's score, with the input
// normalization and threshold of its calibration on this machine (model_calibration.hpp),
// and the shadow's beside it when a candidate runs in shadow (docs/firmware/shadow.md).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "spindle/app/model_calibration.hpp"
#include "spindle/modelstore/installer.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::app {

struct WindowResult {
  bool scored = false;  // false while no model is active
  float score = 0.0F;
  bool anomaly = false;
  bool calibrating = false;            // the model is being adapted to this machine: no alarms yet
  std::uint32_t latency_us = 0;        // features + inference
  std::uint32_t arena_high_water = 0;  // bytes of the model arena ever in use
  std::span<const float> features;     // this window's feature vector
  // The shadow's verdict on the same window, never acted upon (alarms are the active's).
  bool shadow_scored = false;
  float shadow_score = 0.0F;
  bool shadow_anomaly = false;
};

// Thread-safe between one scoring thread (process) and one installing thread (suspend,
// load): a model is swapped between two windows, never during one.
class Pipeline final : public modelstore::ModelRunner {
 public:
  // Sets up feature extraction for the board's window and rate, and loads `model` (a
  // plaintext container; empty: no model) into the arena, of which only the board's
  // CONFIG_MODEL_ARENA_SIZE is used. Errors: kDoesNotFit (the window or the arena of the
  // board exceed what this build was sized for, or the model needs a larger arena), the
  // feature extractor's and the runtime's errors, the calibration store's.
  // `calibration_area`: the board's calibration partition (nullptr: calibrations are not
  // persisted).
  Status init(const board::BoardProfile& board, std::span<const std::uint8_t> model,
              float threshold, os::FlashArea* calibration_area = nullptr);

  // Errors: kInvalidValue (axis buffers of the wrong length), the runtime's.
  Status process(std::span<const float> x, std::span<const float> y, std::span<const float> z,
                 WindowResult* result);

  // ModelRunner: the installer's side.
  void suspend() override;
  // Loads a decrypted container into the board's arena and runs the manifest's self-test
  // vectors through the int8 path, comparing the int8 output bit for bit. Errors:
  // kSelfTestFailed, kSizeMismatch (input size is not the node's feature count), the
  // runtime's, the calibration's (model_calibration.hpp); on error no model is loaded.
  Status load(std::span<const std::uint8_t> container, const manifest::Manifest& manifest) override;
  // The shadow: the same, into an arena of its own (the board's CONFIG_SHADOW_ARENA_SIZE
  // again), with a calibration of its own on this machine that lives in RAM only, so the
  // active model's stored calibration is never touched. Its comparison counters start
  // from zero. A shadow suspended and then loaded as the active model (a promotion)
  // carries its calibration over. Errors: load()'s.
  void suspend_shadow() override;
  Status load_shadow(std::span<const std::uint8_t> container,
                     const manifest::Manifest& manifest) override;

  // How the shadow compares with the active model so far (status_report::ShadowReport;
  // the model id views the pipeline's copy, valid until the next load_shadow). False when
  // no shadow runs. Thread-safe.
  bool shadow_report(status_report::ShadowReport* out);
  // True once every kShadowReportEvery windows scored by both, when the shadow's
  // calibration state changes, after load_shadow and after request_shadow_report().
  bool take_shadow_report_due() { return shadow_report_due_.exchange(false); }
  void request_shadow_report() { shadow_report_due_ = true; }
  static constexpr std::uint32_t kShadowReportEvery = 64;

  // The calibration report for the gateway (see ModelCalibration::report), and whether one
  // is due. Thread-safe.
  bool calibration_report(std::span<std::uint8_t> buffer, status_report::CalibrationReport* out);
  bool take_calibration_report_due() { return calibration_.take_report_due(); }
  void request_calibration_report() { calibration_.request_report(); }
  // The operator's reset of this machine's calibration (ModelCalibration::restart).
  // Errors: kInvalidState (no model with a calibration section), the flash's.
  Status recalibrate(std::uint64_t after_generation);

 private:
  Status load_locked(std::span<const std::uint8_t> model, float threshold);
  // Scores the window with the shadow and counts how it compares with the active model's
  // verdict, judged against `active_threshold` (under mutex_).
  void score_shadow(WindowResult* result, float active_threshold);

  // Cumulative since the shadow was loaded.
  struct ShadowStats {
    std::uint32_t scored = 0;
    std::uint32_t compared = 0;
    std::uint32_t agreed = 0;
    std::uint32_t active_anomalies = 0;
    std::uint32_t shadow_anomalies = 0;
    std::array<std::uint32_t, status_report::kHistogramBins> active_histogram{};
    std::array<std::uint32_t, status_report::kHistogramBins> shadow_histogram{};
    std::uint64_t latency_total_us = 0;
    std::uint32_t latency_max_us = 0;
  };

  os::Mutex mutex_;
  const board::BoardProfile* board_ = nullptr;
  bool has_model_ = false;
  ModelCalibration calibration_;
  bool has_shadow_ = false;
  ModelCalibration shadow_calibration_;  // never attached: RAM only
  ShadowStats shadow_stats_;
  std::array<char, kMaxIdSize + 1> shadow_id_{};
  std::uint64_t shadow_version_ = 0;
  status_report::CalibrationState shadow_state_ = status_report::CalibrationState::kNone;
  std::atomic<bool> shadow_report_due_{false};
};

}  // namespace spindle::app
