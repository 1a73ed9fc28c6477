// bench/drift: how the gateway's drift scoring (spindle::gateway::drift::step, default
// Options) behaves on simulated machines, with the node's own simulator (firmware/src/sensor),
// feature extractor (firmware/src/features) and calibration (firmware/src/calibration).
//
// Per machine (sensor::draw_machine(n), at its own speed, on the board's rate and window):
//   1. calibration: the per-feature mean and stddev of its first --calibration windows
//      (calibration::Normalization, packed and unpacked as the calibration report carries
//      it) is the reference;
//   2. false-drift soak: the same run continues, healthy, for --soak windows, summarized
//      every --stats-every windows (mean, population stddev: the node's feature summary)
//      and stepped against that reference; every "drift" event is a false one;
//   3. detection latency: a new run of the same machine (a node restarted after the change,
//      other noise) with one change -- mounting gain x1.5 and x0.7 on every axis, structural
//      modes at 0.8 of their frequency, shaft speed x1.3, imbalance ramping 0 -> 0.3 over
//      120 s -- stepped from a fresh state against the same reference until the first
//      "drift" event, at most --bound summaries. The first row, a restart with no change, is
//      the control: its events are false ones, and how often a change's "detection" is the
//      restart alone.
// Baseline in the same run: the same statistic on the same summaries with no hysteresis
// (raise_after = 1: drift on the first summary over raise_score).
//
// Deterministic (seeded), so one run is the result; prints tables (docs: bench/RESULTS.md).
//
// What-if runs: --drift-* set drift::Options fields (as spindle-gateway's flags do), and
// --exclude leaves per-axis features uncompared (their reference NaN, which drift::step skips).
//
// Usage: bench_drift [--machines M] [--first N] [--calibration W] [--soak W]
//                    [--stats-every W] [--bound S] [--board NAME]
//                    [--drift-raise-score X] [--drift-raise-after N]
//                    [--drift-variance-scale X] [--drift-relative-sd-floor X]
//                    [--exclude FEATURE[,FEATURE...]]
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spindle/boards/board_lookup.hpp"
#include "spindle/calibration/normalization.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/features/running_stats.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/protocol/feature_names.hpp"
#include "spindle/sensor/machine.hpp"
#include "spindle/sensor/vibration_simulator.hpp"

using namespace spindle;
namespace drift = spindle::gateway::drift;

namespace {

struct Settings {
  std::uint64_t machines = 20;
  std::uint64_t first = 4001;       // machine numbers first .. first + machines - 1
  std::uint32_t calibration = 300;  // calibration::Normalization windows (manifest default)
  std::uint32_t soak = 3000;        // healthy windows after calibration
  std::uint32_t stats_every = 32;   // NodeConfig::stats_every default
  std::uint32_t bound = 50;         // summaries a change has to be detected in
  std::string board = "native_sim";
  drift::Options options;  // the gateway's defaults unless a --drift-* flag says otherwise
  // Per-axis features left uncompared ("dominant": x_, y_ and z_dominant), for what-if runs:
  // their reference is NaN, which drift::step leaves uncompared.
  std::vector<std::string> excluded;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench_drift: %s\n", message.c_str());
  std::exit(1);
}

// One simulated run of a machine through the node's feature extractor, a window at a time.
class WindowSource {
 public:
  WindowSource(const board::BoardProfile& board, const sensor::SimulatorConfig& config)
      : scratch_(features::scratch_bytes(board.window_length)),
        x_(board.window_length),
        y_(board.window_length),
        z_(board.window_length) {
    auto made = sensor::VibrationSimulator::create(config);
    if (!made.ok()) die(std::string("the simulator refuses a run: ") + made.status().name());
    simulator_ = std::move(made).value();
    features::FeatureConfig fc;
    fc.window_length = board.window_length;
    fc.sample_rate_hz = board.sensor_rate_hz;
    fc.axes = board.sensor_axes;
    auto created = features::FeatureExtractor::create(fc, scratch_);
    if (!created.ok())
      die(std::string("the feature extractor refuses: ") + created.status().name());
    extractor_ = std::move(created).value();
    features_.resize(extractor_.feature_count());
  }
  WindowSource(const WindowSource&) = delete;
  WindowSource& operator=(const WindowSource&) = delete;

