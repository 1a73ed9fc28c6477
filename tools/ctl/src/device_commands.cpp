// spindlectl status, attest and calibrate: what the devices run, whether they can prove it,
// and their per-machine calibration.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "command_line_private.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::ctl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(500);

// Deployment states that end a wait in failure (status_report's install states).
const std::set<std::string>& failure_states() {
  static const std::set<std::string> states = {
      status_report::install_state_name(status_report::InstallState::kManifestRejected),
      status_report::install_state_name(status_report::InstallState::kFailed),
      status_report::install_state_name(status_report::InstallState::kRolledBack)};
  return states;
}

// Reasons of a "failed" report after which the node fetches the payload again by itself.
const std::set<std::string>& retried_reasons() {
  static const std::set<std::string> reasons = {
      error_name(Error::kDigestMismatch), error_name(Error::kTimeout),
      error_name(Error::kRetriesExhausted), error_name(Error::kUnavailable)};
  return reasons;
}

// The states a deployment can be in: "pending" (created), then what the node reported.
void check_state_name(const std::string& state) {
  std::string known = "pending";
  if (state == known) return;
  for (std::uint8_t i = 0; i <= status_report::kMaxInstallState; ++i) {
    const std::string name =
        status_report::install_state_name(static_cast<status_report::InstallState>(i));
    if (state == name) return;
    known += ", " + name;
  }
  throw cli::UsageError("--wait-state '" + state + "' is not a deployment state (" + known + ")");
}

std::string text_or_dash(const nlohmann::json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || object[field].is_null()) return "-";
  const auto& value = object[field];
  const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  return text.empty() ? "-" : text;
}

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds << " s";
  return out.str();
}

std::string utc_time(const nlohmann::json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_number()) return "-";
  const std::time_t seconds = static_cast<std::time_t>(object[field].get<std::int64_t>() / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return out.str();
}

// The verdict of a device view's "attestation": a string, or an object with "verdict".
std::string attestation_verdict(const nlohmann::json& device) {
  if (!device.contains("attestation")) return "-";
  const auto& attestation = device["attestation"];
  if (attestation.is_string()) return attestation.get<std::string>();
  return text_or_dash(attestation, "verdict");
}

// Every listed device's view with its "deployment"; all devices when none is listed.
nlohmann::json device_views(GatewayClient& gateway, const std::vector<std::string>& ids) {
  nlohmann::json views = nlohmann::json::array();
  if (!ids.empty()) {
    for (const std::string& id : ids) {
      const ApiAnswer answer = gateway.get(device_path(id));
      if (answer.status == 404) not_provisioned(id);
      views.push_back(gateway.expect(answer, {200}, "reading device " + id));
    }
    return views;
  }
  const nlohmann::json devices =
      gateway.expect(gateway.get("/api/v1/devices"), {200}, "listing devices");
  const nlohmann::json deployments =
      gateway.expect(gateway.get("/api/v1/deployments"), {200}, "listing deployments");
  for (auto device : devices.value("devices", nlohmann::json::array())) {
    device["deployment"] = nullptr;
    for (const auto& deployment : deployments.value("deployments", nlohmann::json::array())) {
      if (deployment.value("device", std::string()) == device.value("id", std::string())) {
        device["deployment"] = deployment;
      }
    }
    views.push_back(device);
  }
  return views;
}

// "300/600": a calibration's progress; "-" without one.
std::string calibration_windows(const nlohmann::json& calibration) {
  if (!calibration.is_object()) return "-";
  return text_or_dash(calibration, "windows_done") + "/" +
         text_or_dash(calibration, "windows_total");
}

// The threshold in force, with the bound it was clamped to ("0.81", "2 (upper)").
std::string calibration_threshold(const nlohmann::json& calibration) {
  if (!calibration.is_object() || !calibration.contains("threshold") ||
      !calibration["threshold"].is_number()) {
    return "-";
  }
  std::ostringstream out;
  out << std::setprecision(4) << calibration["threshold"].get<double>();
  const std::string clamp = text_or_dash(calibration, "clamp");
  if (clamp != "-" && clamp != "none") out << " (" << clamp << ")";
  return out.str();
}

