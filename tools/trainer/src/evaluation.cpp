#include "spindle/trainer/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <stdexcept>

#include "spindle/trainer/fit.hpp"
#include "spindle/trainer/machine_data.hpp"
#include "spindle/trainer/simulated_data.hpp"

namespace spindle::trainer {
namespace {

constexpr std::uint64_t kDefaultFirstMachine = 1001;
constexpr std::size_t kDefaultMachines = 20;

// What a node would run on one machine: its normalization and threshold, with adaptation
// and without.
struct Judge {
  const calibration::Normalization* normalization = nullptr;  // nullptr: raw features
  float threshold = 0.0f;
};

// The labelled windows of one machine under evaluation.
struct MachineWindows {
  std::string device;
  FeatureTable healthy;  // in the order taken; the calibration period first
  struct Faulty {
    std::string fault;
    float severity = std::numeric_limits<float>::quiet_NaN();
    FeatureTable table;
  };
  std::vector<Faulty> faults;
  std::vector<std::pair<std::string, FeatureTable>> ramps;
};

std::vector<std::size_t> all_rows(const FeatureTable& t) {
  std::vector<std::size_t> rows(t.rows());
  for (std::size_t r = 0; r < rows.size(); ++r)
    rows[r] = r;
  return rows;
}

struct Parity {
  std::size_t agree = 0;
  std::size_t compared = 0;
  std::vector<float> relative_errors;
};

// int8 against the float model on healthy windows, through the machine's normalization.
void compare_with_float(const TrainedModel& model, const FeatureTable& table,
                        const std::vector<std::size_t>& rows, const Judge& judge,
                        Int8Scorer& scorer, Parity* parity) {
  std::vector<float> input(table.width);
  for (const std::size_t r : rows) {
    const std::span<const float> raw(table.row(r), table.width);
    if (judge.normalization != nullptr) (void)judge.normalization->apply(raw, input);
    const std::span<const float> x =
        judge.normalization != nullptr ? std::span<const float>(input) : raw;
    const float int8 = scorer.score(x);
    const float real = float_score(model, x);
    if ((int8 > judge.threshold) == (real > judge.threshold)) ++parity->agree;
    ++parity->compared;
    parity->relative_errors.push_back(std::abs(int8 - real) / std::max(std::abs(real), 1e-6f));
  }
}

MachineResult judge_machine(const TrainedModel& model, const MachineWindows& w,
                            const calibration::Normalization& fleet_normalization,
                            const EvaluationOptions& options, float window_seconds,
                            Int8Scorer& scorer, Parity* parity) {
  MachineResult m;
  m.device = w.device;
  Machine machine{w.device, all_rows(w.healthy)};
  Judge adapted;
  Judge fleet;
  std::vector<std::size_t> test_rows;
  calibration::Normalization own;
  if (model.has_calibration) {
    MachineRun run = run_calibrated(w.healthy, machine, model.calibration, scorer);
    own = run.normalization;
    adapted = {&own, run.threshold};
    m.threshold = run.threshold;
    m.clamp = run.clamp == calibration::ThresholdClamp::kNone
                  ? "none"
                  : (run.clamp == calibration::ThresholdClamp::kLower ? "lower" : "upper");
    test_rows = run.test_rows;
    fleet = {&fleet_normalization, model.threshold};
  } else {
    test_rows = machine.rows;
    adapted = {nullptr, model.threshold};
    fleet = adapted;
    m.threshold = model.threshold;
  }
  const std::vector<float> healthy =
      score_rows(w.healthy, test_rows, adapted.normalization, scorer);
  const std::vector<float> healthy_fleet =
      score_rows(w.healthy, test_rows, fleet.normalization, scorer);
  m.healthy_windows = healthy.size();
  m.false_alarm_rate = fraction_above(healthy, adapted.threshold);
  m.false_alarm_rate_fleet = fraction_above(healthy_fleet, fleet.threshold);
  compare_with_float(model, w.healthy, test_rows, adapted, scorer, parity);

  m.min_moderate_auc = 1.0f;
  m.min_moderate_auc_fleet = 1.0f;
  bool any_moderate = false;
  for (const MachineWindows::Faulty& f : w.faults) {
    const std::vector<std::size_t> rows = all_rows(f.table);
    const std::vector<float> scores = score_rows(f.table, rows, adapted.normalization, scorer);
    const std::vector<float> scores_fleet = score_rows(f.table, rows, fleet.normalization, scorer);
    FaultResult r;
    r.fault = f.fault;
    r.severity = f.severity;
    r.windows = scores.size();
    r.roc_auc = roc_auc(scores, healthy);
    r.recall = fraction_above(scores, adapted.threshold);
    r.roc_auc_fleet = roc_auc(scores_fleet, healthy_fleet);
    r.recall_fleet = fraction_above(scores_fleet, fleet.threshold);
    // Captured data carries no severity: every fault counts at the moderate one.
    if (std::isnan(f.severity) || std::abs(f.severity - options.moderate_severity) < 1e-6f) {
      m.min_moderate_auc = std::min(m.min_moderate_auc, r.roc_auc);
      m.min_moderate_auc_fleet = std::min(m.min_moderate_auc_fleet, r.roc_auc_fleet);
      any_moderate = true;
    }
    m.faults.push_back(r);
  }
  if (!any_moderate) {
    m.min_moderate_auc = 0.0f;
    m.min_moderate_auc_fleet = 0.0f;
  }
  for (const auto& [fault, table] : w.ramps) {
    const std::vector<float> scores =
        score_rows(table, all_rows(table), adapted.normalization, scorer);
    DelayResult d;
    d.fault = fault;
    std::size_t run = 0;
    for (std::size_t r = 0; r < scores.size(); ++r) {
      run = scores[r] > adapted.threshold ? run + 1 : 0;
      if (run >= std::max<std::size_t>(options.consecutive, 1)) {
        d.detected = true;
        d.seconds = static_cast<float>(r + 1) * window_seconds;
        d.severity = table.info[r].severity;
        break;
      }
    }
    m.delays.push_back(d);
  }
  m.targets_met = any_moderate && m.min_moderate_auc >= 0.97f && m.false_alarm_rate <= 0.01f;
  return m;
}

// Simulated machines, each with its own noise seeds; refuses what the training used.
std::vector<MachineWindows> simulate_machines(const TrainedModel& model,
                                              const board::BoardProfile& board,
                                              const EvaluationOptions& options,
                                              std::uint64_t* next_seed) {
  const std::set<std::int64_t> trained_seeds(model.record.seeds.begin(), model.record.seeds.end());
  const std::set<std::string> trained_machines(model.record.machines.begin(),
                                               model.record.machines.end());
  const auto take_seed = [&] {
    const std::uint64_t seed = (*next_seed)++;
    if (trained_seeds.count(static_cast<std::int64_t>(seed)) != 0) {
      throw std::invalid_argument("evaluation seed " + std::to_string(seed) +
                                  " was used in training: pick another --seed-base");
    }
    return seed;
  };
  std::vector<std::uint64_t> ids = options.machines;
  if (ids.empty()) {
    for (std::size_t i = 0; i < kDefaultMachines; ++i)
      ids.push_back(kDefaultFirstMachine + i);
  }
  const std::uint32_t period = model.has_calibration ? model.calibration.normalization_windows +
                                                           model.calibration.threshold_windows
                                                     : 0;
  const float window_seconds =
      static_cast<float>(board.window_length) / static_cast<float>(board.sensor_rate_hz);
  std::vector<MachineWindows> out;
  for (const std::uint64_t id : ids) {
    MachineWindows w;
    w.device = machine_device(id);
    if (trained_machines.count(w.device) != 0) {
      throw std::invalid_argument("machine " + std::to_string(id) +
                                  " was used in training: evaluate on machines it never saw");
    }
    Scenario healthy;
    healthy.machine = id;
    healthy.shaft_hz = 0.0f;  // the machine's own speed
    healthy.seed = take_seed();
    healthy.windows = period + options.healthy_windows;
    w.healthy = simulate(board, {healthy});
    for (const sensor::Fault fault : options.faults) {
      for (const float severity : options.severities) {
        Scenario s = healthy;
        s.fault = fault;
        s.start_severity = severity;
        s.end_severity = severity;
        s.seed = take_seed();
        s.windows = options.fault_windows;
        w.faults.push_back(
            {std::string(sensor::fault_name(fault)), severity, simulate(board, {s})});
      }
      if (options.ramp_seconds > 0.0f) {
        Scenario s = healthy;
        s.fault = fault;
        s.end_severity = 1.0f;
        s.ramp_seconds = options.ramp_seconds;
        s.seed = take_seed();
        s.windows = static_cast<std::size_t>(std::ceil(options.ramp_seconds / window_seconds));
        w.ramps.emplace_back(std::string(sensor::fault_name(fault)), simulate(board, {s}));
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

// Captured data sets, one machine per device: its healthy windows in order and its
// faulty windows by fault.
std::vector<MachineWindows> captured_machines(const TrainedModel& model,
                                              const EvaluationOptions& options) {
  FeatureTable all;
  for (const FeatureTable& t : options.data) {
    if (all.width == 0) all.width = t.width;
    all.append(t);
  }
  const std::set<std::string> trained(model.record.machines.begin(), model.record.machines.end());
  std::vector<MachineWindows> out;
  for (const Machine& machine : group_by_machine(all)) {
    if (trained.count(machine.device) != 0) {
      throw std::invalid_argument("device " + machine.device +
                                  " was used in training: evaluate on machines it never saw");
    }
    MachineWindows w;
    w.device = machine.device;
    std::vector<std::size_t> healthy;
    std::map<std::string, std::vector<std::size_t>> faulty;
    for (const std::size_t r : machine.rows) {
      const std::string& fault = all.info[r].fault;
      if (fault == "none") {
        healthy.push_back(r);
      } else if (fault != "unknown") {
        faulty[fault].push_back(r);
      }
    }
    w.healthy = all.select(healthy);
    const std::size_t period = model.has_calibration ? model.calibration.normalization_windows +
                                                           model.calibration.threshold_windows
                                                     : 0;
    if (w.healthy.rows() <= period) {
      throw std::invalid_argument("device " + machine.device + " has " +
                                  std::to_string(w.healthy.rows()) +
                                  " healthy windows; the calibration period takes " +
                                  std::to_string(period) + " and more are needed to test");
    }
    if (faulty.empty()) {
      throw std::invalid_argument("device " + machine.device +
                                  " has no fault windows (fault column other than none)");
    }
    for (const auto& [fault, rows] : faulty)
      w.faults.push_back({fault, std::numeric_limits<float>::quiet_NaN(), all.select(rows)});
    out.push_back(std::move(w));
  }
  if (out.empty()) throw std::invalid_argument("the captured data holds no windows");
  return out;
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
  if (options.data.empty() && options.healthy_windows == 0) {
    throw std::invalid_argument("the evaluation needs healthy windows");
  }
  Evaluation e;
  e.model_kind = type_name(model.type);
  e.board = std::string(board.name());
  e.adaptation = model.has_calibration ? "per-machine" : "none";
  e.container_bytes = model.container.size();
  e.arena_bytes = model.arena_bytes;
  e.fleet_threshold = model.threshold;
  e.moderate_severity = options.moderate_severity;
  if (model.has_calibration) {
    e.calibration_windows =
        model.calibration.normalization_windows + model.calibration.threshold_windows;
  }
  std::uint64_t next_seed = options.seed_base;
  e.first_seed = next_seed;
  std::vector<MachineWindows> machines;
  if (options.data.empty()) {
    e.source = "simulated";
    machines = simulate_machines(model, board, options, &next_seed);
  } else {
    e.source = "captured";
    machines = captured_machines(model, options);
  }
  e.last_seed = next_seed - 1;

  calibration::Normalization fleet;
  if (model.has_calibration) {
    const auto n = calibration::Normalization::from_baseline(model.baseline);
    if (!n.ok()) throw std::invalid_argument("the model's baseline is not a usable normalization");
    fleet = *n;
  }
  Int8Scorer scorer(model.container);
  Parity parity;
  const float window_seconds =
      static_cast<float>(board.window_length) / static_cast<float>(board.sensor_rate_hz);
  e.min_moderate_auc = 1.0f;
  e.min_moderate_auc_fleet = 1.0f;
  for (const MachineWindows& w : machines) {
    MachineResult m = judge_machine(model, w, fleet, options, window_seconds, scorer, &parity);
    e.min_moderate_auc = std::min(e.min_moderate_auc, m.min_moderate_auc);
    e.min_moderate_auc_fleet = std::min(e.min_moderate_auc_fleet, m.min_moderate_auc_fleet);
    e.max_false_alarm_rate = std::max(e.max_false_alarm_rate, m.false_alarm_rate);
    e.max_false_alarm_rate_fleet = std::max(e.max_false_alarm_rate_fleet, m.false_alarm_rate_fleet);
    if (m.targets_met) ++e.machines_meeting_targets;
    e.machines.push_back(std::move(m));
  }
  e.decision_agreement = static_cast<float>(parity.agree) /
                         static_cast<float>(std::max<std::size_t>(parity.compared, 1));
  if (!parity.relative_errors.empty()) {
    e.median_relative_score_error = quantile(parity.relative_errors, 0.5f);
    e.p99_relative_score_error = quantile(parity.relative_errors, 0.99f);
  }
  e.targets_met = e.machines_meeting_targets == e.machines.size();
  return e;
}

void print_table(const Evaluation& e, std::ostream& out) {
  const auto flags = out.flags();
  out << std::fixed;
  out << "model " << e.model_kind << " for " << e.board << ": " << e.container_bytes
      << " bytes, arena " << e.arena_bytes << " bytes, fleet threshold " << std::setprecision(4)
      << e.fleet_threshold << ", adaptation " << e.adaptation;
  if (e.calibration_windows != 0) out << " (" << e.calibration_windows << " calibration windows)";
  out << "\nevaluated on " << e.machines.size() << " " << e.source
      << " machines none of which the training saw";
  if (e.source == "simulated")
    out << " (noise seeds " << e.first_seed << ".." << e.last_seed << ")";
  out << "\n\nmachine          threshold clamp  false alarms        min ROC-AUC @"
      << std::setprecision(2) << e.moderate_severity
      << "\n                                  adapted    fleet   adapted    fleet\n";
  for (const MachineResult& m : e.machines) {
    out << std::left << std::setw(16) << m.device << std::right << std::setprecision(4)
        << std::setw(10) << m.threshold << std::setw(6) << m.clamp << std::setprecision(2)
        << std::setw(9) << 100.0f * m.false_alarm_rate << '%' << std::setw(8)
        << 100.0f * m.false_alarm_rate_fleet << '%' << std::setprecision(4) << std::setw(10)
        << m.min_moderate_auc << std::setw(9) << m.min_moderate_auc_fleet
        << (m.targets_met ? "" : "   targets missed") << '\n';
  }
  // Per fault and severity: the worst machine's ROC-AUC and the mean recall.
  std::map<std::pair<std::string, float>, std::vector<const FaultResult*>> by_fault;
  for (const MachineResult& m : e.machines) {
    for (const FaultResult& f : m.faults)
      by_fault[{f.fault, std::isnan(f.severity) ? -1.0f : f.severity}].push_back(&f);
  }
  out << "\nfault           severity   worst ROC-AUC     mean recall\n"
         "                           adapted  fleet   adapted  fleet\n";
  for (const auto& [key, list] : by_fault) {
    float auc = 1.0f, auc_fleet = 1.0f, recall = 0.0f, recall_fleet = 0.0f;
    for (const FaultResult* f : list) {
      auc = std::min(auc, f->roc_auc);
      auc_fleet = std::min(auc_fleet, f->roc_auc_fleet);
      recall += f->recall / static_cast<float>(list.size());
      recall_fleet += f->recall_fleet / static_cast<float>(list.size());
    }
    out << std::left << std::setw(16) << key.first << std::right << std::setprecision(2)
        << std::setw(8) << key.second << std::setprecision(4) << std::setw(11) << auc
        << std::setw(7) << auc_fleet << std::setprecision(3) << std::setw(10) << recall
        << std::setw(7) << recall_fleet << '\n';
  }
  bool any_delay = false;
  std::map<std::string, std::pair<std::size_t, float>> delays;  // detected count, worst seconds
  for (const MachineResult& m : e.machines) {
    for (const DelayResult& d : m.delays) {
      any_delay = true;
      auto& [count, worst] = delays[d.fault];
      if (d.detected) {
        ++count;
        worst = std::max(worst, d.seconds);
      }
    }
  }
  if (any_delay) {
    out << "\ndetection delay (severity ramping 0 -> 1, with adaptation)\n";
    for (const auto& [fault, v] : delays) {
      out << "  " << std::left << std::setw(16) << fault << std::right << "detected on " << v.first
          << " of " << e.machines.size() << " machines, worst " << std::setprecision(1) << v.second
          << " s\n";
    }
  }
  out << "\nint8 vs float: decisions agree on " << std::setprecision(2)
      << 100.0f * e.decision_agreement << "% of healthy windows; score error median "
      << 100.0f * e.median_relative_score_error << "%, p99 " << 100.0f * e.p99_relative_score_error
      << "%\n";
  out << "worst machine: with adaptation min ROC-AUC " << std::setprecision(4) << e.min_moderate_auc
      << ", false alarms " << std::setprecision(2) << 100.0f * e.max_false_alarm_rate
      << "%; without, " << std::setprecision(4) << e.min_moderate_auc_fleet << " and "
      << std::setprecision(2) << 100.0f * e.max_false_alarm_rate_fleet << "%\n";
  out << "targets (on every machine, with adaptation: ROC-AUC >= 0.97 at severity "
      << e.moderate_severity << ", false alarms <= 1%): " << (e.targets_met ? "met" : "NOT met")
      << " (met on " << e.machines_meeting_targets << " of " << e.machines.size() << " machines)\n";
  out.flags(flags);
}

std::string to_json(const Evaluation& e) {
  using nlohmann::json;
  json machines = json::array();
  for (const MachineResult& m : e.machines) {
    json faults = json::array();
    for (const FaultResult& r : m.faults) {
      faults.push_back({{"fault", r.fault},
                        {"severity", std::isnan(r.severity) ? json(nullptr) : json(r.severity)},
                        {"windows", r.windows},
                        {"roc_auc", r.roc_auc},
                        {"recall", r.recall},
                        {"roc_auc_fleet", r.roc_auc_fleet},
                        {"recall_fleet", r.recall_fleet}});
    }
    json delays = json::array();
    for (const DelayResult& d : m.delays) {
      delays.push_back({{"fault", d.fault},
                        {"detected", d.detected},
                        {"seconds", d.seconds},
                        {"severity", d.severity}});
    }
    machines.push_back({{"device", m.device},
                        {"threshold", m.threshold},
                        {"clamp", m.clamp},
                        {"healthy_windows", m.healthy_windows},
                        {"false_alarm_rate", m.false_alarm_rate},
                        {"false_alarm_rate_fleet", m.false_alarm_rate_fleet},
                        {"min_moderate_roc_auc", m.min_moderate_auc},
                        {"min_moderate_roc_auc_fleet", m.min_moderate_auc_fleet},
                        {"faults", faults},
                        {"detection_delay", delays},
                        {"targets_met", m.targets_met}});
  }
  const json j = {
      {"model_kind", e.model_kind},
      {"board", e.board},
      {"adaptation", e.adaptation},
      {"source", e.source},
      {"container_bytes", e.container_bytes},
      {"arena_bytes", e.arena_bytes},
      {"fleet_threshold", e.fleet_threshold},
      {"calibration_windows", e.calibration_windows},
      {"seeds", {e.first_seed, e.last_seed}},
      {"moderate_severity", e.moderate_severity},
      {"machines", machines},
      {"int8_vs_float",
       {{"decision_agreement", e.decision_agreement},
        {"median_relative_score_error", e.median_relative_score_error},
        {"p99_relative_score_error", e.p99_relative_score_error}}},
      {"worst_machine",
       {{"min_moderate_roc_auc", e.min_moderate_auc},
        {"max_false_alarm_rate", e.max_false_alarm_rate},
        {"min_moderate_roc_auc_fleet", e.min_moderate_auc_fleet},
        {"max_false_alarm_rate_fleet", e.max_false_alarm_rate_fleet}}},
      {"targets", {{"machines_met", e.machines_meeting_targets}, {"met", e.targets_met}}}};
  return j.dump(1) + "\n";
}

}  // namespace spindle::trainer
