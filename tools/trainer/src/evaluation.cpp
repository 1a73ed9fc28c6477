#include "spindle/trainer/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <stdexcept>

#include "spindle/trainer/fit.hpp"
#include "spindle/trainer/simulated_data.hpp"

namespace spindle::trainer {
namespace {

struct Scored {
  std::vector<float> int8;
  std::vector<float> real;  // float model
};

Scored score_all(const TrainedModel& model, Int8Scorer& scorer, const FeatureTable& table) {
  Scored s;
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const std::span<const float> x(table.row(r), table.width);
    s.int8.push_back(scorer.score(x));
    s.real.push_back(float_score(model, x));
  }
  return s;
}

float rate_above(const std::vector<float>& scores, float threshold) {
  if (scores.empty()) return 0.0f;
  const auto n =
      std::count_if(scores.begin(), scores.end(), [&](float v) { return v > threshold; });
  return static_cast<float>(n) / static_cast<float>(scores.size());
}

}  // namespace

float roc_auc(const std::vector<float>& positive, const std::vector<float>& negative) {
  if (positive.empty() || negative.empty()) {
    throw std::invalid_argument("ROC-AUC needs positive and negative scores");
  }
  // Rank all scores together (average ranks for ties): AUC = (R+ - n+(n+ + 1)/2) / (n+ n-).
  std::vector<std::pair<float, bool>> all;
  for (const float v : positive)
    all.emplace_back(v, true);
  for (const float v : negative)
    all.emplace_back(v, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0.0;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].first == all[i].first)
      ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2.0 + 1.0;
    for (std::size_t k = i; k < j; ++k)
      if (all[k].second) rank_sum += rank;
    i = j;
  }
  const double np = static_cast<double>(positive.size());
  const double nn = static_cast<double>(negative.size());
  return static_cast<float>((rank_sum - np * (np + 1.0) / 2.0) / (np * nn));
}

