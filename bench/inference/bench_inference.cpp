// bench/inference: what the node's int8 runtime costs per window, against baselines
// measured the same way in the same run:
//   int8 invoke (quantize, 4 FC + 3 ReLU, reconstruction error)  vs  a naive float MLP of
//               the same shape on the same (dequantized) weights, plain loops;
//   int8 FC kernels alone                                        vs  the naive float FC loops;
//   the runtime's own float reference path (for scale; it is not meant to be fast);
//   feature extraction per window (spindle::features), when that module is built.
// The model is a representative autoencoder, 36 -> 16 -> 8 -> 16 -> 36 with ReLU, built with
// spindle::modelkit from seeded random weights quantized per output channel.
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
#include "median_timer.hpp"
#include "spindle/boards/board_lookup.hpp"
#include "spindle/features/feature_extractor.hpp"
#endif

#include "spindle/inference/fully_connected.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/inference/memory_planner.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/container.hpp"

using namespace spindle;
using Clock = std::chrono::steady_clock;

namespace {

int g_runs = 7;
double g_min_ms = 200.0;
volatile float g_sink = 0;  // keeps results observable so nothing is optimised away

constexpr std::array<std::size_t, 5> kWidths = {36, 16, 8, 16, 36};
constexpr std::size_t kLayers = kWidths.size() - 1;
constexpr std::size_t kWindows = 64;  // distinct inputs cycled through

std::size_t macs_per_window() {
  std::size_t macs = 0;
  for (std::size_t l = 0; l < kLayers; ++l)
    macs += kWidths[l] * kWidths[l + 1];
  return macs;
}

// ---- The model: seeded random float weights, quantized and packed by spindle::modelkit ----

struct Model {
  modelkit::FloatAutoencoder float_model;  // the dequantized weights, for the baseline
  std::vector<std::uint8_t> container;
};

void float_fc(const modelkit::DenseLayer& layer, const float* x, float* y, bool relu) {
  for (std::size_t c = 0; c < layer.out; ++c) {
    float acc = layer.bias[c];
    const float* w = layer.weights.data() + c * layer.in;
    for (std::size_t i = 0; i < layer.in; ++i)
      acc += w[i] * x[i];
    y[c] = relu && acc < 0.0f ? 0.0f : acc;
  }
}

// Naive float forward pass with MSE against the input: the baseline for invoke(). Its own
// plain loops over fixed arrays rather than modelkit::reconstruction_error, which allocates:
// the baseline is what is being timed.
float float_autoencoder(const std::vector<modelkit::DenseLayer>& layers, const float* x) {
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
  return sum / static_cast<float>(kWidths[0]);
}

// Activations calibrated on standard-normal windows clipped at 4 sigma, the distribution the
// benchmark windows come from.
Model build_model(std::uint32_t seed) {
  const auto fail = [](const char* what, Status status) {
    std::fprintf(stderr, "%s: %s\n", what, status.name());
    std::exit(1);
  };
  const auto random = modelkit::random_autoencoder(kWidths, seed);
  if (!random.ok()) fail("random model", random.status());
  auto packed = modelkit::pack_autoencoder(random->model, random->calibration);
  if (!packed.ok()) fail("packing", packed.status());
  return {std::move(packed.value().dequantized), std::move(packed.value().container)};
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
    const std::vector<float> values = modelkit::noise_windows(kWindows, kWidths[0], 99);
    for (std::size_t n = 0; n < kWindows; ++n)
      windows.emplace_back(values.begin() + static_cast<std::ptrdiff_t>(n * kWidths[0]),
                           values.begin() + static_cast<std::ptrdiff_t>((n + 1) * kWidths[0]));
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
  void naive_float() {
    g_sink = g_sink + float_autoencoder(model.float_model.layers, window().data());
  }
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
      float_fc(model.float_model.layers[l], float_buffers[l % 2].data(),
               float_buffers[(l + 1) % 2].data(), false);
    g_sink = g_sink + float_buffers[0][0];
  }
};

double median_ns(const std::function<void()>& op) {
  return spindle::bench::median_ns({g_runs, g_min_ms}, op);
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
  std::string boards_dir(boards::boards_dir());
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
