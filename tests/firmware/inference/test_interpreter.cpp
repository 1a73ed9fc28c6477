#include "spindle/inference/interpreter.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using container::DistanceMetric;
using container::ElementType;
using container::ModelKind;
using container::ReconstructionMetric;
using container::TensorSpec;
using test::ArenaBuffer;
using test::Bytes;

// ---- Models ----

// quantize -> FC (per-channel) -> ReLU -> FC (per-tensor) -> reconstruction error(xq, y).
// The weights follow simple formulas so that an independent Python model of TFLite's
// arithmetic computes the same network (the golden self-test vectors below).
struct Autoencoder {
  enum : std::uint8_t { kX, kXq, kW1, kB1, kH, kHr, kW2, kB2, kY, kScore, kTensorCount };

  std::array<std::int8_t, 32> w1{};
  std::array<float, 4> w1_scales = {0.001f, 0.002f, 0.003f, 0.004f};
  std::array<std::int32_t, 4> b1 = {100, -200, 300, -400};
  std::array<std::int8_t, 32> w2{};
  std::array<std::int32_t, 8> b2 = {1, 2, 3, 4, 5, 6, 7, 8};
  Bytes w1_bytes, b1_bytes, w2_bytes, b2_bytes;
  std::array<TensorSpec, kTensorCount> tensors;
  std::vector<container::Op> ops;
  ReconstructionMetric metric = ReconstructionMetric::kMeanSquaredError;

  Autoencoder() {
    for (std::size_t i = 0; i < 32; ++i) {
      w1[i] = static_cast<std::int8_t>(static_cast<int>(i * 7 % 255) - 127);
      w2[i] = static_cast<std::int8_t>(static_cast<int>(i * 13 % 255) - 127);
    }
    w1_bytes = test::int8_bytes(w1);
    b1_bytes = test::int32_bytes(b1);
    w2_bytes = test::int8_bytes(w2);
    b2_bytes = test::int32_bytes(b2);
    tensors[kX] = {ElementType::kFloat32, 2, {1, 8, 0, 0}, 0, 0.0f, {}, {}};
    tensors[kXq] = {ElementType::kInt8, 2, {1, 8, 0, 0}, -5, 0.05f, {}, {}};
    tensors[kW1] = {ElementType::kInt8, 2, {4, 8, 0, 0}, 0, 0.0f, w1_bytes, w1_scales};
    tensors[kB1] = {ElementType::kInt32, 1, {4, 0, 0, 0}, 0, 0.00005f, b1_bytes, {}};
    tensors[kH] = {ElementType::kInt8, 2, {1, 4, 0, 0}, 3, 0.02f, {}, {}};
    tensors[kHr] = {ElementType::kInt8, 2, {1, 4, 0, 0}, -128, 0.02f, {}, {}};
    tensors[kW2] = {ElementType::kInt8, 2, {8, 4, 0, 0}, 0, 0.01f, w2_bytes, {}};
    tensors[kB2] = {ElementType::kInt32, 1, {8, 0, 0, 0}, 0, 0.0002f, b2_bytes, {}};
    tensors[kY] = {ElementType::kInt8, 2, {1, 8, 0, 0}, -5, 0.05f, {}, {}};
    tensors[kScore] = {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}};
  }

  Bytes build() {
    ops = {container::quantize(kX, kXq), container::fully_connected(kXq, kW1, kB1, kH),
           container::relu(kH, kHr), container::fully_connected(kHr, kW2, kB2, kY),
           container::reconstruction_error(kXq, kY, kScore, metric)};
    return test::build_container(tensors, ops, {ModelKind::kAutoencoder, kX, kScore, 0});
  }
};

