// bench/inference: what the node's int8 runtime costs per window, against baselines
// measured the same way in the same run:
//   int8 invoke (quantize, 4 FC + 3 ReLU, reconstruction error)  vs  a naive float MLP of
//               the same shape on the same (dequantized) weights, plain loops;
//   int8 FC kernels alone                                        vs  the naive float FC loops;
//   the runtime's own float reference path (for scale; it is not meant to be fast);
//   feature extraction per window (spindle::features), when that module is built.
// The model is a representative autoencoder, 36 -> 16 -> 8 -> 16 -> 36 with ReLU, built with
// ContainerBuilder from seeded random weights quantized per output channel.
//
// Wall time: median over --runs runs of ns per window. Instruction counts: --callgrind
// re-runs this program under `valgrind --tool=callgrind --instr-atstart=no`, counting only
// the measured loops (CALLGRIND_START_INSTRUMENTATION / DUMP_STATS_AT around each), and
// prints instructions per window and per multiply-accumulate. Finally the arena each board
// needs, read from boards/*/board.conf.
//
// Usage: bench_inference [--runs N] [--min-ms M] [--callgrind] [--boards DIR]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if SPINDLE_BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#endif
#if SPINDLE_BENCH_HAVE_FEATURES
#include "spindle/features/feature_extractor.hpp"
#endif

#include "spindle/inference/fully_connected.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/inference/memory_planner.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/container.hpp"

using namespace spindle;
using Clock = std::chrono::steady_clock;

namespace {

int g_runs = 7;
double g_min_ms = 200.0;
volatile float g_sink = 0;  // keeps results observable so nothing is optimised away

constexpr std::array<std::uint16_t, 5> kWidths = {36, 16, 8, 16, 36};
constexpr std::size_t kLayers = kWidths.size() - 1;
constexpr std::size_t kWindows = 64;  // distinct inputs cycled through

std::size_t macs_per_window() {
  std::size_t macs = 0;
  for (std::size_t l = 0; l < kLayers; ++l)
    macs += std::size_t{kWidths[l]} * kWidths[l + 1];
  return macs;
}

// ---- The model: float weights, then quantized as a packager would ----

struct FloatLayer {
  std::vector<float> w;  // [out][in]
  std::vector<float> b;
  std::size_t in = 0;
  std::size_t out = 0;
};

struct QuantParams {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
};

struct Model {
  std::vector<FloatLayer> float_layers;            // the dequantized weights, for the baseline
  std::vector<std::vector<std::uint8_t>> storage;  // bytes the TensorSpecs point into
  std::vector<std::vector<float>> scale_storage;
  std::vector<std::uint8_t> container;
  QuantParams input;  // of the quantized input (and of the reconstruction)
};

void float_fc(const FloatLayer& layer, const float* x, float* y, bool relu) {
  for (std::size_t c = 0; c < layer.out; ++c) {
    float acc = layer.b[c];
    const float* w = layer.w.data() + c * layer.in;
    for (std::size_t i = 0; i < layer.in; ++i)
      acc += w[i] * x[i];
    y[c] = relu && acc < 0.0f ? 0.0f : acc;
  }
}

// Naive float forward pass with MSE against the input: the baseline for invoke().
float float_autoencoder(const std::vector<FloatLayer>& layers, const float* x) {
  std::array<float, 64> a{};
  std::array<float, 64> b{};
  std::copy(x, x + kWidths[0], a.begin());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    float_fc(layers[l], a.data(), b.data(), l + 1 < layers.size());
    std::swap(a, b);
  }
  float sum = 0;
  for (std::size_t i = 0; i < kWidths[0]; ++i)
    sum += (a[i] - x[i]) * (a[i] - x[i]);
  return sum / kWidths[0];
}

