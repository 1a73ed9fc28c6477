// spindle::trainer — windows grouped by the machine they come from, and what a node does
// with one machine's windows (docs/firmware/calibration.md): the normalization it learns
// from the first of them, its calibration (the node's own calibration::Calibrator), and
// the scores of the windows after the calibration period. fit trains on machines
// standardized this way; evaluate holds whole machines out and calibrates on each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "spindle/calibration/calibrator.hpp"
#include "spindle/calibration/normalization.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/trainer/feature_table.hpp"
#include "spindle/trainer/trained_model.hpp"

namespace spindle::trainer {

struct Machine {
  std::string device;             // WindowInfo::device
  std::vector<std::size_t> rows;  // its windows, in table order (the order they were taken)
};

// Machines in order of first appearance.
std::vector<Machine> group_by_machine(const FeatureTable& table);

// The statistics of the machine's first `windows` windows, as a node learns them. Throws
// std::invalid_argument when the machine has fewer.
calibration::Normalization machine_normalization(const FeatureTable& table, const Machine& machine,
                                                 std::uint32_t windows);

// Every window of the machine through `normalization` (a table of the machine's rows).
FeatureTable standardize(const FeatureTable& table, const Machine& machine,
                         const calibration::Normalization& normalization);

// One machine through a node's calibration: the first normalization + threshold windows
// calibrate (calibration::Calibrator, bounds applied), the remaining ones are scored with
// the learned normalization.
struct MachineRun {
  float threshold = 0.0f;
  calibration::ThresholdClamp clamp = calibration::ThresholdClamp::kNone;
  calibration::Normalization normalization;
  std::vector<std::size_t> test_rows;  // the windows after the calibration period
  std::vector<float> test_scores;      // their int8 scores
};
// Throws std::invalid_argument when the machine has fewer windows than the period, or the
// calibration refuses a window (naming the machine).
MachineRun run_calibrated(const FeatureTable& table, const Machine& machine,
                          const manifest::Calibration& params, Int8Scorer& scorer);

// Int8 scores of `rows` of `table`, each normalized first (a model without calibration:
// pass nullptr and the raw features are scored).
std::vector<float> score_rows(const FeatureTable& table, const std::vector<std::size_t>& rows,
                              const calibration::Normalization* normalization, Int8Scorer& scorer);

// The fraction of `scores` above `threshold` (0 for none).
float fraction_above(const std::vector<float>& scores, float threshold);

}  // namespace spindle::trainer
