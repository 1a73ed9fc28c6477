#include "spindle/modelkit/autoencoder.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "graph_private.hpp"

namespace spindle::modelkit {
namespace {

using container::ElementType;
using detail::dim;
using detail::finite;
using detail::Graph;
using detail::QuantParams;

// Sets *problem (when the caller asked for it) and returns `error`: each refusal states its
// reason where it is detected.
Error refuse(std::string* problem, Error error, const std::string& reason) {
  if (problem != nullptr) *problem = reason;
  return error;
}

// A float for an operator to read: 3 significant digits, any magnitude ("-0.0295", "8e-12").
std::string number(float value) {
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.3g", static_cast<double>(value));
  return text.data();
}

// "layer 3 of 4 (dense 8->24)": how refusals name a layer, counting from 1.
std::string layer_name(const FloatAutoencoder& model, std::size_t l) {
  const DenseLayer& layer = model.layers[l];
  return "layer " + std::to_string(l + 1) + " of " + std::to_string(model.layers.size()) +
         " (dense " + std::to_string(layer.in) + "->" + std::to_string(layer.out) + ")";
}

// The widths the layers describe, after checking that the layers agree with each other.
Result<std::vector<std::size_t>> checked_widths(const FloatAutoencoder& model,
                                                std::string* problem = nullptr) {
  if (model.layers.empty()) return refuse(problem, Error::kInvalidValue, "the model has no layers");
  std::vector<std::size_t> widths{model.layers[0].in};
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    const DenseLayer& layer = model.layers[l];
    if (layer.in != widths.back()) {
      return refuse(problem, Error::kInvalidValue,
                    layer_name(model, l) + " takes " + std::to_string(layer.in) +
                        " inputs, but the layer before gives " + std::to_string(widths.back()));
    }
    // Divide rather than multiply: in * out must not wrap before it is compared.
    if (layer.in == 0 || layer.weights.size() / layer.in != layer.out ||
        layer.weights.size() % layer.in != 0 || layer.bias.size() != layer.out) {
      return refuse(problem, Error::kInvalidValue,
                    layer_name(model, l) + " has " + std::to_string(layer.weights.size()) +
                        " weights and " + std::to_string(layer.bias.size()) + " biases");
    }
    widths.push_back(layer.out);
  }
  if (const std::string_view shape = shape_problem(widths); !shape.empty())
    return refuse(problem, Error::kInvalidValue, std::string(shape));
  if (!check_standardization(model.standardization, widths[0]).ok()) {
    return refuse(problem, Error::kInvalidValue,
                  "the standardization is not one finite mean and positive inverse stddev per "
                  "input feature");
  }
  return widths;
}

// y = W x + b for one layer; `y` has layer.out elements.
void dense(const DenseLayer& layer, std::span<const float> x, std::span<float> y) {
  for (std::size_t c = 0; c < layer.out; ++c) {
    float acc = layer.bias[c];
    const float* w = layer.weights.data() + c * layer.in;
    for (std::size_t i = 0; i < layer.in; ++i)
      acc += w[i] * x[i];
    y[c] = acc;
  }
}

// The forward pass of a model whose shapes were checked. Widens layer_max_abs[l] (when not
// empty) to the largest |output| of layer l before its ReLU. Returns the reconstruction.
std::vector<float> forward(const FloatAutoencoder& model, std::span<const float> x,
                           std::span<float> layer_max_abs) {
  std::vector<float> a = standardized(model.standardization, x);
  std::vector<float> b;
  for (std::size_t l = 0; l < model.layers.size(); ++l) {
    b.assign(model.layers[l].out, 0.0f);
    dense(model.layers[l], a, b);
    const bool relu = l + 1 < model.layers.size();
    for (float& v : b) {
      if (!layer_max_abs.empty()) layer_max_abs[l] = std::max(layer_max_abs[l], std::abs(v));
      if (relu) v = std::max(v, 0.0f);
    }
    std::swap(a, b);
  }
  return a;
}

bool valid_range(float max_abs) {
  return std::isfinite(max_abs) && max_abs > 0.0f;
}

void fill_noise(std::mt19937& rng, std::span<float> values) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : values)
    v = std::clamp(normal(rng), -kNoiseClip, kNoiseClip);
}

constexpr std::int64_t kAccumulatorMax = std::numeric_limits<std::int32_t>::max();

