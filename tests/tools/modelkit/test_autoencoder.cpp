// spindle::modelkit: a packed autoencoder is a container the parser and the node's runtime
// accept as they are, scores like the float model it came from, and is reproducible; bad
// shapes and calibrations are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "spindle/inference/arena.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::modelkit {
namespace {

using container::OpCode;

constexpr std::array<std::size_t, 5> kWidths = {45, 16, 8, 16, 45};
constexpr std::uint32_t kSeed = 1;

RandomAutoencoder random_model(std::span<const std::size_t> widths = kWidths,
                               std::uint32_t seed = kSeed) {
  auto random = random_autoencoder(widths, seed);
  EXPECT_TRUE(random.ok()) << random.status().name();
  return std::move(random).value();
}

PackedAutoencoder packed_model(std::span<const std::size_t> widths = kWidths,
                               std::uint32_t seed = kSeed) {
  const RandomAutoencoder random = random_model(widths, seed);
  auto packed = pack_autoencoder(random.model, random.calibration);
  EXPECT_TRUE(packed.ok()) << packed.status().name();
  return std::move(packed).value();
}

double relative_difference(float value, float expected) {
  return std::abs(static_cast<double>(value) - static_cast<double>(expected)) /
         static_cast<double>(expected);
}

// `size` bytes on an Arena::kAlignment boundary, the arena the runtime is specified for.
class AlignedArena {
 public:
  explicit AlignedArena(std::size_t size) : storage_(size + inference::Arena::kAlignment) {
    void* start = storage_.data();
    std::size_t space = storage_.size();
    bytes_ = {
        static_cast<std::uint8_t*>(std::align(inference::Arena::kAlignment, size, start, space)),
        size};
  }
  std::span<std::uint8_t> bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> storage_;
  std::span<std::uint8_t> bytes_;
};

TEST(ModelkitAutoencoder, PackedModelParsesAsTheGraphItDescribes) {
  const PackedAutoencoder packed = packed_model();
  const auto view = container::parse_container(packed.container);
  ASSERT_TRUE(view.ok()) << view.status().name();
  const container::Header& header = view->header();
  EXPECT_EQ(header.model_kind, container::ModelKind::kAutoencoder);
  EXPECT_EQ(header.total_size, packed.container.size());
  // 4 layers: quantize, 4 FC, 3 ReLU, reconstruction error.
  EXPECT_EQ(header.op_count, 9);
  const std::uint32_t expected_ops = (1u << static_cast<int>(OpCode::kQuantize)) |
                                     (1u << static_cast<int>(OpCode::kFullyConnected)) |
                                     (1u << static_cast<int>(OpCode::kRelu)) |
                                     (1u << static_cast<int>(OpCode::kReconstructionError));
  EXPECT_EQ(view->op_set(), expected_ops);
  const container::Tensor input = *view->tensor(header.input_tensor);
  EXPECT_EQ(input.type, container::ElementType::kFloat32);
  EXPECT_EQ(input.element_count(), 45u);
  EXPECT_EQ(view->tensor(header.output_tensor)->element_count(), 1u);
  // The packer's arena figure is the runtime's, and it is in the header.
  const auto required = inference::required_arena_bytes(packed.container);
  ASSERT_TRUE(required.ok());
  EXPECT_GT(*required, 0u);
  EXPECT_EQ(header.arena_bytes, *required);
  EXPECT_EQ(packed.arena_bytes, *required);
}

TEST(ModelkitAutoencoder, LoadsWithExactlyTheHeaderArenaBytes) {
  const PackedAutoencoder packed = packed_model();
  const std::uint32_t arena_bytes = container::parse_container(packed.container)->arena_bytes();

  AlignedArena exact(arena_bytes);
  inference::Interpreter interpreter;
  ASSERT_EQ(interpreter.load(packed.container, exact.bytes()), kOk);
  EXPECT_EQ(interpreter.input_size(), 45u);
  const std::vector<float> x = noise_windows(1, 45, 3);
  float score = -1.0f;
  ASSERT_EQ(interpreter.invoke(x, &score), kOk);
  EXPECT_GT(score, 0.0f);

  AlignedArena short_by_one(arena_bytes - 1);
  inference::Interpreter refused;
  EXPECT_EQ(refused.load(packed.container, short_by_one.bytes()), Status(Error::kDoesNotFit));
}

// The int8 score against the float model's reconstruction error, on inputs the calibration
// covered (outside it int8 saturates by design, as TFLite Micro's does). Measured over 50
// seeds of this shape: worst window 8.5 %, mean 1.4 %; the bounds leave room for other
// standard libraries' random numbers.
TEST(ModelkitAutoencoder, Int8ScoreTracksTheFloatReconstructionError) {
  constexpr double kWorstWindow = 0.12;
  constexpr double kMean = 0.03;
  constexpr std::size_t kWindows = 200;
  const std::vector<float> windows = noise_windows(kWindows, 45, 7);
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(seed);
    const RandomAutoencoder random = random_model(kWidths, seed);
    const auto calibration = calibrate(random.model, windows);
    ASSERT_TRUE(calibration.ok());
    const auto packed = pack_autoencoder(random.model, *calibration);
    ASSERT_TRUE(packed.ok());
    AlignedArena arena(packed->arena_bytes);
    inference::Interpreter interpreter;
    ASSERT_EQ(interpreter.load(packed->container, arena.bytes()), kOk);

    double worst = 0;
    double sum = 0;
    for (std::size_t n = 0; n < kWindows; ++n) {
      const std::span<const float> x = std::span(windows).subspan(n * 45, 45);
      float score = 0;
      ASSERT_EQ(interpreter.invoke(x, &score), kOk);
      const double difference = relative_difference(score, *reconstruction_error(random.model, x));
      worst = std::max(worst, difference);
      sum += difference;
    }
    EXPECT_LE(worst, kWorstWindow);
    EXPECT_LE(sum / kWindows, kMean);
  }
}

