// spindle::trainer — a trained model with everything that ships or checks it: the float
// model as trained, its int8 container (what the node runs), the anomaly threshold, the
// training baseline statistics for drift checks, and a record of how it was trained.
// Saved as a directory the operator packs from (`spindlectl pack`):
//
//   model.spmc      the int8 container
//   threshold       the anomaly threshold, one number (spindlectl pack --threshold)
//   baseline.csv    mean,stddev of each raw feature over the healthy training windows
//                   (spindlectl pack --baseline)
//   calibration     the node's calibration period and threshold rule, key=value lines, for
//                   a per-machine model (spindlectl pack --calibration)
//   model.json      kind, float model, quantization, threshold calibration, training record
//   evaluation.json written by evaluate (evaluation.hpp)
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spindle/inference/interpreter.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/modelkit/centroids.hpp"
#include "spindle/protocol/manifest.hpp"

namespace spindle::trainer {

enum class ModelType { kAutoencoder, kCentroids };

// How one machine calibrates, as a node would (fit's per-machine validation).
struct MachineCalibration {
  std::string device;
  bool held_out = false;          // not trained on
  float threshold = 0.0f;         // the node's calibrated threshold, before the bounds
  std::size_t test_windows = 0;   // after the calibration period
  float false_alarm_rate = 0.0f;  // of those, over the threshold
};

struct TrainingRecord {
  std::string board;
  std::size_t train_windows = 0;
  std::size_t validation_windows = 0;   // early stopping (autoencoder)
  std::size_t calibration_windows = 0;  // threshold calibration, never trained on
  std::vector<std::int64_t> seeds;      // simulator seeds of the training data (-1: unknown)
  std::vector<std::string> sources;     // data files
  std::uint32_t seed = 0;               // the trainer's
  std::size_t epochs = 0;               // run (autoencoder) / Lloyd iterations (k-means)
  std::size_t best_epoch = 0;
  float best_validation_loss = 0.0f;
  float threshold_quantile = 0.0f;
  float threshold_margin = 0.0f;
  float calibration_false_alarm_rate = 0.0f;  // of the calibration windows at the threshold
  std::string adaptation = "none";            // "none" or "per-machine"
  std::vector<std::string> machines;          // devices of the training data
  std::vector<MachineCalibration> machine_calibrations;
};

struct TrainedModel {
  ModelType type = ModelType::kAutoencoder;
  modelkit::FloatAutoencoder autoencoder;  // type kAutoencoder
  modelkit::FloatCentroids centroids;      // type kCentroids
  std::vector<std::uint8_t> container;     // int8, what the node runs
  std::uint32_t arena_bytes = 0;
  float threshold = 0.0f;
  std::vector<manifest::FeatureBaseline> baseline;
  bool has_calibration = false;  // per machine: the node calibrates with these
  manifest::Calibration calibration;
  TrainingRecord record;
};

std::string type_name(ModelType type);  // "autoencoder" / "kmeans"

// The `calibration` file: one key=value line per field of manifest::Calibration
// (normalization_windows, threshold_windows, threshold_quantile, threshold_margin,
// threshold_min, threshold_max), `#` comments.
std::string calibration_file(const manifest::Calibration& calibration);

// The float model's score (as trained, before quantization). Throws std::invalid_argument
// on a width mismatch.
float float_score(const TrainedModel& model, std::span<const float> features);

// Scores windows with the node's int8 runtime (inference::Interpreter) on the model's
// container, in an arena of exactly the size it needs.
class Int8Scorer {
 public:
  // Throws std::invalid_argument naming the runtime's error when it refuses the container.
  explicit Int8Scorer(const std::vector<std::uint8_t>& container);
  float score(std::span<const float> features);
  // The int8 vector invoke_int8 takes for these features (quantized, standardized), and the
  // int8 output the runtime produces from it: a self-test vector.
  struct SelfTest {
    std::vector<std::int8_t> input;
    std::vector<std::int8_t> output;
  };
  SelfTest self_test(std::span<const float> features);
  inference::Interpreter& interpreter() { return interpreter_; }

 private:
  std::vector<std::uint8_t> container_;
  std::vector<std::uint8_t> arena_;
  inference::Interpreter interpreter_;
};

// Writes model.spmc, threshold, baseline.csv, calibration (per-machine models) and
// model.json into `dir` (created if absent).
// Throws std::runtime_error naming a file that cannot be written.
void save(const TrainedModel& model, const std::string& dir);
// Reads what save() wrote. Throws std::runtime_error / std::invalid_argument naming the file.
TrainedModel load(const std::string& dir);

}  // namespace spindle::trainer