// The scale of one output channel's int8 weights (`row`), given the channel's bias and the
// layer's input quantization. Normally the row's largest |weight| / 127, so the largest
// weight uses the whole int8 range. But the runtime (prepare_fully_connected) also refuses a
// channel whose int32 accumulator could overflow for some int8 input:
//   |bias_q - zp * sum(q)| + 128 * sum|q| <= 2^31 - 1,  bias_q = b / (input_scale * scale).
// A unit that never fires keeps the bias it died with (its gradient is zero) while weight
// decay shrinks its weights toward zero: the row max, hence the scale, becomes tiny and bias_q
// leaves int32 (a trained 45-24-8-24-45 model: bias -0.03, row max < 1e-12, bias_q -1e14).
// The scale is then the smallest that keeps the bound above (q rounds: |q_i| <= |w_i|/scale
// + 1/2, |bias_q| <= |b| / (input_scale * scale) + 1/2; k = |zp| + 128):
//   scale >= (|b| / input_scale + k * sum|w|) / (2^31 - 1 - 1/2 - k * in / 2).
// (in <= 65535 keeps the denominator positive.)
// That is honest arithmetic, not a clamp: the bias keeps 31 bits of precision, and the
// weights get a coarser step (those below half a step become 0), which changes the
// channel's output by at most in * 64 * input_scale * scale = in * 2^-25 * (|b| + k *
// input_scale * sum|w|), i.e. by about in * 2^-25 of the largest |b + W x| any int8 input
// gives (1.3e-6 for 45 inputs). For any ordinary row the row max wins and the bytes are
// what they always were. Folding a dead unit's constant into
// the next layer would change the graph and is not needed. Infinity when no float scale
// satisfies the bound (the caller refuses).
float channel_scale(std::span<const float> row, float bias, const QuantParams& input) {
  // The floor keeps an all-zero row's scale positive, as the container requires.
  float row_max = 1e-12f;
  double magnitude = 0.0;
  for (const float w : row) {
    row_max = std::max(row_max, std::abs(w));
    magnitude += static_cast<double>(std::abs(w));
  }
  const float natural = row_max / 127.0f;
  const double k = 128.0 + std::abs(static_cast<double>(input.zero_point));
  // The 1e-6 leaves room for the float rounding of the scale and of bias_q.
  const double headroom =
      (static_cast<double>(kAccumulatorMax) - 0.5 - k * static_cast<double>(row.size()) / 2.0) *
      (1.0 - 1e-6);
  const double needed =
      (std::abs(static_cast<double>(bias)) / static_cast<double>(input.scale) + k * magnitude) /
      headroom;
  if (needed <= static_cast<double>(natural)) return natural;
  if (!(needed < static_cast<double>(std::numeric_limits<float>::max())))
    return std::numeric_limits<float>::infinity();
  // Rounded up, so the float scale is never below what the bound needs.
  return std::nextafter(static_cast<float>(needed), std::numeric_limits<float>::infinity());
}

}  // namespace

std::string_view shape_problem(std::span<const std::size_t> widths) {
  if (widths.size() < 2) return "needs at least two widths, the input's and the output's";
  if (widths.size() - 1 > kMaxLayers)
    return "too many layers: a container holds at most 7 (32 tensors, 16 ops)";
  for (const std::size_t width : widths) {
    if (width == 0) return "a width is 0";
    if (width > kMaxWidth) return "a width is over 65535, the container's largest dimension";
  }
  if (widths.front() != widths.back())
    return "the last width must equal the first: an autoencoder reconstructs its input";
  return {};
}
static_assert(kMaxLayers == 7, "update shape_problem's message");

Status check_standardization(const Standardization& s, std::size_t width) {
  if (s.empty()) return s.inv_std.empty() ? kOk : Status(Error::kInvalidValue);
  if (s.mean.size() != width || s.inv_std.size() != width || !finite(s.mean) ||
      !std::all_of(s.inv_std.begin(), s.inv_std.end(),
                   [](float v) { return std::isfinite(v) && v > 0.0f; })) {
    return Error::kInvalidValue;
  }
  return kOk;
}

std::vector<float> standardized(const Standardization& s, std::span<const float> x) {
  std::vector<float> out(x.begin(), x.end());
  if (s.empty()) return out;
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = (out[i] - s.mean[i]) * s.inv_std[i];
  return out;
}

Result<float> reconstruction_error(const FloatAutoencoder& model, std::span<const float> x) {
  SPINDLE_TRY(checked_widths(model));
  if (x.size() != model.layers[0].in) return Error::kSizeMismatch;
  const std::vector<float> y = forward(model, x, {});
  const std::vector<float> z = standardized(model.standardization, x);
  float sum = 0.0f;
  for (std::size_t i = 0; i < z.size(); ++i)
    sum += (y[i] - z[i]) * (y[i] - z[i]);
  return sum / static_cast<float>(z.size());
}