// x float [4] -> quantize -> nearest of three int8 centroids, one scale per centroid.
struct CentroidModel {
  std::array<std::int8_t, 12> centroids = {10, 20, -30, 40, -100, 0, 100, 50, 1, 2, 3, 4};
  std::array<float, 3> scales = {0.05f, 0.02f, 0.5f};
  Bytes centroid_bytes = test::int8_bytes(centroids);
  std::array<TensorSpec, 4> tensors = {{
      {ElementType::kFloat32, 1, {4, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kInt8, 1, {4, 0, 0, 0}, -3, 0.04f, {}, {}},
      {ElementType::kInt8, 2, {3, 4, 0, 0}, 2, 0.0f, centroid_bytes, scales},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  DistanceMetric metric = DistanceMetric::kEuclidean;

  Bytes build() const {
    const std::array<container::Op, 2> ops = {container::quantize(0, 1),
                                              container::nearest_centroid(1, 2, 3, metric)};
    return test::build_container(tensors, ops, {ModelKind::kCentroid, 0, 3, 0});
  }
};

// x float [3] -> standardize -> quantize -> nearest of two int8 centroids: raw features of
// very different ranges (Hz, dB, a ratio) scored in standardized units.
struct StandardizedCentroidModel {
  Bytes params = test::float_bytes(std::vector<float>{500, -60, 3, 0.01f, 0.5f, 2});
  std::array<std::int8_t, 6> centroids = {0, 0, 0, 50, -50, 25};
  Bytes centroid_bytes = test::int8_bytes(centroids);
  std::array<TensorSpec, 6> tensors = {{
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kFloat32, 2, {2, 3, 0, 0}, 0, 0.0f, params, {}},
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kInt8, 1, {3, 0, 0, 0}, 0, 0.04f, {}, {}},
      {ElementType::kInt8, 2, {2, 3, 0, 0}, 0, 0.04f, centroid_bytes, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  Bytes build() const {
    const std::array<container::Op, 3> ops = {
        container::standardize(0, 1, 2), container::quantize(2, 3),
        container::nearest_centroid(3, 4, 5, DistanceMetric::kSquaredEuclidean)};
    return test::build_container(tensors, ops, {ModelKind::kCentroid, 0, 5, 0});
  }
};

// A centroid model that stays in float: no int8 entry at all.
struct FloatCentroidModel {
  Bytes centroid_bytes = test::float_bytes(std::vector<float>{0, 0, 0, 1, 1, 1});
  std::array<TensorSpec, 3> tensors = {{
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kFloat32, 2, {2, 3, 0, 0}, 0, 0.0f, centroid_bytes, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  Bytes build() const {
    const std::array<container::Op, 1> ops = {
        container::nearest_centroid(0, 1, 2, DistanceMetric::kSquaredEuclidean)};
    return test::build_container(tensors, ops, {ModelKind::kCentroid, 0, 2, 0});
  }
};

// The real values the autoencoder's int8 input stands for.
std::vector<float> dequantized(std::span<const std::int8_t> q) {
  std::vector<float> out;
  for (const std::int8_t v : q)
    out.push_back(0.05f * static_cast<float>(v + 5));
  return out;
}

// Keeps a container and loads it into an arena of exactly the size it needs (the
// interpreter reads weights in place, so the bytes must outlive it).
struct Loaded {
  explicit Loaded(Bytes bytes, Arithmetic arithmetic = Arithmetic::kInt8)
      : model(std::move(bytes)), buffer(*required_arena_bytes(model, arithmetic)) {
    status = interpreter.load(model, buffer.span(), arithmetic);
  }
  Bytes model;
  ArenaBuffer buffer;
  Interpreter interpreter;
  Status status;
};

const std::array<std::int8_t, 8> kSelfTestInput = {-128, -60, -5, 0, 20, 60, 100, 127};
const std::array<std::int8_t, 8> kSelfTestOutput = {-89, -43, 4, 50, 96, -85, -38, 8};
const std::array<std::int8_t, 8> kSelfTestInput2 = {10, -10, 30, -30, 50, -50, 70, -70};
const std::array<std::int8_t, 8> kSelfTestOutput2 = {-9, -7, -4, -2, 0, -9, -6, -4};

// ---- Whole graphs ----

TEST(Interpreter, AutoencoderReproducesGoldenSelfTestVectorsBitExactly) {
  Autoencoder ae;
  Loaded loaded(ae.build());
  ASSERT_TRUE(loaded.status.ok()) << loaded.status.name();
  Interpreter& interpreter = loaded.interpreter;
  ASSERT_EQ(interpreter.int8_input_size(), 8u);
  ASSERT_EQ(interpreter.int8_output_size(), 8u);

  float score = -1.0f;
  ASSERT_TRUE(interpreter.invoke_int8(kSelfTestInput, &score).ok());
  EXPECT_TRUE(std::ranges::equal(interpreter.int8_output(), kSelfTestOutput));
  // The score is the MSE between the input and that output, at scale 0.05.
  double sum = 0;
  for (std::size_t i = 0; i < 8; ++i)
    sum += std::pow(0.05 * (kSelfTestInput[i] - kSelfTestOutput[i]), 2);
  EXPECT_FLOAT_EQ(score, static_cast<float>(sum / 8));

  ASSERT_TRUE(interpreter.invoke_int8(kSelfTestInput2).ok());
  EXPECT_TRUE(std::ranges::equal(interpreter.int8_output(), kSelfTestOutput2));
}

TEST(Interpreter, FloatInvokeOfTheDequantizedVectorEqualsTheInt8Entry) {
  Autoencoder ae;
  Loaded loaded(ae.build());
  ASSERT_TRUE(loaded.status.ok());
  float from_floats = 0;
  float from_int8 = 0;
  ASSERT_TRUE(loaded.interpreter.invoke(dequantized(kSelfTestInput), &from_floats).ok());
  EXPECT_TRUE(std::ranges::equal(loaded.interpreter.int8_output(), kSelfTestOutput));
  ASSERT_TRUE(loaded.interpreter.invoke_int8(kSelfTestInput, &from_int8).ok());
  EXPECT_EQ(from_floats, from_int8);
}

TEST(Interpreter, AutoencoderScoreIsCloseToTheFloatReference) {
  Autoencoder ae;
  const Bytes model = ae.build();
  Loaded int8(model);
  Loaded reference(model, Arithmetic::kFloatReference);
  ASSERT_TRUE(int8.status.ok() && reference.status.ok());

  std::mt19937 rng(42);
  std::uniform_real_distribution<float> feature(-6.0f, 6.0f);
  for (int window = 0; window < 200; ++window) {
    std::vector<float> x(8);
    for (float& v : x)
      v = feature(rng);
    float q_score = 0;
    float f_score = 0;
    ASSERT_TRUE(int8.interpreter.invoke(x, &q_score).ok());
    ASSERT_TRUE(reference.interpreter.invoke(x, &f_score).ok());

    // Each reconstructed value is within a few output LSBs of the float network: rounding of
    // x (½ LSB) and of the hidden layer (½ LSB each) carried through the weights.
    const std::span<const float> y_ref = reference.interpreter.reference_values(Autoencoder::kY);
    const std::span<const std::int8_t> y = int8.interpreter.int8_output();
    ASSERT_EQ(y_ref.size(), 8u);
    double y_error = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      const double diff = 0.05 * (y[i] + 5) - static_cast<double>(y_ref[i]);
      EXPECT_LE(std::abs(diff), 3 * 0.05) << window << " " << i;
      y_error += diff * diff;
    }
    // Triangle inequality on the RMS norm: |√mse_int8 − √mse_float| ≤ RMS of the input's
    // rounding (≤ ½ LSB) plus RMS of the reconstruction's error.
    const double bound = 0.5 * 0.05 + std::sqrt(y_error / 8) + 1e-6;
    EXPECT_LE(std::abs(std::sqrt(q_score) - std::sqrt(f_score)), bound) << window;
  }
}

TEST(Interpreter, PerfectAutoencoderScoresZero) {
  // y = x through an identity layer: weights 127 on the diagonal at scale 1/127, output
  // quantized like the input.
  std::array<std::int8_t, 36> identity{};
  for (std::size_t i = 0; i < 6; ++i)
    identity[i * 6 + i] = 127;
  const Bytes w = test::int8_bytes(identity);
  const Bytes b = test::int32_bytes(std::vector<std::int32_t>(6, 0));
  const std::array<TensorSpec, 6> tensors = {{
      {ElementType::kFloat32, 1, {6, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kInt8, 1, {6, 0, 0, 0}, 7, 0.03f, {}, {}},
      {ElementType::kInt8, 2, {6, 6, 0, 0}, 0, 1.0f / 127, w, {}},
      {ElementType::kInt32, 1, {6, 0, 0, 0}, 0, 0.03f / 127, b, {}},
      {ElementType::kInt8, 1, {6, 0, 0, 0}, 7, 0.03f, {}, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  for (const auto metric :
       {ReconstructionMetric::kMeanSquaredError, ReconstructionMetric::kMeanAbsoluteError}) {
    const std::array<container::Op, 3> ops = {container::quantize(0, 1),
                                              container::fully_connected(1, 2, 3, 4),
                                              container::reconstruction_error(1, 4, 5, metric)};
    const Bytes model = test::build_container(tensors, ops, {ModelKind::kAutoencoder, 0, 5, 0});
    Loaded int8(model);
    Loaded reference(model, Arithmetic::kFloatReference);
    ASSERT_TRUE(int8.status.ok() && reference.status.ok());
    const std::vector<float> x = {-3.9f, -1.0f, 0.0f, 0.01f, 1.7f, 3.3f};
    float score = -1;
    ASSERT_TRUE(int8.interpreter.invoke(x, &score).ok());
    EXPECT_EQ(score, 0.0f);
    ASSERT_TRUE(reference.interpreter.invoke(x, &score).ok());
    EXPECT_NEAR(score, 0.0f, 1e-10f);
  }
}

TEST(Interpreter, CentroidScoreIsCloseToTheFloatReference) {
  for (const DistanceMetric metric :
       {DistanceMetric::kSquaredEuclidean, DistanceMetric::kEuclidean}) {
    CentroidModel cm;
    cm.metric = metric;
    const Bytes model = cm.build();
    Loaded int8(model);
    Loaded reference(model, Arithmetic::kFloatReference);
    ASSERT_TRUE(int8.status.ok() && reference.status.ok());
    EXPECT_EQ(int8.interpreter.model().header().model_kind, ModelKind::kCentroid);

    std::mt19937 rng(8);
    std::uniform_real_distribution<float> feature(-4.0f, 4.0f);
    for (int window = 0; window < 100; ++window) {
      std::vector<float> x(4);
      for (float& v : x)
        v = feature(rng);
      float q = 0;
      float f = 0;
      ASSERT_TRUE(int8.interpreter.invoke(x, &q).ok());
      ASSERT_TRUE(reference.interpreter.invoke(x, &f).ok());
      // Only x is rounded (≤ ½ LSB per element), so the distance moves by at most that
      // vector's norm: ½ · 0.04 · √4.
      const auto distance = [&](float s) {
        return metric == DistanceMetric::kEuclidean ? s : std::sqrt(s);
      };
      EXPECT_LE(std::abs(distance(q) - distance(f)), 0.5f * 0.04f * 2.0f + 1e-5f) << window;
    }
  }
}

TEST(Interpreter, StandardizedModelScoresRawFeaturesInStandardUnits) {
  StandardizedCentroidModel sm;
  Loaded loaded(sm.build());
  ASSERT_TRUE(loaded.status.ok()) << loaded.status.name();
  float score = -1;
  // Exactly the means: standardized 0, the first centroid.
  ASSERT_TRUE(loaded.interpreter.invoke(std::vector<float>{500, -60, 3}, &score).ok());
  EXPECT_FLOAT_EQ(score, 0.0f);
  // (2, -2, 1) standard units from the means: the second centroid, also at distance 0.
  ASSERT_TRUE(loaded.interpreter.invoke(std::vector<float>{700, -64, 3.5f}, &score).ok());
  EXPECT_NEAR(score, 0.0f, 1e-6f);
  // One standard unit off on the first feature only.
  ASSERT_TRUE(loaded.interpreter.invoke(std::vector<float>{600, -60, 3}, &score).ok());
  EXPECT_NEAR(score, 1.0f, 1e-6f);
}

TEST(Interpreter, Int8EntryOfAStandardizedModelIsPastStandardizeAndQuantize) {
  StandardizedCentroidModel sm;
  Loaded loaded(sm.build());
  ASSERT_TRUE(loaded.status.ok());
  ASSERT_EQ(loaded.interpreter.int8_input_size(), 3u);
  // The int8 vector (50, -50, 25) is (2, -2, 1) standard units: the second centroid.
  float from_int8 = -1;
  ASSERT_TRUE(
      loaded.interpreter.invoke_int8(std::array<std::int8_t, 3>{50, -50, 25}, &from_int8).ok());
  EXPECT_FLOAT_EQ(from_int8, 0.0f);
  ASSERT_TRUE(
      loaded.interpreter.invoke_int8(std::array<std::int8_t, 3>{25, 0, 0}, &from_int8).ok());
  EXPECT_FLOAT_EQ(from_int8, 1.0f);
  // The raw features that vector stands for score the same through the whole graph.
  float from_floats = -1;
  ASSERT_TRUE(loaded.interpreter.invoke(std::vector<float>{600, -60, 3}, &from_floats).ok());
  EXPECT_EQ(from_floats, from_int8);
}

TEST(Interpreter, RefusesAStandardizeWithAZeroScale) {
  StandardizedCentroidModel sm;
  sm.params = test::float_bytes(std::vector<float>{500, -60, 3, 0.01f, 0.0f, 2});
  sm.tensors[1].data = sm.params;
  Loaded loaded(sm.build());
  EXPECT_EQ(loaded.status, Error::kInvalidValue);
}

TEST(Interpreter, ModelWithAnInt8InputQuantizesTheFeaturesItself) {
  const Bytes centroids = test::float_bytes(std::vector<float>{1.0f, -1.0f});
  const std::array<TensorSpec, 3> tensors = {{
      {ElementType::kInt8, 1, {2, 0, 0, 0}, 2, 0.1f, {}, {}},
      {ElementType::kFloat32, 2, {1, 2, 0, 0}, 0, 0.0f, centroids, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  const std::array<container::Op, 1> ops = {
      container::nearest_centroid(0, 1, 2, DistanceMetric::kSquaredEuclidean)};
  const Bytes model = test::build_container(tensors, ops, {ModelKind::kCentroid, 0, 2, 0});
  Loaded loaded(model);
  ASSERT_TRUE(loaded.status.ok());
  EXPECT_EQ(loaded.interpreter.int8_input_size(), 2u);
  float score = -1;
  // 1.04 quantizes to 10 + 2 (real 1.0); -1.26 to -13 + 2 (real -1.3).
  ASSERT_TRUE(loaded.interpreter.invoke(std::vector<float>{1.04f, -1.26f}, &score).ok());
  EXPECT_NEAR(score, 0.09f, 1e-6f);
  EXPECT_TRUE(
      std::ranges::equal(loaded.interpreter.int8_output(), std::array<std::int8_t, 2>{12, -11}));
  float again = -1;
  ASSERT_TRUE(loaded.interpreter.invoke_int8(std::array<std::int8_t, 2>{12, -11}, &again).ok());
  EXPECT_EQ(again, score);
}

TEST(Interpreter, RepeatedInvokesAreDeterministic) {
  Autoencoder ae;
  Loaded loaded(ae.build());
  ASSERT_TRUE(loaded.status.ok());
  const std::vector<float> a = {0.3f, -2.0f, 1.1f, 0.0f, 4.0f, -4.0f, 2.2f, 0.7f};
  const std::vector<float> b = {-1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f};
  float first_a = 0;
  float first_b = 0;
  ASSERT_TRUE(loaded.interpreter.invoke(a, &first_a).ok());
  ASSERT_TRUE(loaded.interpreter.invoke(b, &first_b).ok());
  EXPECT_NE(first_a, first_b);
  for (int round = 0; round < 5; ++round) {
    float score = 0;
    ASSERT_TRUE(loaded.interpreter.invoke(a, &score).ok());
    EXPECT_EQ(score, first_a);
    ASSERT_TRUE(loaded.interpreter.invoke(b, &score).ok());
    EXPECT_EQ(score, first_b);
  }
  EXPECT_TRUE(loaded.buffer.guards_intact());
}

// ---- Arena sizing ----

TEST(Interpreter, TooSmallArenaFailsWithTheExactSizeItNeeds) {
  Autoencoder ae;
  const Bytes model = ae.build();
  for (const Arithmetic arithmetic : {Arithmetic::kInt8, Arithmetic::kFloatReference}) {
    for (const std::size_t misalignment : {0u, 1u, 7u, 15u}) {
      SCOPED_TRACE(misalignment);
      Interpreter interpreter;
      ArenaBuffer tiny(64, misalignment);
      EXPECT_EQ(interpreter.load(model, tiny.span(), arithmetic), Error::kDoesNotFit);
      EXPECT_FALSE(interpreter.loaded());
      const std::size_t required = interpreter.required_arena_bytes();
      EXPECT_GT(required, 64u);

      ArenaBuffer one_short(required - 1, misalignment);
      EXPECT_EQ(interpreter.load(model, one_short.span(), arithmetic), Error::kDoesNotFit);
      EXPECT_EQ(interpreter.required_arena_bytes(), required);

      ArenaBuffer exact(required, misalignment);
      ASSERT_TRUE(interpreter.load(model, exact.span(), arithmetic).ok());
      EXPECT_EQ(interpreter.required_arena_bytes(), required);
      EXPECT_LE(interpreter.arena_high_water_mark(), required);
      float score = 0;
      ASSERT_TRUE(interpreter.invoke(dequantized(kSelfTestInput), &score).ok());
      EXPECT_LE(interpreter.arena_high_water_mark(), exact.span().size());
      EXPECT_TRUE(exact.guards_intact());
      if (misalignment == 0) {
        EXPECT_EQ(required, *required_arena_bytes(model, arithmetic));
      }
    }
  }
}

TEST(Interpreter, Int8PathNeedsLessArenaThanTheFloatReference) {
  Autoencoder ae;
  const Bytes model = ae.build();
  EXPECT_LT(*required_arena_bytes(model, Arithmetic::kInt8),
            *required_arena_bytes(model, Arithmetic::kFloatReference));
}

// ---- Refusals ----

TEST(Interpreter, InvokeRefusesBadArguments) {
  Interpreter idle;
  float score = 0;
  const std::vector<float> eight(8, 0.0f);
  EXPECT_EQ(idle.invoke(eight, &score), Error::kInvalidState);
  EXPECT_EQ(idle.invoke_int8(kSelfTestInput), Error::kInvalidState);
  EXPECT_TRUE(idle.int8_output().empty());
  EXPECT_EQ(idle.input_size(), 0u);

  Autoencoder ae;
  Loaded loaded(ae.build());
  ASSERT_TRUE(loaded.status.ok());
  Interpreter& interpreter = loaded.interpreter;
  EXPECT_EQ(interpreter.input_size(), 8u);
  EXPECT_EQ(interpreter.invoke(eight, nullptr), Error::kInvalidValue);
  EXPECT_EQ(interpreter.invoke(std::vector<float>(7, 0.0f), &score), Error::kSizeMismatch);
  EXPECT_EQ(interpreter.invoke_int8(std::vector<std::int8_t>(9, 0)), Error::kSizeMismatch);
  std::vector<float> bad = eight;
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(interpreter.invoke(bad, &score), Error::kInvalidValue);
  bad[3] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(interpreter.invoke(bad, &score), Error::kInvalidValue);

  interpreter.unload();
  EXPECT_EQ(interpreter.invoke(eight, &score), Error::kInvalidState);
}

TEST(Interpreter, Int8EntryIsRefusedWhereThereIsNone) {
  Loaded float_only(FloatCentroidModel{}.build());
  ASSERT_TRUE(float_only.status.ok());
  EXPECT_EQ(float_only.interpreter.int8_input_size(), 0u);
  EXPECT_EQ(float_only.interpreter.invoke_int8(std::array<std::int8_t, 3>{}), Error::kWrongType);
  EXPECT_TRUE(float_only.interpreter.int8_output().empty());
  float score = -1;
  ASSERT_TRUE(float_only.interpreter.invoke(std::vector<float>{1, 1, 0}, &score).ok());
  EXPECT_EQ(score, 1.0f);

  Autoencoder ae;
  Loaded reference(ae.build(), Arithmetic::kFloatReference);
  ASSERT_TRUE(reference.status.ok());
  EXPECT_EQ(reference.interpreter.invoke_int8(kSelfTestInput), Error::kInvalidState);
  EXPECT_TRUE(reference.interpreter.int8_output().empty());
}

TEST(Interpreter, ContainersThatDoNotParseAreRefusedWithTheParsersReason) {
  Autoencoder ae;
  const Bytes model = ae.build();
  ArenaBuffer arena(8192);
  Interpreter interpreter;

  Bytes truncated(model.begin(), model.end() - 4);
  EXPECT_EQ(interpreter.load(truncated, arena.span()), Error::kTruncated);
  Bytes bad_magic = model;
  bad_magic[0] = 'X';
  EXPECT_EQ(interpreter.load(bad_magic, arena.span()), Error::kBadMagic);
  Bytes trailing = model;
  trailing.push_back(0);
  EXPECT_EQ(interpreter.load(trailing, arena.span()), Error::kTrailingBytes);
  EXPECT_EQ(interpreter.load({}, arena.span()), Error::kTruncated);
  EXPECT_FALSE(interpreter.loaded());
  EXPECT_EQ(interpreter.required_arena_bytes(), 0u);
}

TEST(Interpreter, RefusesAnInt32GraphInput) {
  // The parser accepts an int32 activation as the graph input when no op reads it (here the
  // centroid op scores a constant); the runtime has no way to write features into it.
  const Bytes x = test::float_bytes(std::vector<float>{1, 2});
  const Bytes c = test::float_bytes(std::vector<float>{0, 0});
  const std::array<TensorSpec, 4> tensors = {{
      {ElementType::kInt32, 1, {2, 0, 0, 0}, 0, 1.0f, {}, {}},
      {ElementType::kFloat32, 1, {2, 0, 0, 0}, 0, 0.0f, x, {}},
      {ElementType::kFloat32, 2, {1, 2, 0, 0}, 0, 0.0f, c, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  const std::array<container::Op, 1> ops = {container::nearest_centroid(1, 2, 3)};
  const Bytes model = test::build_container(tensors, ops, {ModelKind::kCentroid, 0, 3, 0});
  ASSERT_TRUE(container::parse_container(model).ok());
  ArenaBuffer arena(4096);
  Interpreter interpreter;
  EXPECT_EQ(interpreter.load(model, arena.span()), Error::kMalformed);
  EXPECT_EQ(required_arena_bytes(model).status(), Error::kMalformed);
}

TEST(Interpreter, RefusesAPerChannelConstantIntoRelu) {
  const Bytes w = test::int8_bytes(std::vector<std::int8_t>{1, 2});
  const std::array<float, 2> scales = {0.1f, 0.2f};
  const std::array<TensorSpec, 5> tensors = {{
      {ElementType::kFloat32, 1, {2, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kInt8, 1, {2, 0, 0, 0}, 0, 0.1f, {}, {}},
      {ElementType::kInt8, 1, {2, 0, 0, 0}, 0, 0.0f, w, scales},
      {ElementType::kInt8, 1, {2, 0, 0, 0}, 0, 0.1f, {}, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  const std::array<container::Op, 3> ops = {container::quantize(0, 1), container::relu(2, 3),
                                            container::reconstruction_error(1, 3, 4)};
  const Bytes model = test::build_container(tensors, ops, {ModelKind::kAutoencoder, 0, 4, 0});
  ASSERT_TRUE(container::parse_container(model).ok());
  ArenaBuffer arena(4096);
  Interpreter interpreter;
  EXPECT_EQ(interpreter.load(model, arena.span()), Error::kMalformed);
  EXPECT_FALSE(interpreter.loaded());
}

TEST(Interpreter, RefusesALayerWhoseAccumulatorCouldOverflow) {
  Autoencoder ae;
  ae.b1[2] = 2147483000;
  ae.b1_bytes = test::int32_bytes(ae.b1);
  ae.tensors[Autoencoder::kB1].data = ae.b1_bytes;
  const Bytes model = ae.build();
  ArenaBuffer arena(8192);
  Interpreter interpreter;
  EXPECT_EQ(interpreter.load(model, arena.span()), Error::kInvalidValue);
  EXPECT_FALSE(interpreter.loaded());
}

TEST(Interpreter, LoadingAnotherModelReplacesTheFirst) {
  Autoencoder ae;
  const Bytes autoencoder = ae.build();
  const Bytes centroid = CentroidModel{}.build();
  ArenaBuffer arena(8192);
  Interpreter interpreter;
  ASSERT_TRUE(interpreter.load(autoencoder, arena.span()).ok());
  EXPECT_EQ(interpreter.input_size(), 8u);
  ASSERT_TRUE(interpreter.load(centroid, arena.span()).ok());
  EXPECT_EQ(interpreter.input_size(), 4u);
  float score = -1;
  EXPECT_TRUE(interpreter.invoke(std::vector<float>{0, 0, 0, 0}, &score).ok());
  EXPECT_GE(score, 0.0f);
  // A failed load leaves nothing loaded.
  ArenaBuffer small(32);
  EXPECT_EQ(interpreter.load(autoencoder, small.span()), Error::kDoesNotFit);
  EXPECT_EQ(interpreter.invoke(std::vector<float>{0, 0, 0, 0}, &score), Error::kInvalidState);
}

}  // namespace
}  // namespace spindle::inference