Model build_model(std::uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  for (std::size_t l = 0; l < kLayers; ++l) {
    FloatLayer layer;
    layer.in = kWidths[l];
    layer.out = kWidths[l + 1];
    const float limit = std::sqrt(6.0f / static_cast<float>(layer.in));  // He-uniform
    std::uniform_real_distribution<float> w(-limit, limit);
    std::uniform_real_distribution<float> b(-0.1f, 0.1f);
    for (std::size_t i = 0; i < layer.in * layer.out; ++i)
      layer.w.push_back(w(rng));
    for (std::size_t i = 0; i < layer.out; ++i)
      layer.b.push_back(b(rng));
    m.float_layers.push_back(std::move(layer));
  }

  // Calibration: activation ranges over 256 standard-normal windows (clipped at 4 sigma).
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> max_abs(kLayers, 1e-6f);
  for (int n = 0; n < 256; ++n) {
    std::array<float, 64> a{};
    std::array<float, 64> b{};
    for (std::size_t i = 0; i < kWidths[0]; ++i)
      a[i] = std::clamp(normal(rng), -4.0f, 4.0f);
    for (std::size_t l = 0; l < kLayers; ++l) {
      float_fc(m.float_layers[l], a.data(), b.data(), false);
      for (std::size_t i = 0; i < kWidths[l + 1]; ++i) {
        max_abs[l] = std::max(max_abs[l], std::abs(b[i]));
        if (l + 1 < kLayers) b[i] = std::max(b[i], 0.0f);
      }
      std::swap(a, b);
    }
  }

  // Quantize: weights symmetric per output channel; biases int32 at x.scale * w.scale[c];
  // FC outputs symmetric; ReLU outputs use the full int8 range for [0, max].
  using container::ElementType;
  std::vector<container::TensorSpec> tensors;
  std::vector<container::Op> ops;
  const auto add = [&](const container::TensorSpec& spec) {
    tensors.push_back(spec);
    return static_cast<std::uint8_t>(tensors.size() - 1);
  };
  m.storage.reserve(4 * kLayers);
  m.scale_storage.reserve(kLayers);
  m.input = {4.0f / 127.0f, 0};
  const std::uint8_t x = add({ElementType::kFloat32, 1, {kWidths[0], 0, 0, 0}, 0, 0.0f, {}, {}});
  const std::uint8_t xq = add(
      {ElementType::kInt8, 1, {kWidths[0], 0, 0, 0}, m.input.zero_point, m.input.scale, {}, {}});
  ops.push_back(container::quantize(x, xq));
  std::uint8_t current = xq;
  QuantParams current_q = m.input;
  for (std::size_t l = 0; l < kLayers; ++l) {
    FloatLayer& layer = m.float_layers[l];
    std::vector<float>& scales = m.scale_storage.emplace_back(layer.out);
    std::vector<std::uint8_t>& w_bytes = m.storage.emplace_back(layer.in * layer.out);
    std::vector<std::uint8_t>& b_bytes = m.storage.emplace_back(4 * layer.out);
    for (std::size_t c = 0; c < layer.out; ++c) {
      float row_max = 1e-12f;
      for (std::size_t i = 0; i < layer.in; ++i)
        row_max = std::max(row_max, std::abs(layer.w[c * layer.in + i]));
      scales[c] = row_max / 127.0f;
      for (std::size_t i = 0; i < layer.in; ++i) {
        const float q = std::round(layer.w[c * layer.in + i] / scales[c]);
        w_bytes[c * layer.in + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(q));
        layer.w[c * layer.in + i] = q * scales[c];  // the baseline runs the same weights
      }
      const auto bias =
          static_cast<std::int32_t>(std::lround(layer.b[c] / (current_q.scale * scales[c])));
      for (int k = 0; k < 4; ++k)
        b_bytes[4 * c + static_cast<std::size_t>(k)] =
            static_cast<std::uint8_t>(static_cast<std::uint32_t>(bias) >> (8 * k));
      layer.b[c] = static_cast<float>(bias) * current_q.scale * scales[c];
    }
    const auto out_width = static_cast<std::uint16_t>(layer.out);
    const std::uint8_t w =
        add({ElementType::kInt8, 2, {out_width, kWidths[l], 0, 0}, 0, 0.0f, w_bytes, scales});
    const std::uint8_t b = add({ElementType::kInt32,
                                1,
                                {out_width, 0, 0, 0},
                                0,
                                current_q.scale * scales[0],
                                b_bytes,
                                {}});
    const bool last = l + 1 == kLayers;
    const QuantParams fc_q = last ? m.input : QuantParams{max_abs[l] / 127.0f, 0};
    const std::uint8_t y =
        add({ElementType::kInt8, 1, {out_width, 0, 0, 0}, fc_q.zero_point, fc_q.scale, {}, {}});
    ops.push_back(container::fully_connected(current, w, b, y));
    current = y;
    current_q = fc_q;
    if (!last) {
      const QuantParams relu_q{max_abs[l] / 255.0f, -128};
      const std::uint8_t r = add(
          {ElementType::kInt8, 1, {out_width, 0, 0, 0}, relu_q.zero_point, relu_q.scale, {}, {}});
      ops.push_back(container::relu(current, r));
      current = r;
      current_q = relu_q;
    }
  }
  const std::uint8_t score = add({ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}});
  ops.push_back(container::reconstruction_error(xq, current, score));

  std::vector<std::uint8_t> out(1 << 16);
  container::ContainerBuilder builder(out);
  for (const auto& t : tensors)
    if (!builder.add_tensor(t).ok()) std::abort();
  for (const auto& op : ops)
    if (!builder.add_op(op).ok()) std::abort();
  const auto info = container::GraphInfo{container::ModelKind::kAutoencoder, x, score, 0};
  const auto bytes = builder.finish(info);
  if (!bytes.ok()) {
    std::fprintf(stderr, "builder: %s\n", bytes.status().name());
    std::exit(1);
  }
  m.container.assign(bytes->begin(), bytes->end());
  return m;
}