// The dequantized model is what the container holds, biases included: the runtime's float
// reference path, which runs the container's constants without rounding activations, scores
// like it. Inputs at half the noise amplitude keep every activation inside its calibrated
// range, where the reference path does not saturate.
TEST(ModelkitAutoencoder, DequantizedModelIsTheContainersConstants) {
  std::vector<float> windows = noise_windows(50, 45, 11);
  for (float& v : windows)
    v *= 0.5f;
  for (std::uint32_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    const PackedAutoencoder packed = packed_model(kWidths, seed);
    const auto required =
        inference::required_arena_bytes(packed.container, inference::Arithmetic::kFloatReference);
    ASSERT_TRUE(required.ok());
    AlignedArena arena(*required);
    inference::Interpreter reference;
    ASSERT_EQ(
        reference.load(packed.container, arena.bytes(), inference::Arithmetic::kFloatReference),
        kOk);
    for (std::size_t n = 0; n < 50; ++n) {
      const std::span<const float> x = std::span(windows).subspan(n * 45, 45);
      float score = 0;
      ASSERT_EQ(reference.invoke(x, &score), kOk);
      EXPECT_LE(relative_difference(score, *reconstruction_error(packed.dequantized, x)), 1e-5);
    }
  }
}

TEST(ModelkitAutoencoder, DequantizedWeightsAreWithinHalfAStepOfTheOriginals) {
  const RandomAutoencoder random = random_model();
  const PackedAutoencoder packed = *pack_autoencoder(random.model, random.calibration);
  ASSERT_EQ(packed.dequantized.layers.size(), random.model.layers.size());
  for (std::size_t l = 0; l < random.model.layers.size(); ++l) {
    const DenseLayer& original = random.model.layers[l];
    const DenseLayer& dequantized = packed.dequantized.layers[l];
    for (std::size_t c = 0; c < original.out; ++c) {
      const auto row = std::span(original.weights).subspan(c * original.in, original.in);
      float row_max = 0;
      for (const float w : row)
        row_max = std::max(row_max, std::abs(w));
      const float half_step = row_max / 127.0f / 2.0f * 1.001f;
      for (std::size_t i = 0; i < original.in; ++i)
        EXPECT_LE(std::abs(dequantized.weights[c * original.in + i] - row[i]), half_step);
    }
  }
}

TEST(ModelkitAutoencoder, SameSeedGivesTheSameBytes) {
  EXPECT_EQ(packed_model().container, packed_model().container);
  EXPECT_NE(packed_model(kWidths, 1).container, packed_model(kWidths, 2).container);
}

TEST(ModelkitAutoencoder, TheLargestGraphTheContainerHoldsPacksAndLoads) {
  std::vector<std::size_t> widths(kMaxLayers + 1, 8);
  const PackedAutoencoder packed = packed_model(widths);
  AlignedArena arena(packed.arena_bytes);
  inference::Interpreter interpreter;
  EXPECT_EQ(interpreter.load(packed.container, arena.bytes()), kOk);
}

