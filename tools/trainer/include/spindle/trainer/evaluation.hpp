// spindle::trainer — how a trained model does on machines it never saw. Whole machines are
// held out: simulated ones drawn from machine seeds the training data does not contain
// (docs/firmware/vibration-model.md, "Machines that differ"), or captured data sets, one
// machine per device. On each machine the model is run as a node runs it:
//
//   with adaptation     the node's calibration (calibration::Calibrator) on the machine's
//                       first healthy windows, then its normalization and threshold
//   without adaptation  the fleet's: the manifest baseline as normalization and the
//                       model's fleet threshold (for a model trained without per-machine
//                       adaptation the two are the same)
//
// and, per machine, scored with the node's int8 runtime:
//
//   false alarms     the fraction of healthy windows after the calibration period over the
//                    threshold
//   ROC-AUC          per fault and severity: the machine's fault windows against its
//                    healthy windows (threshold-free)
//   recall           the fraction of fault windows over the threshold
//   detection delay  a fault ramping 0 -> 1 severity over ramp_seconds: seconds (and the
//                    severity reached) until `consecutive` windows in a row are flagged
//   int8 vs float    agreement of the decision, and the score error of the int8 path
//                    relative to the float model on healthy windows
//
// The targets hold on every machine, with adaptation: ROC-AUC >= 0.97 at the moderate
// severity for every fault, false alarms <= 1 %.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "spindle/protocol/board_profile.hpp"
#include "spindle/sensor/fault.hpp"
#include "spindle/trainer/feature_table.hpp"
#include "spindle/trainer/trained_model.hpp"

namespace spindle::trainer {

struct EvaluationOptions {
  std::vector<std::uint64_t> machines;  // simulated machine seeds; empty: 20 from 1001
  std::vector<sensor::Fault> faults = {sensor::Fault::kImbalance, sensor::Fault::kMisalignment,
                                       sensor::Fault::kLooseness, sensor::Fault::kBearingOuter,
                                       sensor::Fault::kBearingInner};
  std::vector<float> severities = {0.1f, 0.3f};
  float moderate_severity = 0.3f;     // the severity the targets are stated at
  std::size_t healthy_windows = 300;  // per machine, after its calibration period
  std::size_t fault_windows = 60;     // per machine, fault and severity
  float ramp_seconds = 120.0f;        // detection-delay runs; 0: none
  std::size_t consecutive = 3;        // flagged windows in a row that count as detected
  std::uint64_t seed_base = 100000;   // noise seeds: scenario i runs with seed_base + i
  // Captured data instead of simulated machines: tables whose windows carry a device and a
  // fault ("none" for healthy), in the order they were taken.
  std::vector<FeatureTable> data;
};

struct FaultResult {
  std::string fault;
  float severity = 0.0f;  // NaN for captured data labelled only by fault
  std::size_t windows = 0;
  float roc_auc = 0.0f;  // with adaptation
  float recall = 0.0f;
  float roc_auc_fleet = 0.0f;  // without
  float recall_fleet = 0.0f;
};

struct DelayResult {
  std::string fault;
  bool detected = false;
  float seconds = 0.0f;   // simulated time from the start of the ramp
  float severity = 0.0f;  // reached at detection
};

struct MachineResult {
  std::string device;
  float threshold = 0.0f;  // the machine's own, after calibration
  std::string clamp = "none";
  std::size_t healthy_windows = 0;
  float false_alarm_rate = 0.0f;  // with adaptation
  float false_alarm_rate_fleet = 0.0f;
  std::vector<FaultResult> faults;
  std::vector<DelayResult> delays;
  float min_moderate_auc = 0.0f;  // over the faults at the moderate severity
  float min_moderate_auc_fleet = 0.0f;
  bool targets_met = false;  // with adaptation
};

struct Evaluation {
  std::string model_kind;
  std::string board;
  std::string adaptation;  // "per-machine" or "none"
  std::string source;      // "simulated" or "captured"
  std::size_t container_bytes = 0;
  std::uint32_t arena_bytes = 0;
  float fleet_threshold = 0.0f;
  std::uint32_t calibration_windows = 0;  // normalization + threshold, per machine
  std::uint64_t first_seed = 0;
  std::uint64_t last_seed = 0;
  float moderate_severity = 0.0f;
  std::vector<MachineResult> machines;
  // Worst machine, with and without adaptation.
  float min_moderate_auc = 0.0f;
  float max_false_alarm_rate = 0.0f;
  float min_moderate_auc_fleet = 0.0f;
  float max_false_alarm_rate_fleet = 0.0f;
  std::size_t machines_meeting_targets = 0;
  float decision_agreement = 0.0f;  // int8 and float agree on anomaly / not (with adaptation)
  float median_relative_score_error = 0.0f;
  float p99_relative_score_error = 0.0f;
  bool targets_met = false;  // on every machine, with adaptation
};

// Throws std::invalid_argument when an evaluation machine or noise seed is one the training
// data used (the model's record), for a captured device without enough healthy windows for
// the calibration period or without fault windows, or for options that give no windows.
Evaluation evaluate(const TrainedModel& model, const board::BoardProfile& board,
                    const EvaluationOptions& options);

// The area under the ROC curve of `positive` against `negative` scores (Mann-Whitney U,
// ties count one half). Throws std::invalid_argument when either is empty.
float roc_auc(const std::vector<float>& positive, const std::vector<float>& negative);

void print_table(const Evaluation& e, std::ostream& out);
std::string to_json(const Evaluation& e);

}  // namespace spindle::trainer