  std::span<const float> next() {
    if (!simulator_.read(x_, y_, z_).ok()) die("simulator read failed");
    if (!extractor_.extract(x_, y_, z_, features_).ok()) die("feature extraction failed");
    return features_;
  }
  std::size_t feature_count() const { return features_.size(); }

 private:
  std::vector<std::byte> scratch_;
  sensor::VibrationSimulator simulator_;
  features::FeatureExtractor extractor_;
  std::vector<float> x_, y_, z_, features_;
};

features::RunningStats stats_for(std::size_t count) {
  auto made = features::RunningStats::create(count);
  if (!made.ok()) die("RunningStats::create");
  return std::move(made).value();
}

// The node's feature summary of `windows` windows (mean, population stddev, as float32).
drift::Summary next_summary(WindowSource& source, std::uint32_t windows, std::uint64_t seq,
                            double seconds_per_window) {
  features::RunningStats stats = stats_for(source.feature_count());
  for (std::uint32_t w = 0; w < windows; ++w) {
    if (!stats.add(source.next()).ok()) die("RunningStats::add");
  }
  drift::Summary summary;
  summary.seq = seq;
  summary.time = 1.8e9 + seconds_per_window * windows * static_cast<double>(seq);
  summary.windows = windows;
  for (std::size_t i = 0; i < stats.features(); ++i)
    summary.features.push_back({stats.mean(i), stats.stddev(i)});
  return summary;
}

// The calibration reference exactly as the gateway gets it: Normalization::from_stats,
// packed as the calibration report carries it, unpacked by the gateway.
drift::Reference calibrate(WindowSource& source, std::uint32_t windows) {
  features::RunningStats stats = stats_for(source.feature_count());
  for (std::uint32_t w = 0; w < windows; ++w) {
    if (!stats.add(source.next()).ok()) die("RunningStats::add");
  }
  auto normalization = calibration::Normalization::from_stats(stats);
  if (!normalization.ok()) die("Normalization::from_stats");
  std::array<std::uint8_t, 8 * kMaxFeatures> bytes{};
  auto packed = normalization->pack(bytes);
  if (!packed.ok()) die("Normalization::pack");
  auto features = drift::unpack_pairs(*packed);
  if (!features.ok()) die("drift::unpack_pairs");
  drift::Reference reference;
  reference.kind = drift::ReferenceKind::kCalibration;
  reference.model_id = "bench";
  reference.version = 1;
  reference.generation = 1;
  reference.features = std::move(features).value();
  return reference;
}

// One detector: drift::step over explicit state, counting events.
struct Detector {
  drift::Options options;
  drift::State state;
  std::uint64_t drift_events = 0;
  std::int64_t now_ms = 1;

