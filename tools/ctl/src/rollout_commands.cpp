// spindlectl rollout: staged rollouts (docs/gateway/rollouts.md). `start` signs, for every
// target device, the candidate manifest and every decision the rollout may release
// (promote and discard for a shadow rollout, revert for auto-revert), since the gateway
// holds no signing key; the other subcommands show and steer a rollout.
#include <algorithm>
#include <array>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "command_line_private.hpp"
#include "spindle/cli/board_file.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/ctl/pack.hpp"
#include "spindle/protocol/decision.hpp"

namespace spindle::ctl {
namespace {

using Clock = std::chrono::steady_clock;

std::string rollout_path(const std::string& id) {
  for (const char c : id) {
    if (c < '0' || c > '9') throw cli::UsageError("rollout id \"" + id + "\" is not a number");
  }
  if (id.empty()) throw cli::UsageError("a rollout id is required");
  return "/api/v1/rollouts/" + id;
}

// The devices a selector matches, by id (GET /api/v1/devices?selector=).
std::vector<std::string> select_devices(GatewayClient& gateway, const std::string& selector) {
  const std::string path =
      "/api/v1/devices?selector=" + httplib::detail::encode_query_param(selector);
  const nlohmann::json answer =
      gateway.expect(gateway.get(path), {200}, "selecting devices by \"" + selector + "\"");
  std::vector<std::string> ids;
  for (const auto& device : answer.value("devices", nlohmann::json::array())) {
    ids.push_back(device.value("id", std::string()));
  }
  return ids;
}

ByteVector sign_decision(const SigningPackage& signing, const std::string& device_id,
                         decision::Action action) {
  const PackageInfo& info = signing.package.info;
  decision::Decision d;
  d.device_id = device_id;
  d.action = action;
  d.model_id = info.model_id;
  d.version = info.version;
  d.payload_digest = info.payload_digest;
  const auto signed_decision_bytes = signed_decision(d, signing.signing_key, signing.kid);
  if (!signed_decision_bytes.ok()) {
    throw std::runtime_error(std::string("signing the ") + decision::action_name(action) +
                             " decision for " + device_id + ": " +
                             signed_decision_bytes.status().name());
  }
  return *signed_decision_bytes;
}

void print_rollout(const nlohmann::json& r) {
  std::cout << "rollout " << r.value("id", 0) << " \"" << r.value("name", std::string())
            << "\": " << r.value("model_id", std::string()) << " v" << r.value("version", 0) << ", "
            << r.value("phase", std::string()) << ", stage " << r.value("stage", 0) << " of "
            << r.value("stages", 0) << "\n";
  if (!r.value("halted_gate", std::string()).empty()) {
    std::cout << "  halted by " << r.value("halted_gate", std::string()) << ": "
              << r.value("halt_detail", std::string()) << "\n";
  }
  std::cout << "  devices:";
  const nlohmann::json by_step = r.value("devices_by_step", nlohmann::json::object());
  for (const auto& [step, count] : by_step.items()) {
    if (count.get<int>() > 0) std::cout << " " << step << " " << count.get<int>();
  }
  std::cout << "\n";
  std::cout << "  " << std::left << std::setw(18) << "gate" << std::setw(9) << "verdict"
            << std::setw(12) << "value" << std::setw(12) << "threshold"
            << "detail\n";
  for (const auto& g : r.value("gates", nlohmann::json::array())) {
    std::ostringstream value;
    std::ostringstream threshold;
    value << std::setprecision(4) << g.value("value", 0.0);
    threshold << std::setprecision(4) << g.value("threshold", 0.0);
    std::cout << "  " << std::left << std::setw(18) << g.value("gate", std::string())
              << std::setw(9) << g.value("verdict", std::string()) << std::setw(12) << value.str()
              << std::setw(12) << threshold.str() << g.value("detail", std::string()) << "\n";
  }
}

int rollout_start(const Args& args) {
  GatewayOptions gateway_options;
  std::string package_path, key_path, kid, selector, stages = "1,100%", name;
  std::string activation_text = "now";
  std::vector<std::string> devices, gate_settings;
  double soak_s = 300;
  bool shadow = false;
  bool auto_revert = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("package", po::value(&package_path)->required(),
                                               "the candidate's package (.spkg)")(
      "signing-key", po::value(&key_path)->required(), "the private key that signed it (KID.key)")(
      "kid", po::value(&kid)->required(), "its key id")(
      "device", po::value(&devices)->composing(), "target device, in release order (repeatable)")(
      "selector", po::value(&selector),
      "target the devices a tag expression matches (site=hall-2,line=3,!spare), by id")(
      "stages", po::value(&stages)->default_value(stages),
      "cumulative stage sizes: device counts or percentages, e.g. 2,25%,100%")(
      "soak", po::value(&soak_s)->default_value(soak_s),
      "seconds each stage's gates must hold before the next stage is released")(
      "shadow", po::bool_switch(&shadow),
      "run the candidate in shadow beside the active model, promote stage by stage")(
      "auto-revert", po::bool_switch(&auto_revert),
      "on a halt, send the devices that took the candidate back to their previous model")(
      "gate", po::value(&gate_settings)->composing(),
      "a gate threshold NAME=VALUE (repeatable): min_install_success, confirm_deadline_s, "
      "max_reverts, max_reboots, calibration_deadline_s, max_latency_ms, max_anomaly_ratio, "
      "anomaly_slack, min_windows, min_shadow_agreement")(
      "activation", po::value(&activation_text)->default_value(activation_text), kActivationHelp)(
      "name", po::value(&name), "a name for operators (default: model id and version)");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(
          args,
          "usage: spindlectl rollout start --package FILE.spkg --signing-key KID.key --kid KID\n"
          "         (--device ID ... | --selector EXPR) [--stages 2,50%,100%] [--soak S]\n"
          "         [--shadow] [--auto-revert] [--gate NAME=VALUE ...] [--activation WHEN]\n"
          "         --token-file FILE\n\n"
          "Signs, for every device, the candidate's manifest and the decisions the rollout may\n"
          "release (promote and discard with --shadow, revert with --auto-revert), uploads the\n"
          "model if the gateway lacks it, and starts the rollout: the first stage is released\n"
          "at once, each next one when every gate has held for --soak seconds.",
          options, &vm)) {
    return 0;
  }
  if (devices.empty() == selector.empty()) {
    throw cli::UsageError(
        "give the targets as --device ID ... or as --selector EXPR (one of them)");
  }
  if (!(soak_s >= 0)) throw cli::UsageError("--soak must be >= 0 seconds");
  const manifest::Activation activation = activation_option(activation_text);
  nlohmann::json gates = nlohmann::json::object();
  for (const std::string& setting : gate_settings) {
    const std::size_t eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw cli::UsageError("--gate \"" + setting + "\" is not NAME=VALUE");
    }
    try {
      std::size_t used = 0;
      const double value = std::stod(setting.substr(eq + 1), &used);
      if (used != setting.size() - eq - 1) throw std::invalid_argument("trailing text");
      gates[setting.substr(0, eq)] = value;
    } catch (const std::exception&) {
      throw cli::UsageError("--gate \"" + setting + "\": the value is not a number");
    }
  }
  nlohmann::json plan = {{"stages", stages},
                         {"soak_s", soak_s},
                         {"shadow", shadow},
                         {"auto_revert", auto_revert},
                         {"gates", gates}};
  const SigningPackage signing = open_signing_package(package_path, key_path, kid);
  const PackageInfo& info = signing.package.info;
  if (shadow) {
    try {
      check_shadow_fit(info, cli::load_board(info.board));
    } catch (const PackRefused& e) {
      throw std::runtime_error(package_path + " cannot run in shadow: " + e.what());
    }
  }
  GatewayClient gateway = gateway_options.connect();
  const std::vector<std::string> ids =
      selector.empty() ? checked_device_ids(devices) : select_devices(gateway, selector);
  if (ids.empty()) throw std::runtime_error("the selector \"" + selector + "\" matches no device");