void print_table(const nlohmann::json& views) {
  const std::vector<std::string> header = {"DEVICE",      "ONLINE",  "MODEL",    "VERSION",
                                           "STATE",       "REASON",  "UPDATED",  "ATTESTATION",
                                           "CALIBRATION", "WINDOWS", "THRESHOLD"};
  std::vector<std::vector<std::string>> rows = {header};
  for (const auto& view : views) {
    const nlohmann::json deployment = view.value("deployment", nlohmann::json());
    const nlohmann::json calibration = view.value("calibration", nlohmann::json());
    rows.push_back({text_or_dash(view, "id"), view.value("online", false) ? "yes" : "no",
                    text_or_dash(deployment, "model_id"), text_or_dash(deployment, "version"),
                    text_or_dash(deployment, "state"), text_or_dash(deployment, "reason"),
                    utc_time(deployment, "updated_ms"), attestation_verdict(view),
                    text_or_dash(calibration, "state"), calibration_windows(calibration),
                    calibration_threshold(calibration)});
  }
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i] + (i + 1 < row.size() ? std::string(widths[i] - row[i].size() + 2, ' ') : "");
    }
    std::cout << line << "\n";
  }
}

// What the wait still waits for: "" when every device reached `state`; throws on a
// failure state.
std::string waiting_for(const nlohmann::json& views, const std::string& state) {
  std::string pending;
  for (const auto& view : views) {
    const std::string id = text_or_dash(view, "id");
    const std::string current = text_or_dash(view.value("deployment", nlohmann::json()), "state");
    if (current == state) continue;
    const std::string reason = text_or_dash(view.value("deployment", nlohmann::json()), "reason");
    // A transfer that failed (corrupted, timed out) is fetched again by the node: not final.
    const bool retried = current == "failed" && retried_reasons().count(reason) != 0;
    if (failure_states().count(current) != 0 && !retried) {
      print_table(views);
      throw std::runtime_error(id + "'s deployment is " + current + " (" +
                               text_or_dash(view["deployment"], "reason") + ")");
    }
    pending += (pending.empty() ? "" : ", ") + id + " is " + current;
  }
  return pending;
}

}  // namespace

int cmd_status(const Args& args) {
  GatewayOptions gateway_options;
  std::vector<std::string> devices;
  std::string wait_state;
  double timeout_s = 60;
  bool json = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("device", po::value(&devices)->composing(),
                                               "only this device (repeatable); default: all")(
      "json", po::bool_switch(&json), "print the gateway's device views as JSON")(
      "wait-state", po::value(&wait_state),
      "wait until every device's current deployment is in STATE (e.g. confirmed); a failure "
      "state (manifest-rejected, failed, rolled-back) ends the wait with exit status 1, except a "
      "failed transfer the node retries (digest-mismatch, timeout)")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "seconds --wait-state waits");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(args,
                     "usage: spindlectl status [--device ID ...] [--json] "
                     "[--wait-state STATE --timeout S] --token-file FILE\n\n"
                     "Shows each device: online, current deployment (model, version, state, "
                     "reason, last update),\nattestation verdict and per-machine calibration "
                     "(state, windows done/total, threshold in force).",
                     options, &vm)) {
    return 0;
  }
  const std::vector<std::string> ids = checked_device_ids(devices);
  if (!wait_state.empty()) check_state_name(wait_state);
  if (!(timeout_s >= 0)) throw cli::UsageError("--timeout must be >= 0 seconds");
  GatewayClient gateway = gateway_options.connect();

  nlohmann::json views = device_views(gateway, ids);
  if (!wait_state.empty()) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      const std::string pending = waiting_for(views, wait_state);
      if (pending.empty()) break;
      if (Clock::now() >= deadline) {
        print_table(views);
        throw std::runtime_error("timed out after " + seconds_text(timeout_s) + " waiting for " +
                                 wait_state + ": " + pending);
      }
      std::this_thread::sleep_for(kPollInterval);
      views = device_views(gateway, ids);
    }
  }
  if (json) {
    std::cout << nlohmann::json{{"devices", views}}.dump(2) << "\n";
  } else {
    print_table(views);
  }
  return 0;
}

