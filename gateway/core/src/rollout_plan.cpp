// A rollout plan as JSON (rollout.hpp): the operator API's form and the store's.
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "spindle/gateway/rollout.hpp"

namespace spindle::gateway::rollout {
namespace {

using nlohmann::json;

// Reads the optional number `key` of `object` into `out` within [low, high].
bool read_number(const json& object, const char* key, double low, double high, double* out,
                 std::string* why) {
  const auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < low ||
      it->get<double>() > high) {
    *why = std::string("\"") + key + "\" must be a number from " + json(low).dump() + " to " +
           json(high).dump();
    return false;
  }
  *out = it->get<double>();
  return true;
}

bool read_millis(const json& object, const char* key, std::int64_t* out_ms, std::string* why) {
  double seconds = static_cast<double>(*out_ms) / 1000.0;
  if (!read_number(object, key, 0.0, 365.0 * 24 * 3600, &seconds, why)) return false;
  *out_ms = static_cast<std::int64_t>(std::llround(seconds * 1000.0));
  return true;
}

bool read_count(const json& object, const char* key, std::uint32_t* out, std::string* why) {
  double value = *out;
  if (!read_number(object, key, 0.0, 1e9, &value, why)) return false;
  if (value != std::floor(value)) {
    *why = std::string("\"") + key + "\" must be a whole number";
    return false;
  }
  *out = static_cast<std::uint32_t>(value);
  return true;
}

bool read_flag(const json& object, const char* key, bool* out, std::string* why) {
  const auto it = object.find(key);
  if (it == object.end()) return true;
  if (!it->is_boolean()) {
    *why = std::string("\"") + key + "\" must be true or false";
    return false;
  }
  *out = it->get<bool>();
  return true;
}

bool only_keys(const json& object, std::initializer_list<const char*> keys, const char* where,
               std::string* why) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const char* k : keys)
      known = known || key == k;
    if (!known) {
      *why = std::string(where) + ": unknown key \"" + key + "\"";
      return false;
    }
  }
  return true;
}

}  // namespace

std::string plan_to_json(const Plan& plan) {
  const Gates& g = plan.gates;
  const json gates = {
      {"min_install_success", g.min_install_success},
      {"confirm_deadline_s", static_cast<double>(g.confirm_deadline_ms) / 1000.0},
      {"max_reverts", g.max_reverts},
      {"max_reboots", g.max_reboots},
      {"calibration_deadline_s", static_cast<double>(g.calibration_deadline_ms) / 1000.0},
      {"max_latency_ms", g.max_latency_ms},
      {"max_anomaly_ratio", g.max_anomaly_ratio},
      {"anomaly_slack", g.anomaly_slack},
      {"min_windows", g.min_windows},
      {"min_shadow_agreement", g.min_shadow_agreement},
  };
  return json{{"stages", stages_text(plan.stages)},
              {"soak_s", static_cast<double>(plan.soak_ms) / 1000.0},
              {"shadow", plan.shadow},
              {"auto_revert", plan.auto_revert},
              {"gates", gates}}
      .dump();
}

Result<Plan> plan_from_json(std::string_view text, std::string* why) {
  const json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    *why = "the plan is not a JSON object";
    return Error::kInvalidValue;
  }
  if (!only_keys(parsed, {"stages", "soak_s", "shadow", "auto_revert", "gates"}, "plan", why)) {
    return Error::kInvalidValue;
  }
  Plan plan;
  const auto stages = parsed.find("stages");
  if (stages == parsed.end() || !stages->is_string()) {
    *why = "\"stages\" is required, as text like \"2,50%,100%\"";
    return Error::kInvalidValue;
  }
  auto parsed_stages = parse_stages(stages->get<std::string>(), why);
  if (!parsed_stages.ok()) return parsed_stages.status();
  plan.stages = std::move(parsed_stages).value();
  if (!read_millis(parsed, "soak_s", &plan.soak_ms, why) ||
      !read_flag(parsed, "shadow", &plan.shadow, why) ||
      !read_flag(parsed, "auto_revert", &plan.auto_revert, why)) {
    return Error::kInvalidValue;
  }
  const auto gates = parsed.find("gates");
  if (gates != parsed.end()) {
    if (!gates->is_object()) {
      *why = "\"gates\" must be an object";
      return Error::kInvalidValue;
    }
    Gates& g = plan.gates;
    constexpr double kHuge = std::numeric_limits<double>::max();
    if (!only_keys(*gates,
                   {"min_install_success", "confirm_deadline_s", "max_reverts", "max_reboots",
                    "calibration_deadline_s", "max_latency_ms", "max_anomaly_ratio",
                    "anomaly_slack", "min_windows", "min_shadow_agreement"},
                   "gates", why) ||
        !read_number(*gates, "min_install_success", 0.0, 1.0, &g.min_install_success, why) ||
        !read_millis(*gates, "confirm_deadline_s", &g.confirm_deadline_ms, why) ||
        !read_count(*gates, "max_reverts", &g.max_reverts, why) ||
        !read_count(*gates, "max_reboots", &g.max_reboots, why) ||
        !read_millis(*gates, "calibration_deadline_s", &g.calibration_deadline_ms, why) ||
        !read_number(*gates, "max_latency_ms", 0.0, 1e9, &g.max_latency_ms, why) ||
        !read_number(*gates, "max_anomaly_ratio", 1.0, kHuge, &g.max_anomaly_ratio, why) ||
        !read_number(*gates, "anomaly_slack", 0.0, 1.0, &g.anomaly_slack, why) ||
        !read_count(*gates, "min_windows", &g.min_windows, why) ||
        !read_number(*gates, "min_shadow_agreement", 0.0, 1.0, &g.min_shadow_agreement, why)) {
      return Error::kInvalidValue;
    }
  }
  return plan;
}

}  // namespace spindle::gateway::rollout