TEST(ModelkitAutoencoder, StandardizedModelScoresRawFeaturesLikeTheFloatModel) {
  // Raw features of very different ranges; the model standardizes them itself.
  RandomAutoencoder random = random_model();
  Standardization& s = random.model.standardization;
  for (std::size_t i = 0; i < kWidths[0]; ++i) {
    s.mean.push_back(100.0f * static_cast<float>(i % 5) - 60.0f);
    s.inv_std.push_back(1.0f / (0.01f + 10.0f * static_cast<float>(i % 3)));
  }
  std::vector<float> windows = noise_windows(64, kWidths[0], 9);
  for (std::size_t k = 0; k < windows.size(); ++k) {  // back to raw units
    const std::size_t i = k % kWidths[0];
    windows[k] = windows[k] / s.inv_std[i] + s.mean[i];
  }
  const auto calibration = calibrate(random.model, windows);
  ASSERT_TRUE(calibration.ok());
  EXPECT_LE(calibration->input_max_abs, kNoiseClip + 1e-3f);  // measured after standardizing
  const auto packed = pack_autoencoder(random.model, *calibration);
  ASSERT_TRUE(packed.ok()) << packed.status().name();
  const auto view = container::parse_container(packed->container);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->op(0)->code, OpCode::kStandardize);

  AlignedArena arena(packed->arena_bytes);
  inference::Interpreter interpreter;
  ASSERT_EQ(interpreter.load(packed->container, arena.bytes()), kOk);
  for (std::size_t w = 0; w < 64; ++w) {
    const std::span<const float> x(windows.data() + w * kWidths[0], kWidths[0]);
    float int8 = 0.0f;
    ASSERT_EQ(interpreter.invoke(x, &int8), kOk);
    const float real = *reconstruction_error(packed->dequantized, x);
    EXPECT_LT(relative_difference(int8, real), 0.1) << w;
  }
}

TEST(ModelkitAutoencoder, RefusesAStandardizationOfAnotherWidthOrWithoutScale) {
  RandomAutoencoder random = random_model();
  random.model.standardization = {std::vector<float>(44, 0.0f), std::vector<float>(44, 1.0f)};
  EXPECT_EQ(pack_autoencoder(random.model, random.calibration).status(), Error::kInvalidValue);
  random.model.standardization = {std::vector<float>(45, 0.0f), std::vector<float>(45, 0.0f)};
  EXPECT_EQ(pack_autoencoder(random.model, random.calibration).status(), Error::kInvalidValue);
}

TEST(ModelkitAutoencoder, RefusesWidthsThatAreNotAnAutoencoder) {
  const std::vector<std::vector<std::size_t>> bad = {
      {},                                           // nothing
      {45},                                         // no layer
      {45, 0, 45},                                  // empty layer
      {45, 16, 44},                                 // does not reconstruct its input
      {70000, 16, 70000},                           // wider than a u16 dimension
      std::vector<std::size_t>(kMaxLayers + 2, 8),  // more layers than the container holds
  };
  for (const auto& widths : bad) {
    EXPECT_FALSE(shape_problem(widths).empty());
    EXPECT_EQ(random_autoencoder(widths, kSeed).status(), Status(Error::kInvalidValue));
  }
  EXPECT_TRUE(shape_problem(kWidths).empty());
  EXPECT_EQ(random_autoencoder(kWidths, kSeed, 0).status(), Status(Error::kInvalidValue));
}

TEST(ModelkitAutoencoder, PackRefusesInconsistentModels) {
  const RandomAutoencoder good = random_model();
  // Refused, and with a reason for the operator.
  const auto refused = [&](const FloatAutoencoder& model, const Calibration& calibration) {
    std::string problem;
    return pack_autoencoder(model, calibration, &problem).status() ==
               Status(Error::kInvalidValue) &&
           !problem.empty();
  };
  {
    FloatAutoencoder model = good.model;
    model.layers[1].weights.pop_back();
    EXPECT_TRUE(refused(model, good.calibration)) << "weights shorter than out x in";
  }
  {
    FloatAutoencoder model = good.model;
    model.layers[2].bias.push_back(0.0f);
    EXPECT_TRUE(refused(model, good.calibration)) << "one bias too many";
  }
  {
    FloatAutoencoder model = good.model;
    model.layers.erase(model.layers.begin() + 1);  // 45 -> 16, then 8 -> 16
    Calibration calibration = good.calibration;
    calibration.layer_max_abs.pop_back();
    EXPECT_TRUE(refused(model, calibration)) << "a layer's in is not the previous out";
  }
  {
    FloatAutoencoder model = good.model;
    model.layers[0].weights[3] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(refused(model, good.calibration)) << "NaN weight";
  }
  EXPECT_TRUE(refused(FloatAutoencoder{}, good.calibration)) << "no layers";
  {
    Calibration calibration = good.calibration;
    calibration.layer_max_abs.pop_back();
    EXPECT_TRUE(refused(good.model, calibration)) << "a layer's range missing";
  }
  {
    Calibration calibration = good.calibration;
    calibration.layer_max_abs[0] = 0.0f;
    EXPECT_TRUE(refused(good.model, calibration)) << "zero range";
  }
  {
    Calibration calibration = good.calibration;
    calibration.input_max_abs = std::numeric_limits<float>::infinity();
    EXPECT_TRUE(refused(good.model, calibration)) << "infinite input range";
  }
}

