// spindle::trainer — from healthy windows to a model ready to pack.
//
// Per machine (the default, docs/firmware/calibration.md): the windows are grouped by
// machine (their `device`), each machine's features are standardized by the statistics of
// its own first normalization_windows windows, as the node will standardize its own, and
// the model learns from those. Whole machines are held out (validation_machines) and
// calibrated as a node would calibrate: that, not held-out windows of the training
// machines, is the validation fit reports. The model ships with the node's calibration
// period (TrainedModel::calibration); its fleet threshold is the median of the machines'
// calibrated thresholds, and the bounds a node may set its own within are the lowest and
// highest of them, divided and multiplied by bound_factor. Then, on the standardized
// windows of the training machines:
//
//   1. split the windows (seeded shuffle): 70 % training, 15 % validation (early stopping),
//      15 % calibration (threshold; never trained on)
//   2. standardization from the training split (mean, stddev per feature, stddev floored)
//   3. train the autoencoder or k-means (autoencoder_training.hpp, kmeans.hpp)
//   4. post-training int8 quantization, calibrated on the training windows' activations
//      (modelkit::calibrate / pack_autoencoder / pack_centroids)
//   5. threshold = the calibration split's int8 scores at `threshold_quantile`, times
//      `threshold_margin` (how far past the healthy tail a window must be to count)
//   6. baseline statistics: mean and stddev of every raw feature over all healthy windows,
//      shipped in the manifest for the gateway's drift checks
#pragma once

#include <cstdint>

#include "spindle/trainer/autoencoder_training.hpp"
#include "spindle/trainer/feature_table.hpp"
#include "spindle/trainer/kmeans.hpp"
#include "spindle/trainer/trained_model.hpp"

namespace spindle::trainer {

enum class Adaptation {
  kNone,        // one standardization for the fleet: the model runs as trained
  kPerMachine,  // standardized per machine; the node calibrates (the default)
};

struct FitOptions {
  ModelType type = ModelType::kAutoencoder;
  Adaptation adaptation = Adaptation::kPerMachine;
  std::uint32_t normalization_windows = 300;  // the node's calibration period (per machine)
  std::uint32_t threshold_windows = 600;
  float bound_factor = 50.0f;
  std::size_t validation_machines = 0;  // 0: 15 % of the machines (at least one) when >= 3
  AutoencoderOptions autoencoder;
  KMeansOptions kmeans;
  float threshold_quantile = 0.995f;
  float threshold_margin = 1.5f;
  std::uint32_t seed = 1;  // split, initial weights, shuffles, k-means++ (one seed for all)
};

// Throws std::invalid_argument for fewer than 20 windows, bad options, a machine with fewer
// windows than its calibration period (per machine), or a model the packer refuses
// (naming the reason).
TrainedModel fit(const FeatureTable& healthy, const FitOptions& options);

// The value at quantile q (0..1) of `values` (linear interpolation between order
// statistics). Throws std::invalid_argument when values is empty or q is outside 0..1.
float quantile(std::vector<float> values, float q);

}  // namespace spindle::trainer