int cmd_attest(const Args& args) {
  GatewayOptions gateway_options;
  std::vector<std::string> devices;
  double wait_s = 0;
  po::options_description options("options");
  options.add_options()("help,h", "this help")(
      "device", po::value(&devices)->required()->composing(), "device id (repeatable)")(
      "wait", po::value(&wait_s)->default_value(wait_s),
      "seconds to wait for the verdicts (0: only request)");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(
          args,
          "usage: spindlectl attest --device ID [--device ID ...] [--wait S] --token-file FILE\n\n"
          "Asks each device to prove what it runs: the gateway sends it a nonce with its next\n"
          "answer, and checks the MAC of its reply against what it deployed. With --wait, waits\n"
          "for the verdicts: exit status 0 when every one is match.",
          options, &vm)) {
    return 0;
  }
  const std::vector<std::string> ids = checked_device_ids(devices);
  if (!(wait_s >= 0)) throw cli::UsageError("--wait must be >= 0 seconds");
  GatewayClient gateway = gateway_options.connect();

  std::vector<std::string> nonces;
  std::vector<std::int64_t> requested_ms;
  for (const std::string& id : ids) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    requested_ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
    const ApiAnswer answer =
        gateway.post_json(device_path(id) + "/attest", nlohmann::json::object());
    if (answer.status == 404 && gateway.get(device_path(id)).status == 404) not_provisioned(id);
    const nlohmann::json challenge =
        gateway.expect(answer, {200, 201}, "requesting attestation of " + id);
    nonces.push_back(challenge.value("nonce", std::string()));
    if (challenge.contains("created_ms") && challenge["created_ms"].is_number_integer()) {
      requested_ms.back() = challenge["created_ms"].get<std::int64_t>();  // the gateway's clock
    }
    std::cout << id << ": attestation requested, nonce " << nonces.back() << "\n";
  }
  if (wait_s == 0) return 0;

  // A verdict answers our request when it carries our nonce or, without a nonce, is
  // stamped at or after the request.
  const auto answers = [&](const nlohmann::json& attestation, std::size_t i) {
    if (!attestation.is_object()) return false;
    if (attestation.contains("nonce"))
      return attestation.value("nonce", std::string()) == nonces[i];
    return attestation.contains("time_ms") && attestation["time_ms"].is_number_integer() &&
           attestation["time_ms"].get<std::int64_t>() >= requested_ms[i];
  };
  const auto deadline = Clock::now() + std::chrono::duration<double>(wait_s);
  std::vector<std::string> verdicts(ids.size());
  for (;;) {
    std::size_t missing = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!verdicts[i].empty()) continue;
      const nlohmann::json view =
          gateway.expect(gateway.get(device_path(ids[i])), {200}, "reading device " + ids[i]);
      const nlohmann::json attestation = view.value("attestation", nlohmann::json());
      if (answers(attestation, i)) {
        verdicts[i] = text_or_dash(attestation, "verdict");
        std::cout << ids[i] << ": " << verdicts[i] << "\n";
      } else {
        ++missing;
      }
    }
    if (missing == 0) break;
    if (Clock::now() >= deadline) {
      std::string late;
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (verdicts[i].empty()) late += (late.empty() ? "" : ", ") + ids[i];
      }
      throw std::runtime_error("timed out after " + seconds_text(wait_s) +
                               " waiting for the attestation of " + late +
                               " (a node answers with its next registration refresh or telemetry)");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  const bool all_match = std::all_of(verdicts.begin(), verdicts.end(),
                                     [](const std::string& v) { return v == "match"; });
  return all_match ? 0 : 1;
}

