// The operator API's rollout endpoints (docs/gateway/api.md "Rollouts"): create a staged
// rollout from what spindlectl signed, watch its stages and gates, pause, resume, abort.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "endpoints_private.hpp"
#include "http_api_private.hpp"
#include "json_views_private.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/hex.hpp"

namespace spindle::gateway {

using api::Answer;
using api::error_answer;
using api::json_answer;
using api::NewDeployment;
using nlohmann::json;

namespace {

// What HttpApiOptions::max_rollout_body_bytes holds at about 2 KB a device, with room.
constexpr std::size_t kMaxRolloutDevices = 30000;
constexpr std::size_t kMaxNameSize = 64;

Answer no_rollouts() {
  return error_answer(api::kHttpUnavailable, "this gateway runs no rollouts");
}

// The hex of a signed decision in `entry[key]`, verified: bound to the device, naming the
// candidate, of the expected action. Empty `out` when absent and not required.
std::optional<Answer> read_decision(const json& entry, const char* key, const std::string& where,
                                    decision::Action action, bool required,
                                    const StoredDeployment& candidate,
                                    std::span<const cose::TrustedKey> trusted, Bytes& out) {
  const std::string name = where + "." + key;
  if (!entry.contains(key)) {
    if (!required) return std::nullopt;
    return error_answer(api::kHttpBadRequest,
                        name + " is required by this plan: spindlectl signs it with the rollout");
  }
  if (!entry[key].is_string()) return error_answer(api::kHttpBadRequest, name + " must be hex");
  const auto& text = entry[key].get_ref<const std::string&>();
  out.assign(text.size() / 2 + 1, 0);
  const auto size = hex::decode(text, out);
  if (!size.ok() || *size == 0 || *size > decision::kMaxSignedSize) {
    return error_answer(api::kHttpBadRequest,
                        name + " is not the hex of a signed decision of at most " +
                            std::to_string(decision::kMaxSignedSize) + " bytes");
  }
  out.resize(*size);
  const auto d = decision::verify(out, trusted);
  if (!d.ok()) {
    return error_answer(api::kHttpBadRequest,
                        name + " does not verify as a decision signed by a trusted key (" +
                            d.status().name() + ")");
  }
  if (d->device_id != candidate.device_id || d->action != action ||
      d->model_id != candidate.model_id || d->version != candidate.version ||
      api::to_hex(d->payload_digest) != candidate.model_digest) {
    return error_answer(api::kHttpBadRequest,
                        name + " is a " + decision::action_name(d->action) + " of " +
                            std::string(d->model_id) + " v" + std::to_string(d->version) +
                            " for \"" + std::string(d->device_id) + "\", not a " +
                            decision::action_name(action) + " of this device's candidate " +
                            candidate.model_id + " v" + std::to_string(candidate.version));
  }
  return std::nullopt;
}

// The rollout id of a path: 400 unless a decimal number.
std::optional<Answer> rollout_id(const std::string& text, std::int64_t& id) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return error_answer(api::kHttpBadRequest,
                        "rollout id \"" + text.substr(0, 32) + "\" in the path is not a number");
  }
  id = std::stoll(text);
  return std::nullopt;
}

json gate_view(const rollout::GateResult& gate) {
  return {{"gate", gate.name},
          {"verdict", rollout::verdict_name(gate.verdict)},
          {"value", gate.value},
          {"threshold", gate.threshold},
          {"detail", gate.detail}};
}

json rollout_summary(const StoredRollout& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"model_id", r.model_id},
          {"version", r.version},
          {"model_digest", r.model_digest},
          {"phase", rollout_phase_name(r.phase)},
          {"stage", r.stage + 1},
          {"halted_gate", r.halted_gate},
          {"halt_detail", r.halt_detail},
          {"created_ms", r.created_ms},
          {"updated_ms", r.updated_ms}};
}

}  // namespace

