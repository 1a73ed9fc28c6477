// spindle-train: the model side of Spindle's ML loop. Generates labelled feature windows from
// the node's simulator, trains an autoencoder or a k-means model on healthy windows (captured
// by the gateway or simulated), quantizes it to int8 for the board, calibrates its threshold,
// and evaluates it on seeds it never saw. See docs/tools/spindle-train.md.
//
// Exit codes: 0 success; 1 a failure to do the work (data that cannot be trained on, a model
// the packer or the board refuses, a file that cannot be read or written); 2 a usage error
// (an unknown command, a bad flag or a value no run could take); 3 evaluate
// --require-targets with the targets missed. spindle::trainer reports its failures as
// std::invalid_argument, which cli::guarded_main maps to 2, so main() rethrows them as the
// run-time failures they are; option values are checked here, with UsageError, before the
// library sees them.
#include <boost/program_options.hpp>
#include <charconv>
#include <cmath>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "spindle/cli/board_file.hpp"
#include "spindle/cli/command_line.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/modelkit/centroids.hpp"
#include "spindle/sensor/vibration_simulator.hpp"
#include "spindle/trainer/evaluation.hpp"
#include "spindle/trainer/fit.hpp"
#include "spindle/trainer/simulated_data.hpp"

namespace po = boost::program_options;
using namespace spindle;
using cli::UsageError;

namespace {

constexpr const char* kUsage =
    "usage: spindle-train generate --board B --out FILE [--machines M] [--fault F --severity S]\n"
    "       spindle-train fit --data FILE [--data FILE ..] --out-dir DIR [--kind K] [--board B]\n"
    "       spindle-train evaluate --model-dir DIR [--machines M | --data FILE ..] [--seed-base "
    "N]\n\n"
    "generate  labelled feature windows from the node's simulator and feature extractor (CSV)\n"
    "fit       train on healthy windows of several machines (standardized per machine), hold\n"
    "          whole machines out, quantize to int8, set the node's calibration; writes\n"
    "          DIR/model.spmc, threshold, baseline.csv, calibration, model.json\n"
    "evaluate  on machines the training never saw, each calibrated as a node would: ROC-AUC,\n"
    "          recall, false alarms per machine with and without adaptation, detection delay,\n"
    "          int8 vs float; prints a table and writes DIR/evaluation.json\n\n"
    "spindle-train COMMAND --help lists a command's options.";

template <typename T>
std::vector<T> parse_list(const std::string& text, const std::string& flag) {
  std::vector<T> out;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    T value{};
    const char* end = item.data() + item.size();
    const auto [ptr, ec] = std::from_chars(item.data(), end, value);
    if (item.empty() || ec != std::errc() || ptr != end) {
      throw UsageError(flag + ": '" + item + "' is not a number");
    }
    out.push_back(value);
  }
  if (out.empty()) throw UsageError(flag + ": give at least one value");
  return out;
}

sensor::Fault parse_fault(const std::string& name) {
  const auto fault = sensor::parse_fault(name);
  if (!fault.ok()) {
    throw UsageError("unknown fault '" + name +
                     "': none, imbalance, misalignment, looseness, bearing-outer, bearing-inner");
  }
  return *fault;
}

// "3", "1,4,9" or "1001-1020".
std::vector<std::uint64_t> parse_machines(const std::string& text) {
  const std::size_t dash = text.find('-');
  if (dash == std::string::npos) return parse_list<std::uint64_t>(text, "--machines");
  const auto first = parse_list<std::uint64_t>(text.substr(0, dash), "--machines");
  const auto last = parse_list<std::uint64_t>(text.substr(dash + 1), "--machines");
  if (first.size() != 1 || last.size() != 1 || last[0] < first[0] || last[0] - first[0] > 10000) {
    throw UsageError("--machines " + text + ": a list, or a range A-B of at most 10001");
  }
  std::vector<std::uint64_t> out;
  for (std::uint64_t m = first[0]; m <= last[0]; ++m)
    out.push_back(m);
  return out;
}

board::BoardProfile board_of(const std::string& name) {
  return cli::load_board(name);
}

