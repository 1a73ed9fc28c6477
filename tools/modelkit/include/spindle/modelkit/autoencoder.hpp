// spindle::modelkit — turns a float MLP autoencoder into an int8 model container (SPMC,
// docs/protocol/container.md) the node's runtime executes. One packer for everyone who needs
// model files: bench/inference, the tests, spindle-make-model and, later, the trainer.
//
//   auto random = modelkit::random_autoencoder(widths, seed);  // or a trained model and
//   auto packed = modelkit::pack_autoencoder(random->model,     // calibrate() on its data
//                                            random->calibration);
//   write(packed->container);
//
// Host-only (it allocates), but it reports errors with the project's Status/Result rather
// than exceptions, so firmware-facing callers and tests handle them the same way.
//
// Quantization, as the int8 kernels expect it (CMSIS-NN / TFLite Micro conventions):
//  - input: int8, symmetric, scale input_max_abs / 127;
//  - reconstruction: int8, symmetric over the wider of the input's and the last layer's
//    calibrated range: it must represent what it is compared with, and what the model
//    produces (an untrained model overshoots the input; clipping it would make the int8
//    score disagree with the float model's);
//  - weights: int8, symmetric, one scale per output channel (row max / 127);
//  - biases: int32 at input scale x weight scale of their channel, zero point 0 (a channel
//    whose bias does not fit at row max / 127 gets a larger weight scale instead);
//  - hidden FC outputs: symmetric over the calibrated |pre-activation| range; ReLU outputs:
//    zero point -128 so that [0, max] uses all 256 steps.
// The graph is [standardize ->] quantize -> FC -> ReLU -> ... -> FC -> reconstruction_error
// (mean squared), the reconstruction compared with the standardized input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/protocol/container.hpp"
#include "spindle/status.hpp"