// ---- The measured operations ----

struct Bench {
  Model model = build_model(1234);
  std::vector<std::vector<float>> windows;
  std::vector<std::uint8_t> arena;
  std::vector<std::uint8_t> reference_arena;
  inference::Interpreter interpreter;
  inference::Interpreter reference;
  // The FC kernels alone, prepared exactly as the interpreter prepares them.
  std::vector<std::uint8_t> kernel_arena = std::vector<std::uint8_t>(8192);
  inference::Arena kernel_memory{kernel_arena};
  std::vector<const inference::FullyConnectedData*> fc;
  std::array<std::array<std::int8_t, 64>, 2> int8_buffers{};
  std::array<std::array<float, 64>, 2> float_buffers{};
  std::size_t next = 0;

  Bench() {
    std::mt19937 rng(99);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (std::size_t n = 0; n < kWindows; ++n) {
      std::vector<float>& w = windows.emplace_back(kWidths[0]);
      for (float& v : w)
        v = std::clamp(normal(rng), -4.0f, 4.0f);
    }
    arena.resize(*inference::required_arena_bytes(model.container));
    reference_arena.resize(
        *inference::required_arena_bytes(model.container, inference::Arithmetic::kFloatReference));
    check(interpreter.load(model.container, arena), "load");
    check(reference.load(model.container, reference_arena, inference::Arithmetic::kFloatReference),
          "load reference");

    const auto view = *container::parse_container(model.container);
    for (std::size_t i = 0; i < view.header().op_count; ++i) {
      const container::Op op = *view.op(i);
      if (op.code != container::OpCode::kFullyConnected) continue;
      const container::Tensor w = *view.tensor(op.inputs[1]);
      auto* data = *inference::init_fully_connected(w, kernel_memory);
      check(inference::prepare_fully_connected(
                *view.tensor(op.inputs[0]), w, *view.tensor(op.inputs[2]),
                *view.tensor(op.outputs[0]), op.params[0], op.params[1], *data),
            "prepare fc");
      fc.push_back(data);
    }
    for (std::size_t i = 0; i < kWidths[0]; ++i)
      int8_buffers[0][i] = static_cast<std::int8_t>(static_cast<int>(i * 37 % 255) - 127);
  }

  static void check(Status status, const char* what) {
    if (!status.ok()) {
      std::fprintf(stderr, "%s: %s\n", what, status.name());
      std::exit(1);
    }
  }

