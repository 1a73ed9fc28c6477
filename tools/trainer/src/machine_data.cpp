#include "spindle/trainer/machine_data.hpp"

#include <algorithm>
#include <map>
#include <span>
#include <stdexcept>

#include "spindle/features/running_stats.hpp"

namespace spindle::trainer {
namespace {

std::span<const float> row_of(const FeatureTable& table, std::size_t r) {
  return {table.row(r), table.width};
}

void check_length(const Machine& machine, std::size_t needed) {
  if (machine.rows.size() < needed) {
    throw std::invalid_argument("machine " + machine.device + " has " +
                                std::to_string(machine.rows.size()) +
                                " windows; its calibration period needs " + std::to_string(needed));
  }
}

}  // namespace

std::vector<Machine> group_by_machine(const FeatureTable& table) {
  std::vector<Machine> machines;
  std::map<std::string, std::size_t> index;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::string& device = table.info[r].device;
    const auto [it, added] = index.emplace(device, machines.size());
    if (added) machines.push_back({device, {}});
    machines[it->second].rows.push_back(r);
  }
  return machines;
}

calibration::Normalization machine_normalization(const FeatureTable& table, const Machine& machine,
                                                 std::uint32_t windows) {
  check_length(machine, windows);
  auto created = features::RunningStats::create(table.width);
  if (!created.ok()) throw std::invalid_argument("too many features for a normalization");
  features::RunningStats stats = std::move(created).value();
  for (std::uint32_t i = 0; i < windows; ++i) {
    if (const Status s = stats.add(row_of(table, machine.rows[i])); !s.ok()) {
      throw std::invalid_argument("machine " + machine.device + ", window " + std::to_string(i) +
                                  ": " + s.name());
    }
  }
  const auto n = calibration::Normalization::from_stats(stats);
  if (!n.ok()) throw std::invalid_argument("machine " + machine.device + ": no statistics");
  return *n;
}

FeatureTable standardize(const FeatureTable& table, const Machine& machine,
                         const calibration::Normalization& normalization) {
  FeatureTable out = table.select(machine.rows);
  for (std::size_t r = 0; r < out.rows(); ++r) {
    const std::span<float> row(out.values.data() + r * out.width, out.width);
    if (!normalization.apply(row, row).ok()) throw std::invalid_argument("width mismatch");
  }
  return out;
}

std::vector<float> score_rows(const FeatureTable& table, const std::vector<std::size_t>& rows,
                              const calibration::Normalization* normalization, Int8Scorer& scorer) {
  std::vector<float> scores;
  scores.reserve(rows.size());
  std::vector<float> input(table.width);
  for (const std::size_t r : rows) {
    if (normalization == nullptr) {
      scores.push_back(scorer.score(row_of(table, r)));
      continue;
    }
    if (!normalization->apply(row_of(table, r), input).ok()) {
      throw std::invalid_argument("width mismatch");
    }
    scores.push_back(scorer.score(input));
  }
  return scores;
}

MachineRun run_calibrated(const FeatureTable& table, const Machine& machine,
                          const manifest::Calibration& params, Int8Scorer& scorer) {
  const std::size_t period = params.normalization_windows + params.threshold_windows;
  check_length(machine, period);
  auto begun = calibration::Calibrator::begin(params, table.width, 1);
  if (!begun.ok()) {
    throw std::invalid_argument(std::string("the node's calibration refuses the model's period: ") +
                                begun.status().name());
  }
  calibration::Calibrator calibrator = std::move(begun).value();
  std::vector<float> input(table.width);
  for (std::size_t i = 0; i < period; ++i) {
    const std::span<const float> raw = row_of(table, machine.rows[i]);
    float score = 0.0f;
    if (calibrator.phase() == calibration::Phase::kThresholding) {
      (void)calibrator.progress().normalization.apply(raw, input);
      score = scorer.score(input);
    }
    const auto added = calibrator.add(raw, score);
    if (!added.ok()) {
      throw std::invalid_argument("machine " + machine.device + ", window " + std::to_string(i) +
                                  ": the calibration refuses it (" + added.status().name() + ")");
    }
  }
  MachineRun run;
  run.threshold = calibrator.progress().threshold;
  run.clamp = calibrator.progress().clamp;
  run.normalization = calibrator.progress().normalization;
  run.test_rows.assign(machine.rows.begin() + static_cast<std::ptrdiff_t>(period),
                       machine.rows.end());
  run.test_scores = score_rows(table, run.test_rows, &run.normalization, scorer);
  return run;
}

float fraction_above(const std::vector<float>& scores, float threshold) {
  if (scores.empty()) return 0.0f;
  const auto n =
      std::count_if(scores.begin(), scores.end(), [&](float v) { return v > threshold; });
  return static_cast<float>(n) / static_cast<float>(scores.size());
}

}  // namespace spindle::trainer