  // Whether this summary raised a "drift" event.
  bool feed(const drift::Reference& reference, const drift::Summary& summary) {
    drift::StepResult result = drift::step(state, reference, {}, summary, options, now_ms);
    now_ms += 10'000;
    state = std::move(result.state);
    bool raised = false;
    for (const drift::Event& e : result.events) {
      if (e.kind == "drift") {
        ++drift_events;
        raised = true;
      }
    }
    return raised;
  }
};

drift::Options naive_options(const drift::Options& options) {
  drift::Options o = options;
  o.raise_after = 1;
  o.clear_after = 1;
  return o;
}

// The features drifting in the detector's primary tracker, "x_rms,y_rms".
std::string drifting_features(const drift::State& state) {
  std::string names;
  const drift::Tracker& t = state.primary_tracker();
  for (std::size_t i = 0; i < t.features.size(); ++i) {
    if (!t.features[i].drifting) continue;
    if (!names.empty()) names += ",";
    names += feature_names::name(i);
  }
  return names;
}

struct Change {
  const char* name;
  // Applied to the calibrated machine's run configuration; false: not applicable.
  bool (*apply)(sensor::SimulatorConfig&);
};

bool no_change(sensor::SimulatorConfig&) {
  return true;
}
bool gain_up(sensor::SimulatorConfig& c) {
  for (auto& axis : c.machine.axes)
    axis.mount_gain *= 1.5F;
  return true;
}
bool gain_down(sensor::SimulatorConfig& c) {
  for (auto& axis : c.machine.axes)
    axis.mount_gain *= 0.7F;
  return true;
}
bool modes_down(sensor::SimulatorConfig& c) {
  for (auto& axis : c.machine.axes) {
    for (auto& mode : axis.modes)
      mode.hz *= 0.8F;  // hz 0 (no second mode) stays 0
  }
  return true;
}
bool speed_up(sensor::SimulatorConfig& c) {
  c.shaft_hz *= 1.3F;
  return true;
}
bool imbalance_ramp(sensor::SimulatorConfig& c) {
  c.fault = {sensor::Fault::kImbalance, 0.0F, 0.3F, 120.0F};
  return true;
}

// The first row is the control: a restart with no change (other noise), so its events are
// false ones and show how many of a change's "detections" the restart alone would give.
const std::array<Change, 6> kChanges = {{
    {"none (restart)", no_change},
    {"mount gain x1.5", gain_up},
    {"mount gain x0.7", gain_down},
    {"modes x0.8 (remount)", modes_down},
    {"shaft speed x1.3", speed_up},
    {"imbalance 0->0.3/120s", imbalance_ramp},
}};

struct Latency {
  std::vector<std::uint32_t> detected;        // summaries until the first drift event
  std::uint32_t never = 0;                    // not within the bound
  std::uint32_t refused = 0;                  // the simulator refuses the changed machine
  std::map<std::string, int> first_features;  // features drifting at the first event
};

struct DetectorTotals {
  std::uint64_t drift_events = 0;
  std::uint64_t summaries_over = 0;  // summaries whose device score was above raise_score
  std::uint64_t machines_with_event = 0;
  double highest_score = 0.0;
  std::uint64_t highest_machine = 0;
  // Feature summaries scoring above raise_score, by feature and by what scored: the mean's
  // shift or the spread's ratio.
  std::map<std::string, int> over_by_feature;
  std::array<Latency, kChanges.size()> latency;
};

std::string median_text(std::vector<std::uint32_t> v, double seconds_per_summary,
                        std::uint32_t windows_per_summary) {
  if (v.empty()) return "-";
  std::sort(v.begin(), v.end());
  const double median =
      v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  char text[96];
  std::snprintf(text, sizeof text, "%5.1f (%5.0f w, %6.1f s)", median, median * windows_per_summary,
                median * seconds_per_summary);
  return text;
}

std::string worst_text(const std::vector<std::uint32_t>& v, double seconds_per_summary,
                       std::uint32_t windows_per_summary) {
  if (v.empty()) return "-";
  const std::uint32_t worst = *std::max_element(v.begin(), v.end());
  char text[96];
  std::snprintf(text, sizeof text, "%3u (%5u w, %6.1f s)", worst, worst * windows_per_summary,
                worst * seconds_per_summary);
  return text;
}

std::string top_features(const std::map<std::string, int>& counts) {
  std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string text;
  for (std::size_t i = 0; i < v.size() && i < 4; ++i) {
    if (!text.empty()) text += ", ";
    text += v[i].first + " " + std::to_string(v[i].second);
  }
  return text.empty() ? "-" : text;
}

double parse_real(const char* flag, const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(value) || value < 0)
    die(std::string(flag) + " wants a non-negative number");
  return value;
}