Answer HttpApi::Impl::create_rollout(const httplib::Request& request, const std::string& body) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  if (rollouts_ == nullptr) return no_rollouts();
  if (trusted_keys_.empty()) {
    return error_answer(api::kHttpBadRequest,
                        "no trusted signing key configured: start the gateway with "
                        "--trust-key KID=FILE");
  }
  json parsed;
  if (auto bad = api::parse_entries(body, "devices", kMaxRolloutDevices, parsed)) return *bad;
  const json document = json::parse(body, nullptr, false);
  const json& entries = parsed;
  std::string name = "rollout";
  if (document.contains("name")) {
    if (!document["name"].is_string() || document["name"].get<std::string>().empty() ||
        document["name"].get<std::string>().size() > kMaxNameSize) {
      return error_answer(api::kHttpBadRequest,
                          "\"name\" must be text of 1.." + std::to_string(kMaxNameSize) + " bytes");
    }
    name = document["name"].get<std::string>();
  }
  if (!document.contains("plan") || !document["plan"].is_object()) {
    return error_answer(api::kHttpBadRequest,
                        "\"plan\" is required: {\"stages\": \"2,50%,100%\", \"soak_s\": 300, ...}");
  }
  std::string why;
  const auto plan = rollout::plan_from_json(document["plan"].dump(), &why);
  if (!plan.ok()) return error_answer(api::kHttpBadRequest, "plan: " + why);

  const std::int64_t now = now_ms();
  std::vector<NewDeployment> candidates(entries.size());
  std::vector<StoredRolloutDevice> devices(entries.size());
  std::set<std::string, std::less<>> seen;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string where = api::index_name("devices", i);
    if (auto bad = decode_deployment(entries[i], where, now, candidates[i])) return *bad;
    const StoredDeployment& c = candidates[i].record;
    if (entries[i].contains("device") && (!entries[i]["device"].is_string() ||
                                          entries[i]["device"].get<std::string>() != c.device_id)) {
      return error_answer(api::kHttpBadRequest, where + ": the manifest is bound to \"" +
                                                    c.device_id + "\", not to the device named");
    }
    if (!seen.insert(c.device_id).second) {
      return error_answer(api::kHttpBadRequest,
                          where + ": device \"" + c.device_id + "\" is in the rollout twice");
    }
    const StoredDeployment& first = candidates[0].record;
    if (c.model_digest != first.model_digest || c.model_id != first.model_id ||
        c.version != first.version) {
      return error_answer(api::kHttpBadRequest,
                          where + ": a rollout carries one candidate; this manifest names " +
                              c.model_id + " v" + std::to_string(c.version) + ", devices[0] " +
                              first.model_id + " v" + std::to_string(first.version));
    }
    const bool shadow = c.role == DeploymentRole::kShadow;
    if (shadow != plan->shadow) {
      return error_answer(api::kHttpBadRequest, where + ": the plan is " +
                                                    (plan->shadow ? "a shadow" : "an active") +
                                                    " rollout but the manifest's role is " +
                                                    deployment_role_name(c.role) +
                                                    ": sign the candidate with the plan's role");
    }
    StoredRolloutDevice& d = devices[i];
    d.device_id = c.device_id;
    d.candidate = c.manifest;
    if (auto bad = read_decision(entries[i], "promote", where, decision::Action::kPromote,
                                 plan->shadow, c, trusted_keys_, d.promote))
      return *bad;
    if (auto bad = read_decision(entries[i], "discard", where, decision::Action::kDiscard,
                                 plan->shadow && plan->auto_revert, c, trusted_keys_, d.discard))
      return *bad;
    if (auto bad = read_decision(entries[i], "revert", where, decision::Action::kRevert,
                                 plan->auto_revert, c, trusted_keys_, d.revert))
      return *bad;
  }

  StoredRollout record;
  record.name = name;
  record.model_id = candidates[0].record.model_id;
  record.version = candidates[0].record.version;
  record.model_digest = candidates[0].record.model_digest;
  record.plan = rollout::plan_to_json(*plan);
  std::optional<Answer> rejected;
  const auto id = rollouts_->create(record, devices, now, [&](Store& store) -> Status {
    Status failure;
    rejected = check_deployments(store, candidates, failure);
    return failure;
  });
  if (rejected) return *rejected;
  if (!id.ok()) {
    if (id.status() == Status(Error::kNotFound)) {
      return error_answer(api::kHttpNotFound, "a device or the model is not known to the gateway");
    }
    return api::write_failed(id.status());
  }
  return json_answer(api::kHttpCreated, {{"id", *id},
                                         {"name", name},
                                         {"devices", devices.size()},
                                         {"stages", rollout::stages_text(plan->stages)}});
}