Evaluation evaluate(const TrainedModel& model, const board::BoardProfile& board,
                    const EvaluationOptions& options) {
  if (options.speeds_hz.empty() || options.healthy_windows == 0) {
    throw std::invalid_argument("the evaluation needs at least one speed and healthy windows");
  }
  Evaluation e;
  e.model_kind = type_name(model.type);
  e.board = std::string(board.name());
  e.container_bytes = model.container.size();
  e.arena_bytes = model.arena_bytes;
  e.threshold = model.threshold;
  e.moderate_severity = options.moderate_severity;

  std::uint64_t next_seed = options.seed_base;
  e.first_seed = next_seed;
  const std::set<std::int64_t> trained(model.record.seeds.begin(), model.record.seeds.end());
  const auto take_seed = [&] {
    const std::uint64_t seed = next_seed++;
    if (trained.count(static_cast<std::int64_t>(seed)) != 0) {
      throw std::invalid_argument("evaluation seed " + std::to_string(seed) +
                                  " was used in training: pick another --seed-base");
    }
    return seed;
  };

  Int8Scorer scorer(model.container);
  std::vector<float> healthy_int8;
  std::size_t agree = 0;
  std::size_t compared = 0;
  std::vector<float> relative_errors;
  // Score errors are taken on healthy windows, the range the int8 scales were calibrated
  // for: far past the threshold the int8 input saturates by design, and only the decision
  // matters there.
  const auto compare = [&](const Scored& s, bool healthy) {
    for (std::size_t i = 0; i < s.int8.size(); ++i) {
      if ((s.int8[i] > model.threshold) == (s.real[i] > model.threshold)) ++agree;
      ++compared;
      if (healthy) {
        relative_errors.push_back(std::abs(s.int8[i] - s.real[i]) /
                                  std::max(std::abs(s.real[i]), 1e-6f));
      }
    }
  };

  for (const float speed : options.speeds_hz) {
    Scenario scenario;
    scenario.shaft_hz = speed;
    scenario.seed = take_seed();
    scenario.windows = options.healthy_windows;
    const Scored s = score_all(model, scorer, simulate(board, {scenario}));
    compare(s, true);
    SpeedResult r;
    r.shaft_hz = speed;
    r.windows = s.int8.size();
    r.false_alarm_rate = rate_above(s.int8, model.threshold);
    r.score_p99 = quantile(s.int8, 0.99f);
    e.speeds.push_back(r);
    healthy_int8.insert(healthy_int8.end(), s.int8.begin(), s.int8.end());
  }
  e.healthy_false_alarm_rate = rate_above(healthy_int8, model.threshold);
  const auto false_alarms =
      static_cast<float>(e.healthy_false_alarm_rate) * static_cast<float>(healthy_int8.size());

  for (const sensor::Fault fault : options.faults) {
    for (const float severity : options.severities) {
      std::vector<Scenario> scenarios;
      for (const float speed : options.speeds_hz) {
        Scenario scenario;
        scenario.fault = fault;
        scenario.start_severity = severity;
        scenario.end_severity = severity;
        scenario.shaft_hz = speed;
        scenario.seed = take_seed();
        scenario.windows = options.fault_windows;
        scenarios.push_back(scenario);
      }
      const Scored s = score_all(model, scorer, simulate(board, scenarios));
      compare(s, false);
      FaultResult r;
      r.fault = std::string(sensor::fault_name(fault));
      r.severity = severity;
      r.windows = s.int8.size();
      r.roc_auc = roc_auc(s.int8, healthy_int8);
      r.recall = rate_above(s.int8, model.threshold);
      const float hits = r.recall * static_cast<float>(s.int8.size());
      r.precision = hits + false_alarms > 0.0f ? hits / (hits + false_alarms) : 0.0f;
      e.faults.push_back(r);
    }
  }

  const float window_seconds =
      static_cast<float>(board.window_length) / static_cast<float>(board.sensor_rate_hz);
  for (const sensor::Fault fault : options.faults) {
    Scenario scenario;
    scenario.fault = fault;
    scenario.end_severity = 1.0f;
    scenario.ramp_seconds = options.ramp_seconds;
    scenario.shaft_hz = options.ramp_speed_hz;
    scenario.seed = take_seed();
    scenario.windows = static_cast<std::size_t>(std::ceil(options.ramp_seconds / window_seconds));
    const FeatureTable table = simulate(board, {scenario});
    DelayResult d;
    d.fault = std::string(sensor::fault_name(fault));
    std::size_t run = 0;
    for (std::size_t r = 0; r < table.rows(); ++r) {
      run = scorer.score({table.row(r), table.width}) > model.threshold ? run + 1 : 0;
      if (run >= std::max<std::size_t>(options.consecutive, 1)) {
        d.detected = true;
        d.seconds = static_cast<float>(r + 1) * window_seconds;
        d.severity = table.info[r].severity;
        break;
      }
    }
    e.delays.push_back(d);
  }
  e.last_seed = next_seed - 1;

  e.decision_agreement =
      static_cast<float>(agree) / static_cast<float>(std::max<std::size_t>(compared, 1));
  e.median_relative_score_error = quantile(relative_errors, 0.5f);
  e.p99_relative_score_error = quantile(relative_errors, 0.99f);
  e.min_moderate_auc = 1.0f;
  bool any_moderate = false;
  for (const FaultResult& r : e.faults) {
    if (std::abs(r.severity - options.moderate_severity) < 1e-6f) {
      e.min_moderate_auc = std::min(e.min_moderate_auc, r.roc_auc);
      any_moderate = true;
    }
  }
  if (!any_moderate) e.min_moderate_auc = 0.0f;
  for (const SpeedResult& s : e.speeds)
    e.max_speed_false_alarm_rate = std::max(e.max_speed_false_alarm_rate, s.false_alarm_rate);
  e.targets_met =
      any_moderate && e.min_moderate_auc >= 0.97f && e.max_speed_false_alarm_rate <= 0.01f;
  return e;
}

