// spindle::trainer — how a trained model does on labelled data it never saw: windows from
// the node's simulator with seeds outside the training data's, on healthy machines at every
// speed and on every fault type at several severities and speeds, scored by the node's int8
// runtime and by the float model.
//
//   ROC-AUC          per fault and severity: fault windows (all speeds) against healthy
//                    windows (all speeds), from the int8 scores (threshold-free)
//   precision/recall at the model's threshold, per fault and severity
//   false alarms     the fraction of healthy windows over the threshold, per speed
//   detection delay  a fault ramping 0 -> 1 severity over ramp_seconds: seconds (and the
//                    severity reached) until `consecutive` windows in a row are flagged
//   int8 vs float    agreement of the anomaly decision (all windows), and the score error
//                    of the int8 path relative to the float model (healthy windows: far
//                    past the threshold the int8 input saturates by design)
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "spindle/protocol/board_profile.hpp"
#include "spindle/sensor/fault.hpp"
#include "spindle/trainer/trained_model.hpp"

namespace spindle::trainer {

struct EvaluationOptions {
  std::vector<float> speeds_hz = {15.0f, 20.0f, 25.0f, 30.0f, 40.0f, 50.0f};
  std::vector<sensor::Fault> faults = {sensor::Fault::kImbalance, sensor::Fault::kMisalignment,
                                       sensor::Fault::kLooseness, sensor::Fault::kBearingOuter,
                                       sensor::Fault::kBearingInner};
  std::vector<float> severities = {0.05f, 0.1f, 0.3f};
  float moderate_severity = 0.3f;     // the severity the targets are stated at
  std::size_t healthy_windows = 300;  // per speed
  std::size_t fault_windows = 60;     // per fault, severity and speed
  float ramp_seconds = 120.0f;        // detection-delay runs
  float ramp_speed_hz = 25.0f;
  std::size_t consecutive = 3;       // flagged windows in a row that count as detected
  std::uint64_t seed_base = 100000;  // scenario i runs with seed seed_base + i
};

struct FaultResult {
  std::string fault;
  float severity = 0.0f;
  std::size_t windows = 0;
  float roc_auc = 0.0f;
  float precision = 0.0f;
  float recall = 0.0f;
};

struct SpeedResult {
  float shaft_hz = 0.0f;
  std::size_t windows = 0;
  float false_alarm_rate = 0.0f;
  float score_p99 = 0.0f;  // 99th percentile of the healthy int8 scores
};

struct DelayResult {
  std::string fault;
  bool detected = false;
  float seconds = 0.0f;   // simulated time from the start of the ramp
  float severity = 0.0f;  // reached at detection
};

struct Evaluation {
  std::string model_kind;
  std::string board;
  std::size_t container_bytes = 0;
  std::uint32_t arena_bytes = 0;
  float threshold = 0.0f;
  std::uint64_t first_seed = 0;
  std::uint64_t last_seed = 0;
  float moderate_severity = 0.0f;
  std::vector<FaultResult> faults;
  std::vector<SpeedResult> speeds;
  std::vector<DelayResult> delays;
  float healthy_false_alarm_rate = 0.0f;  // over all speeds
  float decision_agreement = 0.0f;        // int8 and float agree on anomaly / not
  float median_relative_score_error = 0.0f;
  float p99_relative_score_error = 0.0f;
  // Targets: ROC-AUC >= 0.97 for every fault at the moderate severity, false alarms <= 1 %
  // at every speed.
  float min_moderate_auc = 0.0f;
  float max_speed_false_alarm_rate = 0.0f;
  bool targets_met = false;
};

// Throws std::invalid_argument when an evaluation seed is one the training data used (the
// model's record), or for options that give no windows.
Evaluation evaluate(const TrainedModel& model, const board::BoardProfile& board,
                    const EvaluationOptions& options);

// The area under the ROC curve of `positive` against `negative` scores (Mann-Whitney U,
// ties count one half). Throws std::invalid_argument when either is empty.
float roc_auc(const std::vector<float>& positive, const std::vector<float>& negative);

void print_table(const Evaluation& e, std::ostream& out);
std::string to_json(const Evaluation& e);

}  // namespace spindle::trainer