  nlohmann::json request = {
      {"name", name.empty() ? info.model_id + " v" + std::to_string(info.version) : name},
      {"plan", plan},
      {"devices", nlohmann::json::array()}};
  const auto role = shadow ? manifest::ManifestRole::kShadow : manifest::ManifestRole::kActive;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const ByteVector kek = device_kek(gateway, ids[i]);
    nlohmann::json entry = {
        {"device", ids[i]},
        {"manifest", cli::to_hex(sign_device_manifest(signing, ids[i], kek, role, activation))}};
    if (shadow) {
      entry["promote"] = cli::to_hex(sign_decision(signing, ids[i], decision::Action::kPromote));
      if (auto_revert) {
        entry["discard"] = cli::to_hex(sign_decision(signing, ids[i], decision::Action::kDiscard));
      }
    }
    if (auto_revert) {
      entry["revert"] = cli::to_hex(sign_decision(signing, ids[i], decision::Action::kRevert));
    }
    request["devices"].push_back(std::move(entry));
    std::cerr << "spindlectl rollout: [" << i + 1 << "/" << ids.size() << "] " << ids[i]
              << ": manifest" << (shadow ? " (shadow)" : "") << " and decisions signed\n";
  }
  const std::string digest = cli::to_hex(info.payload_digest);
  if (!model_on_gateway(gateway, digest)) {
    std::cerr << "spindlectl rollout: model " << digest << " is not on the gateway yet: pushing it "
              << "first\n";
    (void)upload_model(gateway, signing.package);
  }
  const ApiAnswer answer = gateway.post_json("/api/v1/rollouts", request);
  if (answer.status == 409) {
    throw std::runtime_error("starting the rollout of " + info.model_id + " v" +
                             std::to_string(info.version) + ": " + GatewayClient::error_of(answer) +
                             " (pack the model again with a higher --version)");
  }
  const nlohmann::json created = gateway.expect(answer, {201}, "starting the rollout");
  std::cout << "rollout " << created.value("id", 0) << ": " << info.model_id << " v" << info.version
            << " (model " << short_digest(info.payload_digest) << ") to " << ids.size()
            << " devices, stages " << created.value("stages", std::string()) << "\n";
  return 0;
}