Result<Calibration> calibrate(const FloatAutoencoder& model, std::span<const float> windows) {
  SPINDLE_TRY(checked_widths(model));
  const std::size_t width = model.layers[0].in;
  if (windows.empty() || !finite(windows)) return Error::kInvalidValue;
  if (windows.size() % width != 0) return Error::kSizeMismatch;
  Calibration calibration;
  calibration.input_max_abs = kMinRange;
  calibration.layer_max_abs.assign(model.layers.size(), kMinRange);
  for (std::size_t start = 0; start < windows.size(); start += width) {
    const std::span<const float> window = windows.subspan(start, width);
    for (const float v : standardized(model.standardization, window))
      calibration.input_max_abs = std::max(calibration.input_max_abs, std::abs(v));
    forward(model, window, calibration.layer_max_abs);
  }
  return calibration;
}

std::vector<float> noise_windows(std::size_t count, std::size_t width, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> values(count * width);
  fill_noise(rng, values);
  return values;
}

Result<RandomAutoencoder> random_autoencoder(std::span<const std::size_t> widths,
                                             std::uint32_t seed, std::size_t calibration_windows) {
  if (!shape_problem(widths).empty() || calibration_windows == 0 ||
      calibration_windows > std::numeric_limits<std::size_t>::max() / widths[0])
    return Error::kInvalidValue;
  std::mt19937 rng(seed);
  RandomAutoencoder random;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    DenseLayer& layer = random.model.layers.emplace_back();
    layer.in = widths[l];
    layer.out = widths[l + 1];
    const float limit = std::sqrt(6.0f / static_cast<float>(layer.in));
    std::uniform_real_distribution<float> weight(-limit, limit);
    std::uniform_real_distribution<float> bias(-0.1f, 0.1f);
    layer.weights.resize(layer.in * layer.out);
    layer.bias.resize(layer.out);
    for (float& w : layer.weights)
      w = weight(rng);
    for (float& b : layer.bias)
      b = bias(rng);
  }
  // The calibration windows continue the weights' stream, so the seed alone fixes both
  // (and bench/inference keeps the model its published results were measured on).
  std::vector<float> windows(calibration_windows * widths[0]);
  fill_noise(rng, windows);
  SPINDLE_TRY_ASSIGN(random.calibration, calibrate(random.model, windows));
  random.calibration.input_max_abs = kNoiseClip;
  return random;
}