namespace spindle::modelkit {

// One fully connected layer, y = W x + b.
struct DenseLayer {
  std::size_t in = 0;
  std::size_t out = 0;
  std::vector<float> weights;  // out x in, row-major (one row per output channel)
  std::vector<float> bias;     // out
};

// The per-feature centring and scaling a model was trained with: the model reads raw
// features and standardizes them itself (container op kStandardize). Empty: the model reads
// its input as it is.
struct Standardization {
  std::vector<float> mean;     // one per input feature
  std::vector<float> inv_std;  // one per input feature, finite and > 0
  bool empty() const { return mean.empty(); }
};

// kInvalidValue unless `s` is empty or holds `width` finite means and finite positive
// inverse stddevs.
Status check_standardization(const Standardization& s, std::size_t width);

// (x - mean) * inv_std per feature; x itself when `s` is empty. Sizes are the caller's to
// check (check_standardization).
std::vector<float> standardized(const Standardization& s, std::span<const float> x);

// Dense layers with ReLU between them and none after the last; layers[0].in ==
// layers.back().out, because the model's score is how badly it reconstructs its
// (standardized) input.
struct FloatAutoencoder {
  Standardization standardization;
  std::vector<DenseLayer> layers;
};

// The most layers a container can hold: each layer adds weights, bias and output tensors, a
// ReLU output and two ops (the last layer one tensor and one op less), next to the input,
// its quantized copy, the score and the quantize and reconstruction-error ops.
inline constexpr std::size_t kMaxLayers =
    std::min((container::kMaxTensors - 2) / 4, (container::kMaxOps - 1) / 2);
// A tensor dimension is a u16 in the container.
inline constexpr std::size_t kMaxWidth = 0xffff;

// Why `widths` (input, hidden..., output) cannot describe an autoencoder the container can
// hold, in words for an operator; empty when they can. The one place these rules live:
// random_autoencoder and pack_autoencoder refuse what it refuses.
std::string_view shape_problem(std::span<const std::size_t> widths);

// The float model's score for one input: mean squared error between x and the model's
// reconstruction of it (the runtime's reconstruction_error op, without quantization).
// Errors: kInvalidValue when the model's shapes or standardization are inconsistent,
// kSizeMismatch when x.size() != layers[0].in.
Result<float> reconstruction_error(const FloatAutoencoder& model, std::span<const float> x);

// Activation ranges that fix the int8 scales: the largest |value| of the (standardized)
// input, and of each layer's output before its ReLU (for the last layer: of the
// reconstruction).
struct Calibration {
  float input_max_abs = 0.0f;
  std::vector<float> layer_max_abs;  // one per layer
};

// Ranges observed over `windows`, count x layers[0].in values back to back (a trainer passes
// its training windows here). Ranges are at least kMinRange, so a layer that never fires
// still gets a valid scale. Errors: kInvalidValue when the model's shapes are inconsistent,
// `windows` is empty or holds a non-finite value; kSizeMismatch when its size is not a
// multiple of layers[0].in.
inline constexpr float kMinRange = 1e-6f;
Result<Calibration> calibrate(const FloatAutoencoder& model, std::span<const float> windows);

// `count` x `width` standard-normal values clipped to +-kNoiseClip, from std::mt19937(seed):
// stand-in feature windows for models that have no data (benchmark and test inputs).
inline constexpr float kNoiseClip = 4.0f;
std::vector<float> noise_windows(std::size_t count, std::size_t width, std::uint32_t seed);

// A model with seeded random weights, calibrated on noise, for benchmarks, tests and
// spindle-make-model until the trainer exists. One std::mt19937(seed) stream draws, layer by
// layer, He-uniform weights (limit sqrt(6 / in)) then biases uniform in [-0.1, 0.1], and
// then `calibration_windows` noise windows (as noise_windows) for calibrate(); the input range
// is set to kNoiseClip, the bound of the noise, rather than to the largest value drawn. So a
// seed fixes model and calibration together. Deterministic for a given standard library (the
// distributions are implementation-defined). The seed is 32 bits because that is what
// mt19937 takes; a wider one would alias.
// Errors: kInvalidValue when shape_problem(widths) is not empty, or calibration_windows is 0
// or so large that the windows could not be counted.
inline constexpr std::size_t kNoiseCalibrationWindows = 256;
struct RandomAutoencoder {
  FloatAutoencoder model;
  Calibration calibration;
};
Result<RandomAutoencoder> random_autoencoder(
    std::span<const std::size_t> widths, std::uint32_t seed,
    std::size_t calibration_windows = kNoiseCalibrationWindows);

struct PackedAutoencoder {
  // The container, canonical form, header arena_bytes filled in.
  std::vector<std::uint8_t> container;
  // The input model with every weight and bias replaced by the value its int8/int32 code
  // stands for: a float baseline that runs exactly the weights the container holds.
  FloatAutoencoder dequantized;
  // = the header's arena_bytes: inference::required_arena_bytes(container), int8 path.
  std::uint32_t arena_bytes = 0;
};

// Quantizes and packs the model, then loads the result in an inference::Interpreter with
// exactly arena_bytes of arena, so it never returns a model the node's runtime refuses.
// Deterministic: equal inputs give equal bytes. A channel whose bias would not fit the int32
// accumulator at row max / 127 (a dead unit whose weights decayed to ~0) gets the coarser
// weight scale that makes it fit (see channel_scale in autoencoder.cpp).
// On failure `problem` (when given) says why, for an operator: naming the layer and unit,
// e.g. "layer 3 of 4 (dense 8->24), unit 5 of 24: bias -3e+38 does not fit int32 at input
// scale 7.87e-12 with any float weight scale".
// Errors:
//  kInvalidValue  inconsistent shapes (weights or bias size vs in/out, one layer's in vs the
//                 previous layer's out, anything shape_problem refuses); a non-finite weight
//                 or bias; layer_max_abs not one entry per layer; a calibration range
//                 that is not finite and > 0; a bias too large for int32 at any float
//                 weight scale of its channel
//  kOversize      a container over 4 GiB
//  other          ContainerBuilder, required_arena_bytes and Interpreter::load errors
Result<PackedAutoencoder> pack_autoencoder(const FloatAutoencoder& model,
                                           const Calibration& calibration,
                                           std::string* problem = nullptr);

}  // namespace spindle::modelkit