void print_table(const Evaluation& e, std::ostream& out) {
  const auto flags = out.flags();
  out << std::fixed;
  out << "model " << e.model_kind << " for " << e.board << ": " << e.container_bytes
      << " bytes, arena " << e.arena_bytes << " bytes, threshold " << std::setprecision(4)
      << e.threshold << "\nevaluated on simulator seeds " << e.first_seed << ".." << e.last_seed
      << " (none used in training)\n\n";
  out << "fault           severity  windows  ROC-AUC  precision  recall\n";
  for (const FaultResult& r : e.faults) {
    out << std::left << std::setw(16) << r.fault << std::right << std::setprecision(2)
        << std::setw(8) << r.severity << std::setw(9) << r.windows << std::setprecision(4)
        << std::setw(9) << r.roc_auc << std::setprecision(3) << std::setw(11) << r.precision
        << std::setw(8) << r.recall << '\n';
  }
  out << "\nhealthy   shaft Hz  windows  false alarms  p99 score\n";
  for (const SpeedResult& s : e.speeds) {
    out << "          " << std::setprecision(1) << std::setw(8) << s.shaft_hz << std::setw(9)
        << s.windows << std::setprecision(2) << std::setw(13) << 100.0f * s.false_alarm_rate << '%'
        << std::setprecision(4) << std::setw(11) << s.score_p99 << '\n';
  }
  out << "          all speeds: " << std::setprecision(2) << 100.0f * e.healthy_false_alarm_rate
      << "% false alarms\n";
  out << "\ndetection delay (severity ramping 0 -> 1)\n";
  for (const DelayResult& d : e.delays) {
    out << "  " << std::left << std::setw(16) << d.fault << std::right;
    if (d.detected) {
      out << std::setprecision(1) << d.seconds << " s, at severity " << std::setprecision(3)
          << d.severity << '\n';
    } else {
      out << "not detected\n";
    }
  }
  out << "\nint8 vs float: decisions agree on " << std::setprecision(2)
      << 100.0f * e.decision_agreement << "% of windows; score error on healthy windows median "
      << 100.0f * e.median_relative_score_error << "%, p99 " << 100.0f * e.p99_relative_score_error
      << "%\n";
  out << "targets (ROC-AUC >= 0.97 at severity " << e.moderate_severity
      << ", false alarms <= 1% at every speed): " << (e.targets_met ? "met" : "NOT met")
      << " (min ROC-AUC " << std::setprecision(4) << e.min_moderate_auc << ", worst false alarms "
      << std::setprecision(2) << 100.0f * e.max_speed_false_alarm_rate << "%)\n";
  out.flags(flags);
}

std::string to_json(const Evaluation& e) {
  using nlohmann::json;
  json faults = json::array();
  for (const FaultResult& r : e.faults) {
    faults.push_back({{"fault", r.fault},
                      {"severity", r.severity},
                      {"windows", r.windows},
                      {"roc_auc", r.roc_auc},
                      {"precision", r.precision},
                      {"recall", r.recall}});
  }
  json speeds = json::array();
  for (const SpeedResult& s : e.speeds) {
    speeds.push_back({{"shaft_hz", s.shaft_hz},
                      {"windows", s.windows},
                      {"false_alarm_rate", s.false_alarm_rate},
                      {"score_p99", s.score_p99}});
  }
  json delays = json::array();
  for (const DelayResult& d : e.delays) {
    delays.push_back({{"fault", d.fault},
                      {"detected", d.detected},
                      {"seconds", d.seconds},
                      {"severity", d.severity}});
  }
  const json j = {{"model_kind", e.model_kind},
                  {"board", e.board},
                  {"container_bytes", e.container_bytes},
                  {"arena_bytes", e.arena_bytes},
                  {"threshold", e.threshold},
                  {"seeds", {e.first_seed, e.last_seed}},
                  {"moderate_severity", e.moderate_severity},
                  {"faults", faults},
                  {"healthy", speeds},
                  {"healthy_false_alarm_rate", e.healthy_false_alarm_rate},
                  {"detection_delay", delays},
                  {"int8_vs_float",
                   {{"decision_agreement", e.decision_agreement},
                    {"median_relative_score_error", e.median_relative_score_error},
                    {"p99_relative_score_error", e.p99_relative_score_error}}},
                  {"targets",
                   {{"min_moderate_roc_auc", e.min_moderate_auc},
                    {"max_false_alarm_rate", e.max_speed_false_alarm_rate},
                    {"met", e.targets_met}}}};
  return j.dump(1) + "\n";
}

}  // namespace spindle::trainer