int rollout_status(const Args& args) {
  GatewayOptions gateway_options;
  std::string id;
  double watch_s = 0;
  double timeout_s = 3600;
  std::string until;
  bool json = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("id", po::value(&id)->required(), "rollout id")(
      "watch", po::value(&watch_s)->default_value(watch_s),
      "refresh every S seconds until the rollout is finished (0: once)")(
      "until", po::value(&until),
      "with --watch: stop once the phase is this one (running, paused, halted, completed, "
      "aborted) and, for halted or completed, no device is still being sent back")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "seconds --watch waits at most")(
      "json", po::bool_switch(&json), "print the gateway's view as JSON");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(args,
                     "usage: spindlectl rollout status ID [--watch S [--until PHASE]] [--json]\n\n"
                     "The rollout's phase and stage, its devices per step, and each gate's value "
                     "against its threshold.",
                     options, &vm)) {
    return 0;
  }
  constexpr std::array<const char*, 5> kPhases = {"running", "paused", "halted", "completed",
                                                  "aborted"};
  if (!until.empty() && std::find(kPhases.begin(), kPhases.end(), until) == kPhases.end()) {
    throw cli::UsageError("--until: \"" + until + "\" is not a rollout phase");
  }
  GatewayClient gateway = gateway_options.connect();
  const std::string path = rollout_path(id);
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const nlohmann::json view = gateway.expect(gateway.get(path), {200}, "reading rollout " + id);
    const std::string phase = view.value("phase", std::string());
    const auto steps = view.value("devices_by_step", nlohmann::json::object());
    const bool sending_back =
        steps.value("discarding", 0) + steps.value("reverting", 0) + steps.value("promoting", 0) >
        0;
    const bool finished =
        phase == "completed" || phase == "aborted" || (phase == "halted" && !sending_back);
    const bool reached = until.empty() ? finished : phase == until && !sending_back;
    if (watch_s <= 0 || reached) {
      if (json) {
        std::cout << view.dump(2) << "\n";
      } else {
        print_rollout(view);
      }
      return 0;
    }
    if (!json) {
      print_rollout(view);
      std::cout << "\n";
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("rollout " + id + " is still " + phase + " after " +
                               std::to_string(static_cast<long>(timeout_s)) + " s");
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(watch_s));
  }
}

int rollout_list(const Args& args) {
  GatewayOptions gateway_options;
  po::options_description options("options");
  options.add_options()("help,h", "this help");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(args, "usage: spindlectl rollout list\n\nEvery rollout, newest first.",
                     options, &vm)) {
    return 0;
  }
  GatewayClient gateway = gateway_options.connect();
  const nlohmann::json answer =
      gateway.expect(gateway.get("/api/v1/rollouts"), {200}, "listing rollouts");
  for (const auto& r : answer.value("rollouts", nlohmann::json::array())) {
    std::cout << r.value("id", 0) << "  " << r.value("name", std::string()) << "  "
              << r.value("model_id", std::string()) << " v" << r.value("version", 0) << "  "
              << r.value("phase", std::string()) << "  stage " << r.value("stage", 0);
    if (!r.value("halted_gate", std::string()).empty()) {
      std::cout << "  (halted by " << r.value("halted_gate", std::string()) << ")";
    }
    std::cout << "\n";
  }
  return 0;
}

int rollout_command(const Args& args, const char* verb) {
  GatewayOptions gateway_options;
  std::string id;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("id", po::value(&id)->required(), "rollout id");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(args, std::string("usage: spindlectl rollout ") + verb + " ID", options,
                     &vm)) {
    return 0;
  }
  GatewayClient gateway = gateway_options.connect();
  const nlohmann::json r =
      gateway.expect(gateway.post_json(rollout_path(id) + "/" + verb, nlohmann::json::object()),
                     {200}, std::string(verb) + " rollout " + id);
  std::cout << "rollout " << r.value("id", 0) << ": " << r.value("phase", std::string()) << "\n";
  return 0;
}

}  // namespace

int cmd_rollout(const Args& args) {
  const std::string usage =
      "usage: spindlectl rollout start|status|list|pause|resume|abort [options]\n"
      "       (spindlectl rollout <subcommand> --help)";
  if (args.empty()) throw cli::UsageError(usage);
  const std::string sub = args.front();
  Args rest(args.begin() + 1, args.end());
  // The rollout id may come first, positionally: "rollout status 3".
  if (!rest.empty() && !rest.front().empty() && rest.front()[0] != '-' && sub != "start" &&
      sub != "list") {
    rest.front() = "--id=" + rest.front();
  }
  if (sub == "start") return rollout_start(rest);
  if (sub == "status") return rollout_status(rest);
  if (sub == "list") return rollout_list(rest);
  if (sub == "pause" || sub == "resume" || sub == "abort")
    return rollout_command(rest, sub.c_str());
  if (sub == "--help" || sub == "-h") {
    std::cout << usage << "\n";
    return 0;
  }
  throw cli::UsageError("unknown rollout subcommand \"" + sub + "\"\n" + usage);
}

}  // namespace spindle::ctl
