// spindle::trainer — from healthy windows to a model ready to pack:
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

struct FitOptions {
  ModelType type = ModelType::kAutoencoder;
  AutoencoderOptions autoencoder;
  KMeansOptions kmeans;
  float threshold_quantile = 0.995f;
  float threshold_margin = 1.5f;
  std::uint32_t seed = 1;  // split, initial weights, shuffles, k-means++ (one seed for all)
};

// Throws std::invalid_argument for fewer than 20 windows, bad options, or a model the
// packer refuses (naming the reason).
TrainedModel fit(const FeatureTable& healthy, const FitOptions& options);

// The value at quantile q (0..1) of `values` (linear interpolation between order
// statistics). Throws std::invalid_argument when values is empty or q is outside 0..1.
float quantile(std::vector<float> values, float q);

}  // namespace spindle::trainer
