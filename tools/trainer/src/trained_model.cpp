#include "spindle/trainer/trained_model.hpp"

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "spindle/cli/files.hpp"
#include "spindle/inference/arena.hpp"

namespace spindle::trainer {
namespace {

using nlohmann::json;

json standardization_json(const modelkit::Standardization& s) {
  return {{"mean", s.mean}, {"inv_std", s.inv_std}};
}

modelkit::Standardization standardization_from(const json& j) {
  return {j.at("mean").get<std::vector<float>>(), j.at("inv_std").get<std::vector<float>>()};
}

json machine_calibrations_json(const std::vector<MachineCalibration>& list) {
  json out = json::array();
  for (const MachineCalibration& c : list) {
    out.push_back({{"device", c.device},
                   {"held_out", c.held_out},
                   {"threshold", c.threshold},
                   {"test_windows", c.test_windows},
                   {"false_alarm_rate", c.false_alarm_rate}});
  }
  return out;
}

json calibration_json(const manifest::Calibration& c) {
  return {{"normalization_windows", c.normalization_windows},
          {"threshold_windows", c.threshold_windows},
          {"threshold_quantile", c.threshold_quantile},
          {"threshold_margin", c.threshold_margin},
          {"threshold_min", c.threshold_min},
          {"threshold_max", c.threshold_max}};
}

manifest::Calibration calibration_from(const json& j) {
  manifest::Calibration c;
  c.normalization_windows = j.at("normalization_windows").get<std::uint32_t>();
  c.threshold_windows = j.at("threshold_windows").get<std::uint32_t>();
  c.threshold_quantile = j.at("threshold_quantile").get<float>();
  c.threshold_margin = j.at("threshold_margin").get<float>();
  c.threshold_min = j.at("threshold_min").get<float>();
  c.threshold_max = j.at("threshold_max").get<float>();
  return c;
}

json record_json(const TrainingRecord& r) {
  return {{"board", r.board},
          {"train_windows", r.train_windows},
          {"validation_windows", r.validation_windows},
          {"calibration_windows", r.calibration_windows},
          {"seeds", r.seeds},
          {"sources", r.sources},
          {"seed", r.seed},
          {"epochs", r.epochs},
          {"best_epoch", r.best_epoch},
          {"best_validation_loss", r.best_validation_loss},
          {"threshold_quantile", r.threshold_quantile},
          {"threshold_margin", r.threshold_margin},
          {"calibration_false_alarm_rate", r.calibration_false_alarm_rate},
          {"adaptation", r.adaptation},
          {"machines", r.machines},
          {"machine_calibrations", machine_calibrations_json(r.machine_calibrations)}};
}

TrainingRecord record_from(const json& j) {
  TrainingRecord r;
  r.board = j.at("board").get<std::string>();
  r.train_windows = j.at("train_windows").get<std::size_t>();
  r.validation_windows = j.at("validation_windows").get<std::size_t>();
  r.calibration_windows = j.at("calibration_windows").get<std::size_t>();
  r.seeds = j.at("seeds").get<std::vector<std::int64_t>>();
  r.sources = j.at("sources").get<std::vector<std::string>>();
  r.seed = j.at("seed").get<std::uint32_t>();
  r.epochs = j.at("epochs").get<std::size_t>();
  r.best_epoch = j.at("best_epoch").get<std::size_t>();
  r.best_validation_loss = j.at("best_validation_loss").get<float>();
  r.threshold_quantile = j.at("threshold_quantile").get<float>();
  r.threshold_margin = j.at("threshold_margin").get<float>();
  r.calibration_false_alarm_rate = j.at("calibration_false_alarm_rate").get<float>();
  // Models trained before per-machine adaptation have none of these.
  r.adaptation = j.value("adaptation", std::string("none"));
  r.machines = j.value("machines", std::vector<std::string>{});
  for (const json& c : j.value("machine_calibrations", json::array())) {
    r.machine_calibrations.push_back({c.at("device").get<std::string>(),
                                      c.at("held_out").get<bool>(), c.at("threshold").get<float>(),
                                      c.at("test_windows").get<std::size_t>(),
                                      c.at("false_alarm_rate").get<float>()});
  }
  return r;
}

}  // namespace

std::string calibration_file(const manifest::Calibration& c) {
  std::ostringstream out;
  out.precision(9);
  out << "# the node's per-machine calibration (docs/firmware/calibration.md), for spindlectl "
         "pack --calibration\n"
      << "normalization_windows=" << c.normalization_windows << '\n'
      << "threshold_windows=" << c.threshold_windows << '\n'
      << "threshold_quantile=" << c.threshold_quantile << '\n'
      << "threshold_margin=" << c.threshold_margin << '\n'
      << "threshold_min=" << c.threshold_min << '\n'
      << "threshold_max=" << c.threshold_max << '\n';
  return out.str();
}

std::string type_name(ModelType type) {
  return type == ModelType::kAutoencoder ? "autoencoder" : "kmeans";
}

float float_score(const TrainedModel& model, std::span<const float> features) {
  const Result<float> score = model.type == ModelType::kAutoencoder
                                  ? modelkit::reconstruction_error(model.autoencoder, features)
                                  : modelkit::nearest_distance(model.centroids, features);
  if (!score.ok()) {
    throw std::invalid_argument(std::string("the float model cannot score the window: ") +
                                score.status().name());
  }
  return *score;
}

Int8Scorer::Int8Scorer(const std::vector<std::uint8_t>& container) : container_(container) {
  const auto bytes = inference::required_arena_bytes(container_);
  if (!bytes.ok()) {
    throw std::invalid_argument(std::string("the runtime refuses the model: ") +
                                bytes.status().name());
  }
  arena_.resize(*bytes + inference::Arena::kAlignment);
  if (const Status s = interpreter_.load(container_, arena_); !s.ok()) {
    throw std::invalid_argument(std::string("the runtime refuses the model: ") + s.name());
  }
}

float Int8Scorer::score(std::span<const float> features) {
  float score = 0.0f;
  if (const Status s = interpreter_.invoke(features, &score); !s.ok()) {
    throw std::invalid_argument(std::string("the runtime cannot score the window: ") + s.name());
  }
  return score;
}

Int8Scorer::SelfTest Int8Scorer::self_test(std::span<const float> features) {
  (void)score(features);
  SelfTest test;
  const auto input = interpreter_.int8_input();
  test.input.assign(input.begin(), input.end());
  // Run from the int8 entry, as the node's self-test does, and keep what it produced.
  if (const Status s = interpreter_.invoke_int8(test.input); !s.ok()) {
    throw std::invalid_argument(std::string("the runtime cannot run a self-test: ") + s.name());
  }
  const auto output = interpreter_.int8_output();
  test.output.assign(output.begin(), output.end());
  return test;
}

void save(const TrainedModel& model, const std::string& dir) {
  std::filesystem::create_directories(dir);
  cli::write_file(dir + "/model.spmc", model.container);
  std::ostringstream threshold;
  threshold.precision(9);
  threshold << model.threshold << '\n';
  cli::write_text_file(dir + "/threshold", threshold.str());
  std::ostringstream baseline;
  baseline.precision(9);
  baseline << "# mean,stddev of each raw feature over the healthy training windows, in feature "
              "order (x_rms .. z_band7)\n";
  for (const manifest::FeatureBaseline& b : model.baseline)
    baseline << b.mean << ',' << b.stddev << '\n';
  cli::write_text_file(dir + "/baseline.csv", baseline.str());
  if (model.has_calibration) {
    cli::write_text_file(dir + "/calibration", calibration_file(model.calibration));
  }

  json j = {{"kind", type_name(model.type)},
            {"threshold", model.threshold},
            {"container_bytes", model.container.size()},
            {"arena_bytes", model.arena_bytes},
            {"training", record_json(model.record)}};
  if (model.has_calibration) j["calibration"] = calibration_json(model.calibration);
  json baseline_pairs = json::array();
  for (const manifest::FeatureBaseline& b : model.baseline)
    baseline_pairs.push_back({b.mean, b.stddev});
  j["baseline"] = baseline_pairs;
  if (model.type == ModelType::kAutoencoder) {
    json layers = json::array();
    for (const modelkit::DenseLayer& l : model.autoencoder.layers) {
      layers.push_back({{"in", l.in}, {"out", l.out}, {"weights", l.weights}, {"bias", l.bias}});
    }
    j["standardization"] = standardization_json(model.autoencoder.standardization);
    j["layers"] = layers;
  } else {
    j["standardization"] = standardization_json(model.centroids.standardization);
    j["depth"] = model.centroids.depth;
    j["centroids"] = model.centroids.centroids;
  }
  cli::write_text_file(dir + "/model.json", j.dump(1) + "\n");
}

TrainedModel load(const std::string& dir) {
  TrainedModel model;
  const std::string json_path = dir + "/model.json";
  const std::vector<std::uint8_t> text = cli::read_file(json_path);
  try {
    const json j = json::parse(text.begin(), text.end());
    const std::string kind = j.at("kind").get<std::string>();
    if (kind == "autoencoder") {
      model.type = ModelType::kAutoencoder;
      model.autoencoder.standardization = standardization_from(j.at("standardization"));
      for (const json& l : j.at("layers")) {
        model.autoencoder.layers.push_back(
            {l.at("in").get<std::size_t>(), l.at("out").get<std::size_t>(),
             l.at("weights").get<std::vector<float>>(), l.at("bias").get<std::vector<float>>()});
      }
    } else if (kind == "kmeans") {
      model.type = ModelType::kCentroids;
      model.centroids.standardization = standardization_from(j.at("standardization"));
      model.centroids.depth = j.at("depth").get<std::size_t>();
      model.centroids.centroids = j.at("centroids").get<std::vector<float>>();
    } else {
      throw std::invalid_argument("kind '" + kind + "' is neither autoencoder nor kmeans");
    }
    model.threshold = j.at("threshold").get<float>();
    for (const json& pair : j.value("baseline", json::array()))
      model.baseline.push_back({pair.at(0).get<float>(), pair.at(1).get<float>()});
    if (j.contains("calibration")) {
      model.has_calibration = true;
      model.calibration = calibration_from(j.at("calibration"));
    }
    model.arena_bytes = j.at("arena_bytes").get<std::uint32_t>();
    model.record = record_from(j.at("training"));
  } catch (const json::exception& e) {
    throw std::invalid_argument(json_path + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(json_path + ": " + e.what());
  }
  model.container = cli::read_file(dir + "/model.spmc");
  return model;
}

}  // namespace spindle::trainer