namespace {

// "fleet-ae v1 generation 2 calibrated (240/240 windows, threshold 0.81)".
std::string calibration_text(const nlohmann::json& calibration) {
  return text_or_dash(calibration, "model_id") + " v" + text_or_dash(calibration, "version") +
         " generation " + text_or_dash(calibration, "generation") + " " +
         text_or_dash(calibration, "state") + " (" + calibration_windows(calibration) +
         " windows, threshold " + calibration_threshold(calibration) + ")";
}

}  // namespace

int cmd_calibrate(const Args& args) {
  GatewayOptions gateway_options;
  std::string device;
  bool reset = false;
  bool wait = false;
  double timeout_s = 600;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("device", po::value(&device)->required(),
                                               "device id (or the first argument)")(
      "reset", po::bool_switch(&reset),
      "discard the device's calibration: the node calibrates again (the next generation)")(
      "wait", po::bool_switch(&wait),
      "with --reset: wait until the node reports the new generation calibrated")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "seconds --wait waits");
  options.add(gateway_options.describe());
  Args rest = args;
  if (!rest.empty() && !rest.front().starts_with("-")) rest.insert(rest.begin(), "--device");
  po::variables_map vm;
  if (!parse_command(
          rest,
          "usage: spindlectl calibrate DEVICE [--reset [--wait [--timeout S]]] --token-file "
          "FILE\n\n"
          "Shows the device's per-machine calibration as it last reported it. With --reset,\n"
          "asks the node (through the gateway, with its next answers) to discard it and\n"
          "calibrate its active model again on its machine, as generation N+1; no alarms\n"
          "until that completes. With --wait, prints progress until the new generation is\n"
          "calibrated (exit 0) or the timeout passes (exit 1).",
          options, &vm)) {
    return 0;
  }
  checked_device_ids({device});
  if (wait && !reset) throw cli::UsageError("--wait waits for a --reset: give --reset");
  if (!(timeout_s >= 0)) throw cli::UsageError("--timeout must be >= 0 seconds");
  GatewayClient gateway = gateway_options.connect();
  const auto read_calibration = [&] {
    const ApiAnswer answer = gateway.get(device_path(device));
    if (answer.status == 404) not_provisioned(device);
    return gateway.expect(answer, {200}, "reading device " + device)
        .value("calibration", nlohmann::json());
  };
  if (!reset) {
    const nlohmann::json calibration = read_calibration();
    if (!calibration.is_object()) {
      std::cout << device << ": no calibration reported\n";
    } else {
      std::cout << device << ": " << calibration_text(calibration) << "\n";
    }
    return 0;
  }
  const ApiAnswer answer =
      gateway.post_json(device_path(device) + "/calibration/reset", nlohmann::json::object());
  if (answer.status == 404) not_provisioned(device);
  const nlohmann::json asked =
      gateway.expect(answer, {201}, "resetting the calibration of " + device);
  const std::uint64_t next = asked.value("next_generation", std::uint64_t{0});
  std::cout << device << ": calibration reset requested: " << text_or_dash(asked, "model_id")
            << " v" << text_or_dash(asked, "version") << " generation "
            << text_or_dash(asked, "after_generation") << " (" << text_or_dash(asked, "state")
            << ") is discarded, the node begins generation " << next << "\n";
  if (!wait) return 0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  std::string last;
  for (;;) {
    const nlohmann::json calibration = read_calibration();
    const bool newer = calibration.is_object() && calibration.contains("generation") &&
                       calibration["generation"].is_number_unsigned() &&
                       calibration["generation"].get<std::uint64_t>() >= next;
    const std::string progress =
        calibration.is_object() ? calibration_text(calibration) : "no calibration reported";
    if (progress != last) std::cerr << kProgram << " calibrate: " << progress << "\n";
    last = progress;
    if (newer && calibration.value("state", std::string()) == "calibrated") {
      std::cout << device << ": " << progress << "\n";
      return 0;
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("timed out after " + seconds_text(timeout_s) +
                               " waiting for generation " + std::to_string(next) + " of " + device +
                               " to be calibrated: " + progress +
                               " (a node takes the reset with its next registration refresh or "
                               "telemetry, then calibrates over the manifest's period)");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

int cmd_tags(const Args& given) {
  GatewayOptions gateway_options;
  std::string device;
  std::vector<std::string> settings;
  std::vector<std::string> removals;
  std::string selector;
  bool clear = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("device", po::value(&device), "the device to tag")(
      "set", po::value(&settings)->composing(),
      "KEY=VALUE to set (repeatable; KEY= sets it empty)")(
      "unset", po::value(&removals)->composing(), "KEY to remove (repeatable)")(
      "clear", po::bool_switch(&clear), "remove every tag first")(
      "selector", po::value(&selector),
      "list the devices this selector matches instead (site=hall-2,line=3,!spare,board=...)");
  options.add(gateway_options.describe());
  // The device may come first, positionally: "tags pump-1 --set site=hall-2".
  Args args = given;
  if (!args.empty() && !args.front().empty() && args.front()[0] != '-') {
    args.front() = "--device=" + args.front();
  }
  po::variables_map vm;
  if (!parse_command(args,
                     "usage: spindlectl tags DEVICE [--set KEY=VALUE ...] [--unset KEY ...] "
                     "[--clear]\n"
                     "       spindlectl tags --selector EXPR\n\n"
                     "Shows or changes a device's tags (site, line, free labels), or lists the "
                     "devices a selector\nmatches; rollouts target devices by selector. Every "
                     "device also matches board=<its board>.",
                     options, &vm)) {
    return 0;
  }
  GatewayClient gateway = gateway_options.connect();
  if (!selector.empty()) {
    if (!device.empty()) throw cli::UsageError("give a device or --selector, not both");
    const nlohmann::json answer = gateway.expect(
        gateway.get("/api/v1/devices?selector=" + httplib::detail::encode_query_param(selector)),
        {200}, "selecting devices by \"" + selector + "\"");
    for (const auto& d : answer.value("devices", nlohmann::json::array())) {
      std::cout << d.value("id", std::string());
      const nlohmann::json device_tags = d.value("tags", nlohmann::json::object());
      for (const auto& [key, value] : device_tags.items()) {
        std::cout << " " << key << "=" << value.get<std::string>();
      }
      std::cout << "\n";
    }
    return 0;
  }
  if (device.empty()) throw cli::UsageError("a device id (or --selector) is required");
  (void)checked_device_ids({device});
  const nlohmann::json view =
      gateway.expect(gateway.get("/api/v1/devices/" + device), {200}, "reading " + device);
  nlohmann::json tags =
      clear ? nlohmann::json::object() : view.value("tags", nlohmann::json::object());
  for (const std::string& key : removals)
    tags.erase(key);
  for (const std::string& setting : settings) {
    const std::size_t eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw cli::UsageError("--set \"" + setting + "\" is not KEY=VALUE");
    }
    tags[setting.substr(0, eq)] = setting.substr(eq + 1);
  }
  if (!settings.empty() || !removals.empty() || clear) {
    const nlohmann::json answer =
        gateway.expect(gateway.post_json("/api/v1/devices/" + device + "/tags", {{"tags", tags}}),
                       {200}, "tagging " + device);
    tags = answer.value("tags", nlohmann::json::object());
  }
  std::cout << device;
  for (const auto& [key, value] : tags.items()) {
    std::cout << " " << key << "=" << value.get<std::string>();
  }
  std::cout << "\n";
  return 0;
}

}  // namespace spindle::ctl
