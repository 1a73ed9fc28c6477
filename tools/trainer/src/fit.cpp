#include "spindle/trainer/fit.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>

#include "spindle/calibration/calibrator.hpp"
#include "spindle/calibration/normalization.hpp"
#include "spindle/trainer/machine_data.hpp"

namespace spindle::trainer {
namespace {

constexpr std::size_t kMinWindows = 20;

// Mean and stddev of every column (population stddev).
std::vector<manifest::FeatureBaseline> column_stats(const FeatureTable& t) {
  std::vector<manifest::FeatureBaseline> stats(t.width);
  for (std::size_t f = 0; f < t.width; ++f) {
    double sum = 0.0;
    double sum2 = 0.0;
    for (std::size_t r = 0; r < t.rows(); ++r) {
      const double v = t.row(r)[f];
      sum += v;
      sum2 += v * v;
    }
    const double n = static_cast<double>(t.rows());
    const double mean = sum / n;
    stats[f].mean = static_cast<float>(mean);
    stats[f].stddev = static_cast<float>(std::sqrt(std::max(0.0, sum2 / n - mean * mean)));
  }
  return stats;
}

// A feature that barely moves on healthy machines would get an enormous inverse stddev, and
// any change in it (within sensor noise) would look like a fault: the floor is 1 % of the
// feature's magnitude, and never below 1e-3.
modelkit::Standardization standardization_of(const FeatureTable& t) {
  modelkit::Standardization s;
  for (const manifest::FeatureBaseline& b : column_stats(t)) {
    const float floor = std::max(1e-3f, 0.01f * std::abs(b.mean));
    s.mean.push_back(b.mean);
    s.inv_std.push_back(1.0f / std::max(b.stddev, floor));
  }
  return s;
}

}  // namespace

float quantile(std::vector<float> values, float q) {
  if (values.empty() || !(q >= 0.0f && q <= 1.0f)) {
    throw std::invalid_argument("a quantile needs values and q in 0..1");
  }
  std::sort(values.begin(), values.end());
  const double at = static_cast<double>(q) * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = at - static_cast<double>(lo);
  return values[lo] + static_cast<float>(frac) * (values[hi] - values[lo]);
}

namespace {

// Training on windows as they are (already standardized per machine, or raw): split,
// train, quantize, threshold from the calibration split.
TrainedModel fit_windows(const FeatureTable& healthy, const FitOptions& options) {
  if (healthy.rows() < kMinWindows) {
    throw std::invalid_argument(std::to_string(healthy.rows()) +
                                " windows: training needs at least " + std::to_string(kMinWindows) +
                                " healthy windows");
  }
  if (!(options.threshold_quantile > 0.0f && options.threshold_quantile <= 1.0f) ||
      !(options.threshold_margin >= 1.0f) || !std::isfinite(options.threshold_margin)) {
    throw std::invalid_argument("threshold quantile must be in (0, 1] and margin >= 1");
  }
  std::vector<std::size_t> order(healthy.rows());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937 rng(options.seed);
  std::shuffle(order.begin(), order.end(), rng);
  const std::size_t n_val = std::max<std::size_t>(1, healthy.rows() * 15 / 100);
  const std::size_t n_cal = std::max<std::size_t>(1, healthy.rows() * 15 / 100);
  const std::size_t n_train = healthy.rows() - n_val - n_cal;
  const FeatureTable train =
      healthy.select({order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_train)});
  const FeatureTable validation =
      healthy.select({order.begin() + static_cast<std::ptrdiff_t>(n_train),
                      order.begin() + static_cast<std::ptrdiff_t>(n_train + n_val)});
  const FeatureTable calibration =
      healthy.select({order.begin() + static_cast<std::ptrdiff_t>(n_train + n_val), order.end()});

  const modelkit::Standardization standardization = standardization_of(train);
  TrainedModel model;
  model.type = options.type;
  model.record.train_windows = n_train;
  model.record.validation_windows = n_val;
  model.record.calibration_windows = n_cal;
  model.record.seed = options.seed;
  std::set<std::int64_t> seeds;
  for (const WindowInfo& i : healthy.info)
    seeds.insert(i.seed);
  model.record.seeds.assign(seeds.begin(), seeds.end());

  if (options.type == ModelType::kAutoencoder) {
    AutoencoderOptions ae = options.autoencoder;
    ae.seed = options.seed;
    TrainedAutoencoder trained = train_autoencoder(train, validation, standardization, ae);
    model.autoencoder = std::move(trained.model);
    model.record.epochs = trained.history.size();
    model.record.best_epoch = trained.best_epoch;
    model.record.best_validation_loss = trained.best_validation_loss;
    const auto calibrated = modelkit::calibrate(model.autoencoder, train.values);
    if (!calibrated.ok()) {
      throw std::invalid_argument(std::string("quantization calibration failed: ") +
                                  calibrated.status().name());
    }
    std::string problem;
    const auto packed = modelkit::pack_autoencoder(model.autoencoder, *calibrated, &problem);
    if (!packed.ok()) {
      throw std::invalid_argument("the packer refuses the trained autoencoder: " + problem + " (" +
                                  packed.status().name() + ")");
    }
    model.container = packed->container;
    model.arena_bytes = packed->arena_bytes;
  } else {
    KMeansOptions km = options.kmeans;
    km.seed = options.seed;
    // k-means has no epochs to stop early: the validation windows join the training set.
    FeatureTable km_train = train;
    km_train.append(validation);
    TrainedCentroids trained = train_kmeans(km_train, standardization, km);
    model.centroids = std::move(trained.model);
    model.record.train_windows += n_val;
    model.record.validation_windows = 0;
    model.record.epochs = trained.iterations;
    model.record.best_validation_loss = trained.inertia;
    float input_max_abs = 1e-6f;
    for (std::size_t r = 0; r < km_train.rows(); ++r) {
      for (const float v : modelkit::standardized(
               standardization, std::span<const float>(km_train.row(r), km_train.width)))
        input_max_abs = std::max(input_max_abs, std::abs(v));
    }
    const auto packed = modelkit::pack_centroids(model.centroids, input_max_abs);
    if (!packed.ok()) {
      throw std::invalid_argument(std::string("the packer refuses the trained centroids: ") +
                                  packed.status().name());
    }
    model.container = packed->container;
    model.arena_bytes = packed->arena_bytes;
  }