  const std::vector<float>& window() { return windows[next++ % kWindows]; }

  void invoke_int8() {
    float score = 0;
    check(interpreter.invoke(window(), &score), "invoke");
    g_sink = g_sink + score;
  }
  void invoke_reference() {
    float score = 0;
    check(reference.invoke(window(), &score), "invoke reference");
    g_sink = g_sink + score;
  }
  void naive_float() { g_sink = g_sink + float_autoencoder(model.float_layers, window().data()); }
  void fc_int8() {
    for (std::size_t l = 0; l < kLayers; ++l) {
      inference::eval_fully_connected(*fc[l], {int8_buffers[l % 2].data(), kWidths[l]},
                                      {int8_buffers[(l + 1) % 2].data(), kWidths[l + 1]});
    }
    g_sink = g_sink + int8_buffers[0][0];
  }
  void fc_float() {
    const std::vector<float>& x = window();
    std::copy(x.begin(), x.end(), float_buffers[0].begin());
    for (std::size_t l = 0; l < kLayers; ++l)
      float_fc(model.float_layers[l], float_buffers[l % 2].data(),
               float_buffers[(l + 1) % 2].data(), false);
    g_sink = g_sink + float_buffers[0][0];
  }
};

// Median over g_runs of ns per call; each run repeats `op` for at least g_min_ms.
double median_ns(const std::function<void()>& op) {
  std::size_t batch = 1;
  for (;;) {
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < batch; ++i)
      op();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (ms > g_min_ms / 10 || batch > (1U << 28)) break;
    batch *= 2;
  }
  std::vector<double> samples;
  for (int run = 0; run < g_runs; ++run) {
    std::size_t calls = 0;
    const auto t0 = Clock::now();
    double ms = 0;
    do {
      for (std::size_t i = 0; i < batch; ++i)
        op();
      calls += batch;
      ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    } while (ms < g_min_ms);
    samples.push_back(ms * 1e6 / static_cast<double>(calls));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

void header(const char* unit) {
  std::printf("| %-50s | %12s | %12s | %6s |\n", unit, "spindle", "baseline", "ratio");
  std::printf("|%s|--------------|--------------|--------|\n", std::string(52, '-').c_str());
}

void row(const char* what, double ours, double baseline) {
  std::printf("| %-50s | %12.1f | %12.1f | %6.2f |\n", what, ours, baseline, ours / baseline);
}

// ---- Instruction counts ----

constexpr int kCallgrindCalls = 10000;

#if SPINDLE_BENCH_HAVE_CALLGRIND
// Runs inside valgrind: one dump per measured loop, nothing else instrumented.
void callgrind_child(Bench& bench) {
  const auto measure = [](const char* name, const std::function<void()>& op) {
    CALLGRIND_ZERO_STATS;
    for (int i = 0; i < kCallgrindCalls; ++i)
      op();
    CALLGRIND_DUMP_STATS_AT(name);
  };
  CALLGRIND_START_INSTRUMENTATION;
  measure("invoke_int8", [&] { bench.invoke_int8(); });
  measure("naive_float", [&] { bench.naive_float(); });
  measure("fc_int8", [&] { bench.fc_int8(); });
  measure("fc_float", [&] { bench.fc_float(); });
  measure("invoke_reference", [&] { bench.invoke_reference(); });
  CALLGRIND_STOP_INSTRUMENTATION;
}
#endif

// Re-runs this executable under callgrind and reads the per-loop dumps back.
std::map<std::string, double> callgrind_counts(const char* self) {
  std::map<std::string, double> counts;
  char dir_template[] = "/tmp/bench_inference.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return counts;
  const std::string command = std::string("valgrind --tool=callgrind --instr-atstart=no ") +
                              "--callgrind-out-file=" + dir + "/cg.out " + self +
                              " --callgrind-child > " + dir + "/log 2>&1";
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "callgrind run failed: %s (log in %s)\n", command.c_str(), dir);
    return counts;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string line, trigger;
    double total = -1;
    while (std::getline(in, line)) {
      const std::string kTrigger = "desc: Trigger: Client Request: ";
      if (line.rfind(kTrigger, 0) == 0) trigger = line.substr(kTrigger.size());
      if (line.rfind("totals: ", 0) == 0) total = std::stod(line.substr(8));
    }
    if (!trigger.empty() && total >= 0) counts[trigger] = total / kCallgrindCalls;
  }
  std::filesystem::remove_all(dir);
  return counts;
}