std::uint64_t parse_number(const char* flag, const char* text) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value == 0)
    die(std::string(flag) + " wants a positive number");
  return value;
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: bench_drift [--machines M] [--first N] [--calibration W] [--soak W]\n"
          "                   [--stats-every W] [--bound S] [--board NAME]\n"
          "                   [--drift-raise-score X] [--drift-raise-after N]\n"
          "                   [--drift-variance-scale X] [--drift-relative-sd-floor X]\n"
          "                   [--exclude FEATURE[,FEATURE...]]  (per-axis names: dominant, "
          "band7, ...)\n");
      std::exit(0);
    }
    if (i + 1 >= argc) die(flag + " needs a value (or unknown flag)");
    const char* value = argv[++i];
    if (flag == "--machines")
      s.machines = parse_number("--machines", value);
    else if (flag == "--first")
      s.first = parse_number("--first", value);
    else if (flag == "--calibration")
      s.calibration = static_cast<std::uint32_t>(parse_number("--calibration", value));
    else if (flag == "--soak")
      s.soak = static_cast<std::uint32_t>(parse_number("--soak", value));
    else if (flag == "--stats-every")
      s.stats_every = static_cast<std::uint32_t>(parse_number("--stats-every", value));
    else if (flag == "--bound")
      s.bound = static_cast<std::uint32_t>(parse_number("--bound", value));
    else if (flag == "--board")
      s.board = value;
    else if (flag == "--drift-raise-score")
      s.options.raise_score = parse_real("--drift-raise-score", value);
    else if (flag == "--drift-raise-after")
      s.options.raise_after =
          static_cast<std::uint32_t>(parse_number("--drift-raise-after", value));
    else if (flag == "--drift-variance-scale")
      s.options.variance_scale = parse_real("--drift-variance-scale", value);
    else if (flag == "--drift-relative-sd-floor")
      s.options.relative_sd_floor = parse_real("--drift-relative-sd-floor", value);
    else if (flag == "--exclude") {
      std::string list = value;
      for (std::size_t from = 0; from <= list.size();) {
        const std::size_t comma = std::min(list.find(',', from), list.size());
        s.excluded.push_back(list.substr(from, comma - from));
        from = comma + 1;
      }
    } else
      die("unknown flag " + flag);
  }
  if (s.options.clear_score > s.options.raise_score) s.options.clear_score = s.options.raise_score;
  if (!drift::validate(s.options).ok()) die("the --drift-* settings are not valid drift::Options");
  return s;
}