  Int8Scorer scorer(model.container);
  std::vector<float> scores;
  for (std::size_t r = 0; r < calibration.rows(); ++r)
    scores.push_back(scorer.score({calibration.row(r), calibration.width}));
  model.threshold = quantile(scores, options.threshold_quantile) * options.threshold_margin;
  const auto above =
      std::count_if(scores.begin(), scores.end(), [&](float s) { return s > model.threshold; });
  model.record.calibration_false_alarm_rate =
      static_cast<float>(above) / static_cast<float>(scores.size());
  model.record.threshold_quantile = options.threshold_quantile;
  model.record.threshold_margin = options.threshold_margin;
  model.baseline = column_stats(healthy);
  return model;
}

TrainedModel fit_per_machine(const FeatureTable& healthy, const FitOptions& options) {
  const std::uint32_t period = options.normalization_windows + options.threshold_windows;
  if (options.normalization_windows < manifest::kMinCalibrationWindows ||
      options.threshold_windows < manifest::kMinCalibrationWindows ||
      period > manifest::kMaxCalibrationWindows ||
      manifest::calibration_tail(options.threshold_windows, options.threshold_quantile) >
          manifest::kMaxCalibrationTail ||
      !(options.bound_factor >= 1.0f)) {
    throw std::invalid_argument(
        "calibration period: normalization and threshold windows of at least " +
        std::to_string(manifest::kMinCalibrationWindows) + ", a quantile that keeps at most " +
        std::to_string(manifest::kMaxCalibrationTail) + " scores, bound factor >= 1");
  }
  const std::vector<Machine> machines = group_by_machine(healthy);
  for (const Machine& m : machines) {
    if (m.rows.size() < period) {
      throw std::invalid_argument("machine " + m.device + " has " + std::to_string(m.rows.size()) +
                                  " windows; per-machine training needs at least its calibration "
                                  "period, " +
                                  std::to_string(period) + " (--calibration-windows)");
    }
  }
  // Whole machines held out, drawn with the trainer's seed.
  std::vector<std::size_t> order(machines.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937 rng(options.seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::size_t held = options.validation_machines;
  if (held == 0 && machines.size() >= 3)
    held = std::max<std::size_t>(1, machines.size() * 15 / 100);
  if (held >= machines.size()) {
    throw std::invalid_argument(std::to_string(held) + " validation machines leave none of the " +
                                std::to_string(machines.size()) + " to train on");
  }
  std::vector<bool> held_out(machines.size(), false);
  for (std::size_t i = 0; i < held; ++i)
    held_out[order[i]] = true;

  FeatureTable train;
  train.width = healthy.width;
  std::vector<calibration::Normalization> normalizations;
  for (std::size_t m = 0; m < machines.size(); ++m) {
    normalizations.push_back(
        machine_normalization(healthy, machines[m], options.normalization_windows));
    if (!held_out[m]) train.append(standardize(healthy, machines[m], normalizations.back()));
  }
  TrainedModel model = fit_windows(train, options);
  model.baseline = column_stats(healthy);  // raw, over every machine: the fleet's
  model.record.adaptation = "per-machine";
  std::set<std::int64_t> seeds;
  for (const WindowInfo& i : healthy.info)
    seeds.insert(i.seed);
  model.record.seeds.assign(seeds.begin(), seeds.end());

  // Every machine calibrates as a node would; the held-out ones are the validation.
  manifest::Calibration unbounded;
  unbounded.normalization_windows = options.normalization_windows;
  unbounded.threshold_windows = options.threshold_windows;
  unbounded.threshold_quantile = options.threshold_quantile;
  unbounded.threshold_margin = options.threshold_margin;
  unbounded.threshold_min = 1e-30f;
  unbounded.threshold_max = 3e38f;
  Int8Scorer scorer(model.container);
  std::vector<float> thresholds;
  for (std::size_t m = 0; m < machines.size(); ++m) {
    const MachineRun run = run_calibrated(healthy, machines[m], unbounded, scorer);
    MachineCalibration c;
    c.device = machines[m].device;
    c.held_out = held_out[m];
    c.threshold = run.threshold;
    c.test_windows = run.test_scores.size();
    c.false_alarm_rate = fraction_above(run.test_scores, run.threshold);
    model.record.machine_calibrations.push_back(c);
    model.record.machines.push_back(c.device);
    thresholds.push_back(run.threshold);
  }
  const auto [low, high] = std::minmax_element(thresholds.begin(), thresholds.end());
  model.has_calibration = true;
  model.calibration = unbounded;
  model.calibration.threshold_min = *low / options.bound_factor;
  model.calibration.threshold_max = *high * options.bound_factor;
  model.threshold = quantile(thresholds, 0.5f);
  return model;
}

}  // namespace

TrainedModel fit(const FeatureTable& healthy, const FitOptions& options) {
  if (options.adaptation == Adaptation::kNone) return fit_windows(healthy, options);
  return fit_per_machine(healthy, options);
}

}  // namespace spindle::trainer