// ---- Boards ----

void boards_table(const Bench& bench, const std::string& boards_dir) {
  const std::size_t arena = bench.arena.size();
  const std::size_t model_bytes = bench.model.container.size();
  const std::size_t interpreter_bytes = sizeof(inference::Interpreter);
  std::printf(
      "\nRAM for this model per board (arena needed %zu B; the plaintext container, %zu B, "
      "sits in RAM once decrypted; Interpreter object %zu B on this 64-bit host):\n\n",
      arena, model_bytes, interpreter_bytes);
  std::printf(
      "| board          |  SRAM (B) | CONFIG_MODEL_ARENA_SIZE | arena needed | model + arena + "
      "interpreter | fits arena |\n");
  std::printf(
      "|----------------|-----------|-------------------------|--------------|---------------------"
      "--------|------------|\n");
  std::vector<std::filesystem::path> confs;
  for (const auto& entry : std::filesystem::directory_iterator(boards_dir)) {
    if (std::filesystem::exists(entry.path() / "board.conf"))
      confs.push_back(entry.path() / "board.conf");
  }
  std::sort(confs.begin(), confs.end());
  for (const auto& path : confs) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    const std::string conf = text.str();
    const auto profile = board::parse(conf);
    if (!profile.ok()) {
      std::printf("| %-14s | (board.conf does not parse: %s)\n",
                  path.parent_path().filename().c_str(), profile.status().name());
      continue;
    }
    std::printf("| %-14s | %9u | %23u | %12zu | %27zu | %-10s |\n",
                std::string(profile->name()).c_str(), profile->sram_bytes,
                profile->model_arena_bytes, arena, model_bytes + arena + interpreter_bytes,
                arena <= profile->model_arena_bytes ? "yes" : "NO");
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool callgrind = false;
  bool child = false;
  std::string boards_dir = SPINDLE_BOARDS_DIR;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      g_runs = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
      g_min_ms = std::atof(argv[++i]);
    else if (std::strcmp(argv[i], "--boards") == 0 && i + 1 < argc)
      boards_dir = argv[++i];
    else if (std::strcmp(argv[i], "--callgrind") == 0)
      callgrind = true;
    else if (std::strcmp(argv[i], "--callgrind-child") == 0)
      child = true;
  }
  Bench bench;
  if (child) {
#if SPINDLE_BENCH_HAVE_CALLGRIND
    callgrind_child(bench);
    return 0;
#else
    return 1;
#endif
  }

  const std::size_t macs = macs_per_window();
  // The activation plan against one buffer per tensor, int8 path.
  const auto view = *container::parse_container(bench.model.container);
  std::array<std::uint64_t, container::kMaxTensors> tensor_bytes{};
  std::uint64_t unshared = 0;
  for (std::size_t t = 0; t < view.header().tensor_count; ++t) {
    const container::Tensor tensor = *view.tensor(t);
    tensor_bytes[t] = tensor.byte_size();
    if (!tensor.constant) unshared += inference::Arena::aligned_size(tensor.byte_size());
  }
  const auto plan = *inference::plan_activations(
      view, tensor_bytes, 1u << view.header().input_tensor, 1u << view.header().output_tensor);
  std::printf(
      "model: autoencoder 36-16-8-16-36, int8 per-channel FC + ReLU, %zu MACs/window, "
      "container %zu B, arena %zu B (float reference path: %zu B)\n",
      macs, bench.model.container.size(), bench.arena.size(), bench.reference_arena.size());

  // Agreement of the int8 runtime with its float reference over the benchmark windows.
  double worst = 0;
  for (const auto& w : bench.windows) {
    float q = 0, f = 0;
    Bench::check(bench.interpreter.invoke(w, &q), "invoke");
    Bench::check(bench.reference.invoke(w, &f), "invoke reference");
    worst = std::max(
        worst, std::abs(static_cast<double>(q) - static_cast<double>(f)) / static_cast<double>(f));
  }
  std::printf("activations: %llu B planned (one buffer per tensor: %llu B); op data: %llu B\n",
              static_cast<unsigned long long>(plan.total_bytes),
              static_cast<unsigned long long>(unshared),
              static_cast<unsigned long long>(bench.arena.size() - plan.total_bytes));
  std::printf("int8 vs float-reference score, worst relative difference over %zu windows: %.4f\n\n",
              kWindows, worst);

  std::printf("Wall time, median of %d runs of >= %.0f ms:\n\n", g_runs, g_min_ms);
  header("ns per window");
  const double invoke_ns = median_ns([&] { bench.invoke_int8(); });
  const double naive_ns = median_ns([&] { bench.naive_float(); });
  const double fc_ns = median_ns([&] { bench.fc_int8(); });
  const double fc_float_ns = median_ns([&] { bench.fc_float(); });
  const double reference_ns = median_ns([&] { bench.invoke_reference(); });
  row("invoke, int8 vs naive float MLP + MSE", invoke_ns, naive_ns);
  row("4 FC layers only, int8 kernel vs naive float FC", fc_ns, fc_float_ns);
  row("  the same per MAC (ns)", fc_ns / static_cast<double>(macs),
      fc_float_ns / static_cast<double>(macs));
  row("float reference path vs naive float MLP + MSE", reference_ns, naive_ns);

