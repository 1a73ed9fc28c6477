#include "spindle/gateway/drift.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "spindle/protocol/feature_names.hpp"
#include "spindle/protocol/feature_pairs.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway::drift {
namespace {

constexpr std::uint8_t kStateVersion = 1;

bool finite_positive(double value) {
  return std::isfinite(value) && value > 0.0;
}

std::string feature_label(std::size_t index) {
  const std::string_view name = feature_names::name(index);
  return name.empty() ? "feature_" + std::to_string(index) : std::string(name);
}

std::string number_text(double value) {
  std::ostringstream out;
  out.precision(3);
  out << value;
  return out.str();
}

// "calibration vib-ae v4 (generation 2)", "baseline vib-ae v4".
std::string reference_text(const Tracker& tracker) {
  std::string text = std::string(reference_name(tracker.kind)) + " " + tracker.model_id + " v" +
                     std::to_string(tracker.version);
  if (tracker.kind == ReferenceKind::kCalibration) {
    text += " (generation " + std::to_string(tracker.generation) + ")";
  }
  return text;
}

// "x_rms (5.2), y_rms (4.1)": the drifting features, highest score first.
std::string drifting_features(const Tracker& tracker) {
  std::vector<std::size_t> drifting;
  for (std::size_t i = 0; i < tracker.features.size(); ++i) {
    if (tracker.features[i].drifting) drifting.push_back(i);
  }
  std::stable_sort(drifting.begin(), drifting.end(), [&](std::size_t a, std::size_t b) {
    return tracker.features[a].score > tracker.features[b].score;
  });
  std::string text;
  for (const std::size_t i : drifting) {
    text += (text.empty() ? "" : ", ") + feature_label(i) + " (" +
            number_text(tracker.features[i].score) + ")";
  }
  return text;
}

Tracker fresh_tracker(const Reference& reference) {
  Tracker tracker;
  tracker.kind = reference.kind;
  tracker.model_id = reference.model_id;
  tracker.version = reference.version;
  tracker.generation = reference.generation;
  tracker.features.resize(reference.features.size());
  return tracker;
}

bool usable(const Reference& reference, const Summary& summary) {
  return reference.kind != ReferenceKind::kNone && !reference.features.empty() &&
         reference.features.size() == summary.features.size();
}

// Whether feature `index` can raise drift. The dominant frequency is a category, not a
// level: the strongest bin jumps between 1x, 2x and a structural mode on a healthy machine,
// so a summary's mean and spread jump with it (bench/drift: it alone raised every false
// drift event of a 5-machine-hour healthy soak). It is scored and shown, never judged.
bool judged(std::size_t index) {
  const std::string_view name = feature_names::name(index);
  constexpr std::string_view kDominant = "_dominant";
  return !(name.size() >= kDominant.size() &&
           name.substr(name.size() - kDominant.size()) == kDominant);
}

// One summary into one tracker; a reference that cannot be compared leaves a kNone tracker.
Tracker track(const Tracker& previous, const Reference& reference, const Summary& summary,
              const Options& options, std::int64_t now_ms) {
  if (!usable(reference, summary)) return Tracker{};
  Tracker tracker = previous.follows(reference) ? previous : fresh_tracker(reference);
  tracker.summaries += 1;
  tracker.score = 0.0;
  bool drifting = false;
  for (std::size_t i = 0; i < tracker.features.size(); ++i) {
    FeatureScore& feature = tracker.features[i];
    const FeatureScore scored = score_feature(reference.features[i], summary.features[i], options);
    feature.compared = scored.compared;
    if (scored.compared) {
      feature.mean_shift = scored.mean_shift;
      feature.log_variance_ratio = scored.log_variance_ratio;
      feature.score = scored.score;
      if (!judged(i)) continue;  // shown, never drifting, not the device's score
      if (scored.score > options.raise_score) {
        feature.above += 1;
        feature.below = 0;
      } else if (scored.score < options.clear_score) {
        feature.below += 1;
        feature.above = 0;
      } else {
        feature.above = 0;
        feature.below = 0;
      }
      if (!feature.drifting && feature.above >= options.raise_after) feature.drifting = true;
      if (feature.drifting && feature.below >= options.clear_after) feature.drifting = false;
      tracker.score = std::max(tracker.score, feature.score);
    }
    drifting = drifting || feature.drifting;
  }
  if (drifting && !tracker.drifting) tracker.since_ms = now_ms;
  if (!drifting) tracker.since_ms = 0;
  tracker.drifting = drifting;
  return tracker;
}

bool same_source(const Tracker& a, const Tracker& b) {
  return a.kind == b.kind && a.model_id == b.model_id && a.version == b.version &&
         a.generation == b.generation;
}

// ---- State bytes: little-endian, fixed-width fields in declaration order ----

class Packer {
 public:
  template <typename T>
  void put(T value) {
    std::array<std::uint8_t, sizeof(T)> raw{};
    std::memcpy(raw.data(), &value, sizeof(T));  // the gateway runs on little-endian hosts
    bytes_.insert(bytes_.end(), raw.begin(), raw.end());
  }
  void text(const std::string& value) {
    put(static_cast<std::uint8_t>(value.size()));
    bytes_.insert(bytes_.end(), value.begin(), value.end());
  }
  Bytes take() { return std::move(bytes_); }