// Leaves the excluded per-axis features uncompared (NaN reference).
void exclude(drift::Reference& reference, const std::vector<std::string>& excluded) {
  for (std::size_t i = 0; i < reference.features.size(); ++i) {
    const std::string_view name = feature_names::name(i);
    for (const std::string& e : excluded) {
      if (name.substr(2) == e) reference.features[i].mean = std::nan("");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Settings settings = parse(argc, argv);
  std::string error;
  auto loaded = boards::load_board(settings.board, &error);
  if (!loaded.ok()) die(error);
  const board::BoardProfile board = *loaded;
  if (board.sensor_axes != 3) die("the bench reads 3 axes");
  const double seconds_per_window =
      static_cast<double>(board.window_length) / static_cast<double>(board.sensor_rate_hz);
  const double seconds_per_summary = seconds_per_window * settings.stats_every;
  const std::uint32_t soak_summaries = settings.soak / settings.stats_every;
  const auto started = std::chrono::steady_clock::now();

  std::array<Detector, 2> prototypes;
  prototypes[0].options = settings.options;
  prototypes[1].options = naive_options(settings.options);
  const std::array<std::string, 2> detector_names = {
      "hysteresis (raise_after " + std::to_string(settings.options.raise_after) + ")",
      "naive (raise_after 1)"};
  std::array<DetectorTotals, 2> totals;

  for (std::uint64_t m = settings.first; m < settings.first + settings.machines; ++m) {
    sensor::SimulatorConfig healthy;
    healthy.seed = m;
    healthy.sample_rate_hz = board.sensor_rate_hz;
    healthy.machine = sensor::draw_machine(m);
    healthy.shaft_hz = healthy.machine.shaft_hz;

    // 1. Calibration, then the healthy soak on the same run.
    WindowSource run(board, healthy);
    drift::Reference reference = calibrate(run, settings.calibration);
    exclude(reference, settings.excluded);
    std::array<Detector, 2> soak = prototypes;
    for (std::uint32_t n = 1; n <= soak_summaries; ++n) {
      const drift::Summary summary = next_summary(run, settings.stats_every, n, seconds_per_window);
      for (std::size_t d = 0; d < soak.size(); ++d) {
        soak[d].feed(reference, summary);
        const drift::Tracker& t = soak[d].state.primary_tracker();
        DetectorTotals& total = totals[d];
        if (t.score > soak[d].options.raise_score) ++total.summaries_over;
        if (t.score > total.highest_score) {
          total.highest_score = t.score;
          total.highest_machine = m;
        }
        if (d == 0) {
          for (std::size_t i = 0; i < t.features.size(); ++i) {
            const drift::FeatureScore& f = t.features[i];
            if (f.score <= soak[d].options.raise_score) continue;
            const bool by_mean = std::abs(f.mean_shift) > soak[d].options.raise_score;
            ++total.over_by_feature[std::string(feature_names::name(i)) +
                                    (by_mean ? " (mean)" : " (spread)")];
          }
        }
      }
    }
    for (std::size_t d = 0; d < soak.size(); ++d) {
      totals[d].drift_events += soak[d].drift_events;
      if (soak[d].drift_events > 0) ++totals[d].machines_with_event;
    }

    // 2. Each change, on a new run of the same machine against the same reference.
    for (std::size_t c = 0; c < kChanges.size(); ++c) {
      sensor::SimulatorConfig changed = healthy;
      changed.seed = m + 1'000'000 * (c + 1);
      if (!kChanges[c].apply(changed) || !sensor::VibrationSimulator::create(changed).ok()) {
        for (auto& total : totals)
          ++total.latency[c].refused;
        continue;
      }
      WindowSource after(board, changed);
      std::array<Detector, 2> detectors = prototypes;
      std::array<std::optional<std::uint32_t>, 2> first;
      for (std::uint32_t n = 1; n <= settings.bound && !(first[0] && first[1]); ++n) {
        const drift::Summary summary =
            next_summary(after, settings.stats_every, n, seconds_per_window);
        for (std::size_t d = 0; d < detectors.size(); ++d) {
          if (first[d]) continue;
          if (detectors[d].feed(reference, summary)) {
            first[d] = n;
            std::string names = drifting_features(detectors[d].state);
            std::size_t from = 0;
            while (from <= names.size()) {
              const std::size_t comma = std::min(names.find(',', from), names.size());
              ++totals[d].latency[c].first_features[names.substr(from, comma - from)];
              from = comma + 1;
            }
          }
        }
      }
      for (std::size_t d = 0; d < detectors.size(); ++d) {
        if (first[d])
          totals[d].latency[c].detected.push_back(*first[d]);
        else
          ++totals[d].latency[c].never;
      }
    }
  }

  const double machine_hours =
      static_cast<double>(settings.machines) * soak_summaries * seconds_per_summary / 3600.0;
  const std::uint64_t summaries = settings.machines * soak_summaries;
  std::printf(
      "bench_drift: %llu machines (%llu..%llu), board %s (%u Hz, %u-sample windows, "
      "%.2f s)\n",
      static_cast<unsigned long long>(settings.machines),
      static_cast<unsigned long long>(settings.first),
      static_cast<unsigned long long>(settings.first + settings.machines - 1),
      settings.board.c_str(), board.sensor_rate_hz, board.window_length, seconds_per_window);
  std::printf(
      "calibration %u windows; summaries of %u windows (%.2f s); soak %u summaries "
      "per machine; change bound %u summaries (%.0f s)\n",
      settings.calibration, settings.stats_every, seconds_per_summary, soak_summaries,
      settings.bound, settings.bound * seconds_per_summary);
  {
    const drift::Options& o = settings.options;
    const drift::Options defaults;
    const bool as_default = o.raise_score == defaults.raise_score &&
                            o.raise_after == defaults.raise_after &&
                            o.variance_scale == defaults.variance_scale &&
                            o.relative_sd_floor == defaults.relative_sd_floor;
    std::string excluded;
    for (const std::string& e : settings.excluded)
      excluded += " " + e;
    std::printf(
        "drift options%s: raise_score %g, raise_after %u, variance_scale %g, "
        "relative_sd_floor %g%s%s\n\n",
        as_default ? " (gateway defaults)" : "", o.raise_score, o.raise_after, o.variance_scale,
        o.relative_sd_floor, excluded.empty() ? "" : "; uncompared:", excluded.c_str());
  }

  std::printf("false drift: healthy soak, %llu summaries, %.2f machine-hours of simulated time\n",
              static_cast<unsigned long long>(summaries), machine_hours);
  std::printf("%-32s %7s %9s %11s %9s %12s %16s\n", "detector", "events", "machines", "per m-hour",
              "per summ.", "summ.>raise", "highest score");
  for (std::size_t d = 0; d < totals.size(); ++d) {
    const DetectorTotals& t = totals[d];
    std::printf("%-32s %7llu %6llu/%-2llu %11.3f %9.4f %12llu %9.2f (m%llu)\n",
                detector_names[d].c_str(), static_cast<unsigned long long>(t.drift_events),
                static_cast<unsigned long long>(t.machines_with_event),
                static_cast<unsigned long long>(settings.machines),
                static_cast<double>(t.drift_events) / machine_hours,
                static_cast<double>(t.drift_events) / static_cast<double>(summaries),
                static_cast<unsigned long long>(t.summaries_over), t.highest_score,
                static_cast<unsigned long long>(t.highest_machine));
  }
  if (totals[0].drift_events > 0) {
    std::printf(
        "false drift events, naive / hysteresis: %.1f\n",
        static_cast<double>(totals[1].drift_events) / static_cast<double>(totals[0].drift_events));
  } else {
    std::printf("false drift events, naive / hysteresis: %s\n",
                totals[1].drift_events > 0 ? "inf (hysteresis raised none)" : "- (neither raised)");
  }
  std::printf("feature summaries over raise_score in the soak: %s\n\n",
              top_features(totals[0].over_by_feature).c_str());

  std::printf(
      "detection latency: summaries (windows, simulated s) to the first drift event, "
      "over the machines that raised within the bound\n");
  std::printf("%-22s %-32s %-26s %-24s %6s  %s\n", "change", "detector", "median", "worst", "never",
              "features drifting at the event (machines)");
  for (std::size_t c = 0; c < kChanges.size(); ++c) {
    for (std::size_t d = 0; d < totals.size(); ++d) {
      const Latency& l = totals[d].latency[c];
      std::string never = std::to_string(l.never);
      if (l.refused) never += "+" + std::to_string(l.refused) + "r";
      std::printf("%-22s %-32s %-26s %-24s %6s  %s\n", d == 0 ? kChanges[c].name : "",
                  detector_names[d].c_str(),
                  median_text(l.detected, seconds_per_summary, settings.stats_every).c_str(),
                  worst_text(l.detected, seconds_per_summary, settings.stats_every).c_str(),
                  never.c_str(), top_features(l.first_features).c_str());
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "\n(never: not within %u summaries; +Nr: the simulator refused the changed machine "
      "on N machines)\nwall time %.1f s\n",
      settings.bound, elapsed);
  return 0;
}
