// spindle::trainer — trains the autoencoder (modelkit::FloatAutoencoder) on healthy windows:
// a dense ReLU network that reconstructs the standardized feature vector, with mean
// squared error as loss, minibatch Adam, and early stopping on a validation split (the
// weights of the best validation epoch are kept). Eigen does the linear algebra.
//
// Deterministic: the same data, options and seed give the same weights (one std::mt19937
// stream draws the initial weights and every epoch's shuffle; Eigen runs single-threaded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/trainer/feature_table.hpp"

namespace spindle::trainer {

struct AutoencoderOptions {
  std::vector<std::size_t> hidden = {24, 8, 24};  // widths between input and output
  std::size_t max_epochs = 400;
  std::size_t patience = 25;  // epochs without a better validation loss before stopping
  std::size_t batch = 64;
  float learning_rate = 2e-3f;
  float weight_decay = 1e-5f;  // L2 on weights (not biases), keeps int8 ranges tame
  std::uint32_t seed = 1;
};

struct EpochRecord {
  std::size_t epoch = 0;
  float train_loss = 0.0f;
  float validation_loss = 0.0f;
};

struct TrainedAutoencoder {
  modelkit::FloatAutoencoder model;  // standardization included
  std::vector<EpochRecord> history;
  std::size_t best_epoch = 0;
  float best_validation_loss = 0.0f;
};

// `standardization` is folded into the model; train and validation rows are raw features.
// Throws std::invalid_argument for empty sets, mismatched widths, or hidden widths the
// container cannot hold (modelkit::shape_problem).
TrainedAutoencoder train_autoencoder(const FeatureTable& train, const FeatureTable& validation,
                                     const modelkit::Standardization& standardization,
                                     const AutoencoderOptions& options);

}  // namespace spindle::trainer