 private:
  Bytes bytes_;
};

class Unpacker {
 public:
  explicit Unpacker(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  template <typename T>
  Status get(T* value) {
    if (bytes_.size() - at_ < sizeof(T)) return Error::kTruncated;
    std::memcpy(value, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return kOk;
  }
  Status text(std::string* value) {
    std::uint8_t size = 0;
    SPINDLE_TRY(get(&size));
    if (size > kMaxIdSize) return Error::kOversize;
    if (bytes_.size() - at_ < size) return Error::kTruncated;
    value->assign(reinterpret_cast<const char*>(bytes_.data() + at_), size);
    at_ += size;
    return kOk;
  }
  Status finish() const { return at_ == bytes_.size() ? Status(kOk) : Error::kTrailingBytes; }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t at_ = 0;
};

void pack(Packer& p, const Tracker& t) {
  p.put(static_cast<std::uint8_t>(t.kind));
  p.text(t.model_id);
  p.put(t.version);
  p.put(t.generation);
  p.put(t.summaries);
  p.put(t.score);
  p.put(static_cast<std::uint8_t>(t.drifting));
  p.put(t.since_ms);
  p.put(static_cast<std::uint8_t>(t.features.size()));
  for (const FeatureScore& f : t.features) {
    p.put(static_cast<std::uint8_t>(f.compared));
    p.put(f.mean_shift);
    p.put(f.log_variance_ratio);
    p.put(f.score);
    p.put(f.above);
    p.put(f.below);
    p.put(static_cast<std::uint8_t>(f.drifting));
  }
}

Status get_bool(Unpacker& u, bool* value) {
  std::uint8_t raw = 0;
  SPINDLE_TRY(u.get(&raw));
  if (raw > 1) return Error::kInvalidValue;
  *value = raw == 1;
  return kOk;
}

Status get_kind(Unpacker& u, ReferenceKind* kind) {
  std::uint8_t raw = 0;
  SPINDLE_TRY(u.get(&raw));
  if (raw > static_cast<std::uint8_t>(ReferenceKind::kBaseline)) return Error::kInvalidValue;
  *kind = static_cast<ReferenceKind>(raw);
  return kOk;
}

Status unpack(Unpacker& u, Tracker* t) {
  SPINDLE_TRY(get_kind(u, &t->kind));
  SPINDLE_TRY(u.text(&t->model_id));
  SPINDLE_TRY(u.get(&t->version));
  SPINDLE_TRY(u.get(&t->generation));
  SPINDLE_TRY(u.get(&t->summaries));
  SPINDLE_TRY(u.get(&t->score));
  SPINDLE_TRY(get_bool(u, &t->drifting));
  SPINDLE_TRY(u.get(&t->since_ms));
  std::uint8_t count = 0;
  SPINDLE_TRY(u.get(&count));
  if (count > kMaxFeatures) return Error::kOversize;
  t->features.resize(count);
  for (FeatureScore& f : t->features) {
    SPINDLE_TRY(get_bool(u, &f.compared));
    SPINDLE_TRY(u.get(&f.mean_shift));
    SPINDLE_TRY(u.get(&f.log_variance_ratio));
    SPINDLE_TRY(u.get(&f.score));
    SPINDLE_TRY(u.get(&f.above));
    SPINDLE_TRY(u.get(&f.below));
    SPINDLE_TRY(get_bool(u, &f.drifting));
  }
  return kOk;
}

}  // namespace

Status validate(const Options& o) {
  const bool ok = finite_positive(o.raise_score) && finite_positive(o.clear_score) &&
                  o.clear_score <= o.raise_score && o.raise_after >= 1 && o.clear_after >= 1 &&
                  finite_positive(o.variance_scale) && std::isfinite(o.relative_sd_floor) &&
                  o.relative_sd_floor >= 0.0 && std::isfinite(o.absolute_sd_floor) &&
                  o.absolute_sd_floor >= 0.0;
  return ok ? Status(kOk) : Error::kInvalidValue;
}

const char* reference_name(ReferenceKind kind) {
  switch (kind) {
    case ReferenceKind::kNone:
      return "none";
    case ReferenceKind::kCalibration:
      return "calibration";
    case ReferenceKind::kBaseline:
      return "baseline";
  }
  return "none";
}

Result<std::vector<FeatureStats>> unpack_pairs(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return Error::kInvalidValue;
  std::array<float, kMaxFeatures> mean{};
  std::array<float, kMaxFeatures> stddev{};
  SPINDLE_TRY_ASSIGN(const std::size_t count, feature_pairs::unpack(bytes, mean, stddev));
  std::vector<FeatureStats> pairs(count);
  for (std::size_t i = 0; i < count; ++i)
    pairs[i] = {mean[i], stddev[i]};
  return pairs;
}

FeatureScore score_feature(const FeatureStats& reference, const FeatureStats& observed,
                           const Options& options) {
  FeatureScore out;
  if (!std::isfinite(reference.mean) || !std::isfinite(reference.stddev) ||
      !std::isfinite(observed.mean) || !std::isfinite(observed.stddev)) {
    return out;
  }
  // The floors keep a near-constant feature (sd_ref ~ 0) from turning rounding into drift:
  // relative to the feature's own scale, and absolute for a feature that is ~0 as well.
  const double floor =
      std::max(options.relative_sd_floor * std::abs(reference.mean), options.absolute_sd_floor);
  const double sd_ref = std::max(std::abs(reference.stddev), floor);
  const double sd_now = std::max(std::abs(observed.stddev), floor);
  if (!(sd_ref > 0.0)) return out;  // both floors 0 and a constant reference: nothing to scale by
  out.compared = true;
  out.mean_shift = (observed.mean - reference.mean) / sd_ref;
  out.log_variance_ratio = std::log(sd_now / sd_ref);
  out.score =
      std::max(std::abs(out.mean_shift), std::abs(out.log_variance_ratio) / options.variance_scale);
  return out;
}

bool Tracker::follows(const Reference& reference) const {
  return kind == reference.kind && model_id == reference.model_id && version == reference.version &&
         generation == reference.generation && features.size() == reference.features.size();
}

const Tracker& State::primary_tracker() const {
  static const Tracker kNoTracker;
  switch (primary) {
    case ReferenceKind::kCalibration:
      return calibration;
    case ReferenceKind::kBaseline:
      return baseline;
    case ReferenceKind::kNone:
      break;
  }
  return kNoTracker;
}

StepResult step(const State& state, const Reference& calibration, const Reference& baseline,
                const Summary& summary, const Options& options, std::int64_t now_ms) {
  StepResult result{state, false, {}};
  const bool newer = state.summaries == 0 || summary.time > state.last_time ||
                     (summary.time == state.last_time && summary.seq > state.last_seq);
  if (!newer) return result;
  result.stepped = true;
  State& next = result.state;
  next.summaries += 1;
  next.last_time = summary.time;
  next.last_seq = summary.seq;
  next.calibration = track(state.calibration, calibration, summary, options, now_ms);
  next.baseline = track(state.baseline, baseline, summary, options, now_ms);
  next.primary = next.calibration.kind != ReferenceKind::kNone ? ReferenceKind::kCalibration
                 : next.baseline.kind != ReferenceKind::kNone && !baseline.per_machine
                     ? ReferenceKind::kBaseline
                     : ReferenceKind::kNone;

  const Tracker& before = state.primary_tracker();
  const Tracker& after = next.primary_tracker();
  const bool same_reference = state.primary == next.primary && same_source(before, after);
  if (before.drifting && (!same_reference || !after.drifting)) {
    std::string detail;
    if (!same_reference) {
      detail = "reference changed from " + reference_text(before) + " to " +
               (after.kind == ReferenceKind::kNone ? std::string("none") : reference_text(after)) +
               "; was drifting on " + drifting_features(before);
    } else {
      detail = "against " + reference_text(after) + ": every feature below " +
               number_text(options.clear_score) + " for " + std::to_string(options.clear_after) +
               " summaries; score " + number_text(after.score);
    }
    result.events.push_back({"drift-cleared", std::move(detail)});
  }
  if (after.drifting && !(before.drifting && same_reference)) {
    result.events.push_back({"drift", "against " + reference_text(after) + ": score " +
                                          number_text(after.score) + "; drifting " +
                                          drifting_features(after)});
  }
  return result;
}

Bytes encode_state(const State& state) {
  Packer p;
  p.put(kStateVersion);
  p.put(static_cast<std::uint8_t>(state.primary));
  p.put(state.summaries);
  p.put(state.last_time);
  p.put(state.last_seq);
  pack(p, state.calibration);
  pack(p, state.baseline);
  return p.take();
}

Result<State> decode_state(std::span<const std::uint8_t> bytes) {
  Unpacker u(bytes);
  std::uint8_t version = 0;
  SPINDLE_TRY(u.get(&version));
  if (version != kStateVersion) return Error::kUnsupportedVersion;
  State state;
  SPINDLE_TRY(get_kind(u, &state.primary));
  SPINDLE_TRY(u.get(&state.summaries));
  SPINDLE_TRY(u.get(&state.last_time));
  SPINDLE_TRY(u.get(&state.last_seq));
  SPINDLE_TRY(unpack(u, &state.calibration));
  SPINDLE_TRY(unpack(u, &state.baseline));
  SPINDLE_TRY(u.finish());
  return state;
}

}  // namespace spindle::gateway::drift