#if SPINDLE_BENCH_HAVE_FEATURES
  {
    features::FeatureConfig config;  // 1024 samples, 3200 Hz, 3 axes: native_sim's window
    std::vector<std::byte> scratch(features::scratch_bytes(config.window_length));
    auto extractor = features::FeatureExtractor::create(config, scratch);
    Bench::check(extractor.status(), "feature extractor");
    std::mt19937 rng(5);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    std::array<std::vector<float>, 3> axes;
    for (auto& axis : axes) {
      axis.resize(config.window_length);
      for (std::size_t i = 0; i < axis.size(); ++i)
        axis[i] = std::sin(0.07f * static_cast<float>(i)) + noise(rng);
    }
    std::vector<float> out(extractor->feature_count());
    const double features_ns = median_ns([&] {
      Bench::check(extractor.value().extract(axes[0], axes[1], axes[2], out), "extract");
      g_sink = g_sink + out[0];
    });
    row("feature extraction, 3 x 1024 samples, vs invoke", features_ns, invoke_ns);
  }
#else
  std::printf("(feature extraction not measured: spindle::features is not part of this build)\n");
#endif

  if (callgrind) {
#if SPINDLE_BENCH_HAVE_CALLGRIND
    const auto counts = callgrind_counts(argv[0]);
    if (counts.size() >= 5) {
      std::printf(
          "\nInstructions (valgrind --tool=callgrind, %d calls each, measured loops only):\n\n",
          kCallgrindCalls);
      header("instructions per window");
      row("invoke, int8 vs naive float MLP + MSE", counts.at("invoke_int8"),
          counts.at("naive_float"));
      row("4 FC layers only, int8 kernel vs naive float FC", counts.at("fc_int8"),
          counts.at("fc_float"));
      row("  the same per MAC (instructions)", counts.at("fc_int8") / static_cast<double>(macs),
          counts.at("fc_float") / static_cast<double>(macs));
      row("float reference path vs naive float MLP + MSE", counts.at("invoke_reference"),
          counts.at("naive_float"));
    } else {
      std::printf("\n(callgrind counts unavailable)\n");
    }
#else
    std::printf("\n(--callgrind: this build has no <valgrind/callgrind.h>)\n");
#endif
  }

  boards_table(bench, boards_dir);
  return 0;
}