Answer HttpApi::Impl::list_rollouts(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  const auto rollouts = read_store([](Store& store) { return store.list_rollouts(); });
  if (!rollouts.ok()) return api::read_failed(rollouts.status());
  return json_answer(api::kHttpOk, {{"rollouts", api::views(*rollouts, rollout_summary)}});
}

Answer HttpApi::Impl::get_rollout(const httplib::Request& request, const std::string&) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  if (rollouts_ == nullptr) return no_rollouts();
  const std::string text = request.matches[1].str();
  std::int64_t id = 0;
  if (auto bad = rollout_id(text, id)) return *bad;
  const auto view = rollouts_->view(id);
  if (view.status() == Status(Error::kNotFound)) {
    return error_answer(api::kHttpNotFound, "no rollout " + text);
  }
  if (!view.ok()) return api::read_failed(view.status());
  json answer = rollout_summary(view->rollout);
  answer["plan"] = json::parse(view->rollout.plan, nullptr, false);
  answer["stages"] = view->plan.stages.size();
  json steps = json::object();
  for (std::size_t s = 0; s < kRolloutDeviceStepCount; ++s) {
    steps[rollout_device_step_name(static_cast<RolloutDeviceStep>(s))] = 0;
  }
  json devices = json::array();
  const std::size_t total = view->devices.size();
  std::size_t stage = 0;
  for (std::size_t i = 0; i < total; ++i) {
    const StoredRolloutDevice& d = view->devices[i];
    while (stage + 1 < view->plan.stages.size() &&
           i >= rollout::stage_end(view->plan.stages, stage, total)) {
      ++stage;
    }
    steps[rollout_device_step_name(d.step)] =
        steps[rollout_device_step_name(d.step)].get<int>() + 1;
    devices.push_back({{"device", d.device_id},
                       {"stage", stage + 1},
                       {"step", rollout_device_step_name(d.step)},
                       {"released_ms", d.released_ms},
                       {"decided_ms", d.decided_ms},
                       {"deployment", d.deployment}});
  }
  answer["devices_by_step"] = std::move(steps);
  answer["devices"] = std::move(devices);
  answer["gates"] = api::views(view->gates, gate_view);
  answer["evaluated_ms"] = view->evaluated_ms;
  return json_answer(api::kHttpOk, std::move(answer));
}

Answer HttpApi::Impl::command_rollout(const httplib::Request& request, rollout::Command command) {
  if (auto bad = api::check_parameters(request, {})) return *bad;
  if (rollouts_ == nullptr) return no_rollouts();
  const std::string text = request.matches[1].str();
  std::int64_t id = 0;
  if (auto bad = rollout_id(text, id)) return *bad;
  const Status done = rollouts_->command(id, command, now_ms());
  if (done == Status(Error::kNotFound))
    return error_answer(api::kHttpNotFound, "no rollout " + text);
  if (done == Status(Error::kInvalidState)) {
    const auto stored = read_store([&](Store& store) { return store.get_rollout(id); });
    return error_answer(api::kHttpConflict,
                        "rollout " + text + " is " +
                            (stored.ok() ? rollout_phase_name(stored->phase) : "finished") +
                            ": pause and resume need it running or paused, abort needs it "
                            "unfinished");
  }
  if (!done.ok()) return api::write_failed(done);
  const auto stored = read_store([&](Store& store) { return store.get_rollout(id); });
  if (!stored.ok()) return api::read_failed(stored.status());
  return json_answer(api::kHttpOk, rollout_summary(*stored));
}

Answer HttpApi::Impl::pause_rollout(const httplib::Request& request, const std::string&) {
  return command_rollout(request, rollout::Command::kPause);
}
Answer HttpApi::Impl::resume_rollout(const httplib::Request& request, const std::string&) {
  return command_rollout(request, rollout::Command::kResume);
}
Answer HttpApi::Impl::abort_rollout(const httplib::Request& request, const std::string&) {
  return command_rollout(request, rollout::Command::kAbort);
}

}  // namespace spindle::gateway