// Refuses shaft speeds, severities and ramps the board's simulator does not take, by the
// simulator's own rules (VibrationSimulator::create), before any work is done.
void check_simulator_values(const board::BoardProfile& board, const std::vector<float>& speeds,
                            const std::vector<float>& severities, double ramp_s) {
  for (const float speed : speeds) {
    for (const float severity : severities) {
      sensor::SimulatorConfig config;
      config.sample_rate_hz = board.sensor_rate_hz;
      config.shaft_hz = speed;
      config.fault = {sensor::Fault::kImbalance, severity, severity, static_cast<float>(ramp_s)};
      if (!sensor::VibrationSimulator::create(config).ok()) {
        std::ostringstream what;
        what << "the simulator of board " << board.name() << " refuses shaft speed " << speed
             << " Hz with severity " << severity << " and a " << ramp_s << " s ramp (see --help)";
        throw UsageError(what.str());
      }
    }
  }
}

int generate(int argc, char** argv) {
  std::string board_name = "native_sim", out_path, fault_name = "none", speeds, machines = "0";
  std::string label;
  double severity = 0.0, severity_end = -1.0, ramp_s = 0.0;
  std::size_t windows = 200;
  std::uint64_t seed = 1;
  po::options_description options("spindle-train generate options");
  options.add_options()("help,h", "print this help")(
      "board", po::value(&board_name)->default_value(board_name),
      "board profile: window length, sample rate, axes")("out,o", po::value(&out_path)->required(),
                                                         "CSV file to write")(
      "fault", po::value(&fault_name)->default_value(fault_name),
      "none, imbalance, misalignment, looseness, bearing-outer, bearing-inner")(
      "severity", po::value(&severity)->default_value(0.0), "fault severity (at start), 0..1")(
      "severity-end", po::value(&severity_end), "severity at the end of the ramp")(
      "ramp-s", po::value(&ramp_s)->default_value(0.0), "seconds of simulated time to ramp")(
      "machines", po::value(&machines)->default_value(machines),
      "simulated machines (0 = the reference machine), comma-separated or a range A-B")(
      "speeds", po::value(&speeds),
      "shaft speeds in Hz, comma-separated; one run per machine and speed (default: each "
      "machine's own speed; the reference machine's is 24.67 Hz)")(
      "windows", po::value(&windows)->default_value(windows), "windows per run")(
      "seed", po::value(&seed)->default_value(seed),
      "noise seed of the first run; the next runs take seed+1, seed+2, ..")(
      "label", po::value(&label), "label column (default: the fault's name)");
  po::variables_map vm;
  if (!cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  const board::BoardProfile board = board_of(board_name);
  // No --speeds: each machine at its own speed (0 to the trainer's Scenario).
  const std::vector<float> speed_list =
      speeds.empty() ? std::vector<float>{0.0f} : parse_list<float>(speeds, "--speeds");
  const double end = vm.count("severity-end") ? severity_end : severity;
  check_simulator_values(board, speeds.empty() ? std::vector<float>{1480.0f / 60.0f} : speed_list,
                         {static_cast<float>(severity), static_cast<float>(end)}, ramp_s);
  std::vector<trainer::Scenario> scenarios;
  std::uint64_t next = seed;
  for (const std::uint64_t machine : parse_machines(machines)) {
    for (const float speed : speed_list) {
      trainer::Scenario s;
      s.machine = machine;
      s.fault = parse_fault(fault_name);
      s.start_severity = static_cast<float>(severity);
      s.end_severity = static_cast<float>(end);
      s.ramp_seconds = static_cast<float>(ramp_s);
      s.shaft_hz = speed;
      s.seed = next++;
      s.windows = windows;
      s.label = label;
      scenarios.push_back(s);
    }
  }
  const trainer::FeatureTable table = trainer::simulate(board, scenarios);
  trainer::write_csv(table, out_path);
  std::cout << out_path << ": " << table.rows() << " windows of " << table.width << " features ("
            << fault_name << ", seeds " << seed << ".." << next - 1 << ")\n";
  return 0;
}

int fit(int argc, char** argv) {
  std::vector<std::string> data;
  std::string out_dir, kind = "autoencoder", board_name = "native_sim", hidden = "24,8,24";
  trainer::FitOptions fit_options;
  std::size_t clusters = fit_options.kmeans.clusters;
  std::size_t epochs = fit_options.autoencoder.max_epochs;
  std::size_t patience = fit_options.autoencoder.patience;
  float quantile = fit_options.threshold_quantile;
  float margin = fit_options.threshold_margin;
  std::uint32_t seed = 1;
  std::string adaptation = "per-machine";
  po::options_description options("spindle-train fit options");
  options.add_options()("help,h", "print this help")(
      "data", po::value(&data)->required(),
      "feature CSV of healthy windows (repeat for several): from spindlectl datasets export "
      "--format csv or spindle-train generate")("out-dir,o", po::value(&out_dir)->required(),
                                                "directory to write the model into")(
      "kind", po::value(&kind)->default_value(kind), "autoencoder or kmeans")(
      "board", po::value(&board_name)->default_value(board_name),
      "board profile the model must fit (arena, slot, model RAM)")(
      "hidden", po::value(&hidden)->default_value(hidden), "autoencoder hidden layer widths")(
      "clusters", po::value(&clusters)->default_value(clusters), "k-means clusters")(
      "epochs", po::value(&epochs)->default_value(epochs), "most autoencoder epochs")(
      "patience", po::value(&patience)->default_value(patience),
      "epochs without a better validation loss before training stops")(
      "threshold-quantile", po::value(&quantile)->default_value(quantile),
      "quantile of the held-out healthy scores the threshold starts from")(
      "threshold-margin", po::value(&margin)->default_value(margin),
      "factor on that quantile (>= 1)")("seed", po::value(&seed)->default_value(seed),
                                        "seed of the split, the weights and the shuffles")(
      "adaptation", po::value(&adaptation)->default_value(adaptation),
      "per-machine (standardize each machine by its own first windows; the node calibrates) "
      "or none (one standardization for the fleet)")(
      "normalization-windows",
      po::value(&fit_options.normalization_windows)
          ->default_value(fit_options.normalization_windows),
      "per machine: windows a node learns its machine's feature statistics over")(
      "threshold-windows",
      po::value(&fit_options.threshold_windows)->default_value(fit_options.threshold_windows),
      "per machine: windows a node then scores to set its threshold")(
      "validation-machines",
      po::value(&fit_options.validation_machines)->default_value(fit_options.validation_machines),
      "per machine: whole machines held out for validation (0: 15 % of them when >= 3)")(
      "bound-factor", po::value(&fit_options.bound_factor)->default_value(fit_options.bound_factor),
      "per machine: a node's threshold stays within the machines' lowest / F and highest * F");
  po::variables_map vm;
  if (!cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  if (kind == "autoencoder") {
    fit_options.type = trainer::ModelType::kAutoencoder;
  } else if (kind == "kmeans") {
    fit_options.type = trainer::ModelType::kCentroids;
  } else {
    throw UsageError("--kind '" + kind + "': autoencoder or kmeans");
  }
  if (adaptation == "per-machine") {
    fit_options.adaptation = trainer::Adaptation::kPerMachine;
  } else if (adaptation == "none") {
    fit_options.adaptation = trainer::Adaptation::kNone;
  } else {
    throw UsageError("--adaptation '" + adaptation + "': per-machine or none");
  }
  if (!(quantile > 0.0f && quantile <= 1.0f)) throw UsageError("--threshold-quantile: 0 < q <= 1");
  if (!(margin >= 1.0f) || !std::isfinite(margin)) throw UsageError("--threshold-margin: >= 1");
  if (epochs == 0) throw UsageError("--epochs: at least 1");
  if (clusters == 0 || clusters > modelkit::kMaxCentroids) {
    throw UsageError("--clusters: 1.." + std::to_string(modelkit::kMaxCentroids));
  }
  fit_options.autoencoder.hidden = parse_list<std::size_t>(hidden, "--hidden");
  const board::BoardProfile board = board_of(board_name);
  trainer::FeatureTable healthy;
  // A device that comes again in a later data set (captured again after a change: another
  // speed, another mounting) is another calibration of it: "<device>#<n>" for the n-th file.
  std::set<std::string> devices_before;
  for (std::size_t file = 0; file < data.size(); ++file) {
    const std::string& path = data[file];
    trainer::FeatureTable table = trainer::read_csv(path);
    std::set<std::string> devices_here;
    for (std::size_t r = 0; r < table.rows(); ++r) {
      const std::string& fault = table.info[r].fault;
      if (fault != "none" && fault != "unknown") {
        throw std::runtime_error(path + ": window " + std::to_string(r + 1) + " is labelled " +
                                 fault + "; train on healthy windows only");
      }
      std::string& device = table.info[r].device;
      devices_here.insert(device);
      if (devices_before.count(device) != 0) device.append(1, '#').append(std::to_string(file + 1));
    }
    devices_before.insert(devices_here.begin(), devices_here.end());
    healthy.append(table);
  }
  // The widths are the data's and --hidden's; the rule is modelkit's.
  std::vector<std::size_t> widths{healthy.width};
  widths.insert(widths.end(), fit_options.autoencoder.hidden.begin(),
                fit_options.autoencoder.hidden.end());
  widths.push_back(healthy.width);
  if (const auto problem = modelkit::shape_problem(widths);
      fit_options.type == trainer::ModelType::kAutoencoder && !problem.empty()) {
    throw UsageError("--hidden " + hidden + ": " + std::string(problem));
  }
  fit_options.autoencoder.max_epochs = epochs;
  fit_options.autoencoder.patience = patience;
  fit_options.kmeans.clusters = clusters;
  fit_options.threshold_quantile = quantile;
  fit_options.threshold_margin = margin;
  fit_options.seed = seed;
  trainer::TrainedModel model = trainer::fit(healthy, fit_options);
  model.record.board = std::string(board.name());
  model.record.sources = data;
  if (model.arena_bytes > board.model_arena_bytes) {
    throw std::runtime_error("the model needs " + std::to_string(model.arena_bytes) +
                             " arena bytes; board " + model.record.board + " has " +
                             std::to_string(board.model_arena_bytes) +
                             ": use narrower --hidden layers");
  }
  if (model.container.size() > board.model_capacity()) {
    throw std::runtime_error("the model is " + std::to_string(model.container.size()) +
                             " bytes; board " + model.record.board + " takes at most " +
                             std::to_string(board.model_capacity()) +
                             ": use narrower --hidden layers or fewer --clusters");
  }
  trainer::save(model, out_dir);
  std::cout << out_dir << ": " << trainer::type_name(model.type) << ", " << model.container.size()
            << " bytes, arena " << model.arena_bytes << " bytes, threshold " << model.threshold
            << "\n  " << model.record.train_windows << " training / "
            << model.record.validation_windows << " validation / "
            << model.record.calibration_windows << " calibration windows; ";
  if (model.type == trainer::ModelType::kAutoencoder) {
    std::cout << model.record.epochs << " epochs, best " << model.record.best_epoch
              << " (validation loss " << model.record.best_validation_loss << ")";
  } else {
    std::cout << model.record.epochs << " Lloyd iterations, inertia "
              << model.record.best_validation_loss;
  }
  std::cout << "\n  held-out healthy windows of the training machines over the threshold: "
            << 100.0f * model.record.calibration_false_alarm_rate << "%\n";
  if (model.has_calibration) {
    std::cout << "  per machine, calibrated as a node would (" << fit_options.normalization_windows
              << " + " << fit_options.threshold_windows
              << " windows), then false alarms on its remaining windows:\n";
    float worst = 0.0f;
    bool any_held = false;
    for (const trainer::MachineCalibration& c : model.record.machine_calibrations) {
      std::cout << "    " << c.device << (c.held_out ? " (held out)" : "") << ": threshold "
                << c.threshold << ", " << 100.0f * c.false_alarm_rate << "% of " << c.test_windows
                << " windows\n";
      if (c.held_out) {
        any_held = true;
        worst = std::max(worst, c.false_alarm_rate);
      }
    }
    if (any_held) {
      std::cout << "  held-out machines, worst: " << 100.0f * worst << "% false alarms\n";
    }
    std::cout << "  fleet threshold " << model.threshold << "; a node's own within "
              << model.calibration.threshold_min << " .. " << model.calibration.threshold_max
              << "\n";
  }
  return 0;
}

int evaluate(int argc, char** argv) {
  std::string model_dir, board_name, machines, severities;
  std::vector<std::string> data;
  trainer::EvaluationOptions eval;
  bool require = false;
  po::options_description options("spindle-train evaluate options");
  options.add_options()("help,h", "print this help")(
      "model-dir,m", po::value(&model_dir)->required(), "directory spindle-train fit wrote")(
      "board", po::value(&board_name),
      "board profile to simulate (default: the one the model was trained for)")(
      "seed-base", po::value(&eval.seed_base)->default_value(eval.seed_base),
      "first noise seed; scenario i uses seed-base + i (refused if training used it)")(
      "machines", po::value(&machines),
      "simulated machines never trained on, comma-separated or a range A-B (default "
      "1001-1020)")("data", po::value(&data),
                    "captured feature CSV instead (repeat for several): one machine per device, "
                    "healthy windows (fault none) first, and labelled fault windows")(
      "severities", po::value(&severities), "fault severities (default 0.1,0.3)")(
      "moderate", po::value(&eval.moderate_severity)->default_value(eval.moderate_severity),
      "severity the targets are checked at (one of --severities)")(
      "healthy-windows", po::value(&eval.healthy_windows)->default_value(eval.healthy_windows),
      "healthy windows per machine after its calibration period")(
      "fault-windows", po::value(&eval.fault_windows)->default_value(eval.fault_windows),
      "windows per machine, fault and severity")(
      "ramp-s", po::value(&eval.ramp_seconds)->default_value(eval.ramp_seconds),
      "seconds over which the detection-delay runs ramp a fault from 0 to 1 (0: none)")(
      "require-targets", po::bool_switch(&require),
      "exit 3 unless every machine meets the targets with adaptation (ROC-AUC >= 0.97 at "
      "--moderate, <= 1% false alarms)");
  po::variables_map vm;
  if (!cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  if (!machines.empty()) eval.machines = parse_machines(machines);
  if (!machines.empty() && !data.empty()) throw UsageError("--machines or --data, not both");
  for (const std::string& path : data)
    eval.data.push_back(trainer::read_csv(path));
  if (!severities.empty()) eval.severities = parse_list<float>(severities, "--severities");
  if (eval.healthy_windows == 0) throw UsageError("--healthy-windows: at least 1");
  const trainer::TrainedModel model = trainer::load(model_dir);
  const board::BoardProfile board = board_of(board_name.empty() ? model.record.board : board_name);
  // The detection-delay runs ramp every fault from 0 to 1.
  std::vector<float> simulated = eval.severities;
  simulated.insert(simulated.end(), {0.0f, 1.0f});
  check_simulator_values(board, {1480.0f / 60.0f}, simulated, eval.ramp_seconds);
  const trainer::Evaluation e = trainer::evaluate(model, board, eval);
  trainer::print_table(e, std::cout);
  const std::string path = model_dir + "/evaluation.json";
  std::ostringstream json;
  json << trainer::to_json(e);
  cli::write_text_file(path, json.str());
  std::cout << "written: " << path << "\n";
  return require && !e.targets_met ? 3 : 0;
}

int run(int argc, char** argv) {
  if (argc < 2) throw UsageError(kUsage);
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage << "\n";
    return 0;
  }
  if (command == "generate") return generate(argc - 1, argv + 1);
  if (command == "fit") return fit(argc - 1, argv + 1);
  if (command == "evaluate") return evaluate(argc - 1, argv + 1);
  throw UsageError("unknown command '" + command + "'\n" + kUsage);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::guarded_main("spindle-train", [&] {
    try {
      return run(argc, argv);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(e.what());  // the trainer's failure: exit 1, not 2 (see above)
    }
  });
}