// A unit that never fires stops learning, and weight decay shrinks its weights toward zero
// while it keeps its bias: in a trained 45-24-8-24-45 model (spindle-train fit --seed 22 on
// 8 speeds x 300 windows) a row max below 1e-12 with a bias of -0.03, which at a weight scale
// of row max / 127 is -1e14 in int32 units and was refused. Here one such unit with a
// positive bias (a constant the next layer reads) and one that is dead.
TEST(ModelkitAutoencoder, PacksUnitsWhoseWeightsDecayedToZeroAndScoresLikeTheFloatModel) {
  constexpr double kWorstWindow = 0.12;  // as Int8ScoreTracksTheFloatReconstructionError
  constexpr double kMean = 0.03;
  constexpr std::size_t kWindows = 200;
  RandomAutoencoder random = random_model();
  DenseLayer& layer = random.model.layers[1];  // 16 -> 8, after a ReLU
  const std::size_t constant = 2;
  const std::size_t dead = 5;
  for (std::size_t i = 0; i < layer.in; ++i) {
    const float tiny = (i % 2 == 0 ? 1.0f : -1.0f) * 1e-13f;
    layer.weights[constant * layer.in + i] = tiny;
    layer.weights[dead * layer.in + i] = tiny;
  }
  layer.bias[constant] = 0.8f;
  layer.bias[dead] = -0.5f;
  const std::vector<float> windows = noise_windows(kWindows, 45, 7);
  const auto calibration = calibrate(random.model, windows);
  ASSERT_TRUE(calibration.ok());
  std::string problem;
  const auto packed = pack_autoencoder(random.model, *calibration, &problem);
  ASSERT_TRUE(packed.ok()) << problem;

  // The biases survive quantization (31 bits), the weights round to 0.
  const DenseLayer& dequantized = packed->dequantized.layers[1];
  for (const std::size_t c : {constant, dead}) {
    EXPECT_NEAR(dequantized.bias[c], layer.bias[c], 1e-6f * std::abs(layer.bias[c]));
    for (std::size_t i = 0; i < layer.in; ++i)
      EXPECT_EQ(dequantized.weights[c * layer.in + i], 0.0f);
  }
  AlignedArena arena(packed->arena_bytes);
  inference::Interpreter interpreter;
  ASSERT_EQ(interpreter.load(packed->container, arena.bytes()), kOk);
  double worst = 0;
  double sum = 0;
  for (std::size_t n = 0; n < kWindows; ++n) {
    const std::span<const float> x = std::span(windows).subspan(n * 45, 45);
    float score = 0;
    ASSERT_EQ(interpreter.invoke(x, &score), kOk);
    const double difference = relative_difference(score, *reconstruction_error(random.model, x));
    worst = std::max(worst, difference);
    sum += difference;
  }
  EXPECT_LE(worst, kWorstWindow);
  EXPECT_LE(sum / kWindows, kMean);
}

// What no weight scale can save is refused, naming the layer and unit: a bias of 3e38 over
// an input step of 4e-33 is beyond any float weight scale's int32 range.
TEST(ModelkitAutoencoder, RefusesABiasNoWeightScaleFitsNamingLayerAndUnit) {
  RandomAutoencoder random = random_model();
  random.model.layers[2].bias[4] = 3e38f;        // 8 -> 16, unit 5 of 16
  random.calibration.layer_max_abs[1] = 1e-30f;  // its input: layer 2's ReLU, step 4e-33
  std::string problem;
  EXPECT_EQ(pack_autoencoder(random.model, random.calibration, &problem).status(),
            Status(Error::kInvalidValue));
  EXPECT_NE(problem.find("layer 3 of 4 (dense 8->16), unit 5 of 16: bias 3e+38"), std::string::npos)
      << problem;
  EXPECT_NE(problem.find("does not fit int32"), std::string::npos) << problem;
}

TEST(ModelkitAutoencoder, CalibrateMeasuresRangesAndRefusesBadWindows) {
  const RandomAutoencoder random = random_model();
  std::vector<float> windows = noise_windows(10, 45, 5);
  windows[17] = -5.5f;
  const auto calibration = calibrate(random.model, windows);
  ASSERT_TRUE(calibration.ok());
  EXPECT_EQ(calibration->input_max_abs, 5.5f);
  EXPECT_EQ(calibration->layer_max_abs.size(), 4u);

  EXPECT_EQ(calibrate(random.model, {}).status(), Status(Error::kInvalidValue));
  windows.pop_back();
  EXPECT_EQ(calibrate(random.model, windows).status(), Status(Error::kSizeMismatch));
  windows.resize(45);
  windows[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(calibrate(random.model, windows).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(reconstruction_error(random.model, std::span(windows).first(44)).status(),
            Status(Error::kSizeMismatch));
}

}  // namespace
}  // namespace spindle::modelkit