Result<PackedAutoencoder> pack_autoencoder(const FloatAutoencoder& model,
                                           const Calibration& calibration, std::string* problem) {
  SPINDLE_TRY_ASSIGN(const std::vector<std::size_t> widths, checked_widths(model, problem));
  const std::size_t layer_count = model.layers.size();
  if (calibration.layer_max_abs.size() != layer_count) {
    return refuse(problem, Error::kInvalidValue,
                  "the calibration has " + std::to_string(calibration.layer_max_abs.size()) +
                      " layer ranges for " + std::to_string(layer_count) + " layers");
  }
  if (!valid_range(calibration.input_max_abs)) {
    return refuse(problem, Error::kInvalidValue,
                  "the calibrated input range is not finite and > 0");
  }
  for (std::size_t l = 0; l < layer_count; ++l) {
    if (!valid_range(calibration.layer_max_abs[l])) {
      return refuse(problem, Error::kInvalidValue,
                    layer_name(model, l) + ": the calibrated range is not finite and > 0");
    }
    if (!finite(model.layers[l].weights) || !finite(model.layers[l].bias)) {
      return refuse(problem, Error::kInvalidValue,
                    layer_name(model, l) + ": a weight or bias is not finite");
    }
  }

  PackedAutoencoder packed;
  packed.dequantized = model;
  Graph graph;
  // Every span in graph.tensors points into these; reserving keeps them where they are.
  graph.bytes.reserve(2 * layer_count + 1);
  graph.scales.reserve(layer_count);

  const QuantParams input_q{calibration.input_max_abs / 127.0f, 0};
  const std::uint8_t input_float = detail::add_input(graph, model.standardization, widths[0]);
  const std::uint8_t input_int8 = graph.add({ElementType::kInt8,
                                             1,
                                             {dim(widths[0]), 0, 0, 0},
                                             input_q.zero_point,
                                             input_q.scale,
                                             {},
                                             {}});
  graph.add(container::quantize(input_float, input_int8));

  std::uint8_t current = input_int8;
  QuantParams current_q = input_q;
  for (std::size_t l = 0; l < layer_count; ++l) {
    DenseLayer& layer = packed.dequantized.layers[l];
    std::vector<float>& scales = graph.scales.emplace_back(layer.out);
    std::vector<std::uint8_t>& weight_bytes = graph.bytes.emplace_back(layer.in * layer.out);
    std::vector<std::uint8_t>& bias_bytes = graph.bytes.emplace_back(4 * layer.out);
    const auto unit = [&](std::size_t c) {
      return layer_name(model, l) + ", unit " + std::to_string(c + 1) + " of " +
             std::to_string(layer.out) + ": ";
    };
    for (std::size_t c = 0; c < layer.out; ++c) {
      const std::span<float> row(layer.weights.data() + c * layer.in, layer.in);
      scales[c] = channel_scale(row, layer.bias[c], current_q);
      if (!std::isfinite(scales[c])) {
        return refuse(problem, Error::kInvalidValue,
                      unit(c) + "bias " + number(layer.bias[c]) +
                          " does not fit int32 at input scale " + number(current_q.scale) +
                          " with any float weight scale");
      }
      std::int64_t row_sum = 0;
      std::int64_t row_magnitude = 0;
      for (std::size_t i = 0; i < layer.in; ++i) {
        const float q = std::round(row[i] / scales[c]);
        weight_bytes[c * layer.in + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
        row[i] = q * scales[c];
        row_sum += static_cast<std::int64_t>(q);
        row_magnitude += static_cast<std::int64_t>(std::abs(q));
      }
      // The kernel adds the bias to the int32 accumulator, whose scale is that of the input
      // times that of the channel's weights.
      const float bias_q = layer.bias[c] / (current_q.scale * scales[c]);
      if (!(bias_q >= -2147483648.0f && bias_q < 2147483648.0f)) {
        return refuse(problem, Error::kInvalidValue,
                      unit(c) + "bias " + number(layer.bias[c]) + " / (input scale " +
                          number(current_q.scale) + " x weight scale " + number(scales[c]) +
                          ") does not fit int32");
      }
      const auto bias = static_cast<std::int32_t>(std::lround(bias_q));
      // channel_scale chose the scale for this; checked here with the runtime's own integer
      // bound so that a refusal names the unit instead of failing the trial load below.
      const std::int64_t folded = std::int64_t{bias} - current_q.zero_point * row_sum;
      if (std::abs(folded) + 128 * row_magnitude > kAccumulatorMax) {
        return refuse(problem, Error::kInvalidValue,
                      unit(c) + "the int32 accumulator could overflow (bias " +
                          std::to_string(bias) + ", sum of |weights| " +
                          std::to_string(row_magnitude) + " steps)");
      }
      detail::put_int32(bias, std::span(bias_bytes).subspan(4 * c, 4));
      layer.bias[c] = static_cast<float>(bias) * current_q.scale * scales[c];
    }
    const std::uint16_t in = dim(layer.in);
    const std::uint16_t out = dim(layer.out);
    const std::uint8_t weights =
        graph.add({ElementType::kInt8, 2, {out, in, 0, 0}, 0, 0.0f, weight_bytes, scales});
    // The runtime takes each channel's bias scale from input and weight scales; the record's
    // per-tensor scale only has to be valid, so it carries channel 0's.
    const std::uint8_t bias = graph.add(
        {ElementType::kInt32, 1, {out, 0, 0, 0}, 0, current_q.scale * scales[0], bias_bytes, {}});
    const bool last = l + 1 == layer_count;
    const float fc_max_abs = last
                                 ? std::max(calibration.input_max_abs, calibration.layer_max_abs[l])
                                 : calibration.layer_max_abs[l];
    const QuantParams fc_q{fc_max_abs / 127.0f, 0};
    const std::uint8_t fc =
        graph.add({ElementType::kInt8, 1, {out, 0, 0, 0}, fc_q.zero_point, fc_q.scale, {}, {}});
    graph.add(container::fully_connected(current, weights, bias, fc));
    current = fc;
    current_q = fc_q;
    if (!last) {
      const QuantParams relu_q{calibration.layer_max_abs[l] / 255.0f, -128};
      const std::uint8_t relu = graph.add(
          {ElementType::kInt8, 1, {out, 0, 0, 0}, relu_q.zero_point, relu_q.scale, {}, {}});
      graph.add(container::relu(current, relu));
      current = relu;
      current_q = relu_q;
    }
  }
  graph.score = graph.add({ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}});
  graph.add(container::reconstruction_error(input_int8, current, graph.score));

  auto written = detail::write_checked(graph, container::ModelKind::kAutoencoder);
  if (!written.ok()) {
    return refuse(
        problem, written.status().error(),
        std::string("writing or trial-loading the container failed: ") + written.status().name());
  }
  packed.container = std::move(written->container);
  packed.arena_bytes = written->arena_bytes;
  return packed;
}

}  // namespace spindle::modelkit
