// spindlectl capture and datasets: ask a device for a data set, list and export data sets
// (docs/tools/spindlectl.md, docs/gateway/api.md "Captures").
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "command_line_private.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/protocol/capture.hpp"

namespace spindle::ctl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollInterval = std::chrono::milliseconds(500);

std::string capture_path(std::int64_t id) {
  return "/api/v1/captures/" + std::to_string(id);
}

std::int64_t capture_id_of(const std::string& text) {
  std::size_t used = 0;
  long long id = 0;
  try {
    id = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || id < 1) {
    throw cli::UsageError("'" + text +
                          "' is not a data set id (a number from spindlectl datasets)");
  }
  return id;
}

std::string progress_text(const nlohmann::json& capture) {
  return "capture " + std::to_string(capture.value("id", 0)) + " " +
         capture.value("state", std::string("?")) + ": " +
         std::to_string(capture.value("windows_received", 0)) + " of " +
         std::to_string(capture.value("windows_requested", 0)) + " " +
         capture.value("kind", std::string()) + " windows";
}

// Polls the data set until it is complete (prints "<device>: data set N complete, W
// windows", returns 0), failed or timed out (throws), with its progress on stderr.
int wait_for_capture(GatewayClient& gateway, std::int64_t id, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  std::string last;
  for (;;) {
    const nlohmann::json capture =
        gateway.expect(gateway.get(capture_path(id)), {200}, "reading data set");
    const std::string state = capture.value("state", std::string());
    const std::string progress = progress_text(capture);
    if (progress != last) std::cerr << kProgram << " capture: " << progress << "\n";
    last = progress;
    if (state == "complete") {
      std::cout << capture.value("device", std::string()) << ": data set " << id << " complete, "
                << capture.value("windows_received", 0) << " windows\n";
      return 0;
    }
    if (state == "failed") {
      throw std::runtime_error("data set " + std::to_string(id) +
                               " failed: " + capture.value("reason", std::string()));
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("timed out after " + std::to_string(timeout_s) + " s: " + progress +
                               " (is the node running and registered?)");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

// The newest open (requested or collecting) data set of a device: whoever opened it, the
// operator or the gateway's drift policy.
std::int64_t open_capture_of(GatewayClient& gateway, const std::string& device) {
  const ApiAnswer answer = gateway.get("/api/v1/captures?device=" + device);
  if (answer.status == 400 ||
      (answer.status == 200 && gateway.get(device_path(device)).status == 404)) {
    not_provisioned(device);
  }
  const nlohmann::json list = gateway.expect(answer, {200}, "listing the data sets of " + device);
  std::string newest;
  for (const auto& c : list.value("captures", nlohmann::json::array())) {
    const std::string state = c.value("state", std::string());
    if (state == "requested" || state == "collecting") {
      const std::int64_t id = c.value("id", std::int64_t{0});
      std::cout << device << ": waiting for data set " << id << " ("
                << c.value("origin", std::string("operator")) << ", label \""
                << c.value("label", std::string()) << "\")\n";
      return id;
    }
    if (newest.empty()) newest = "; its newest, " + progress_text(c);
  }
  throw std::runtime_error("device " + device + " has no data set being collected" + newest +
                           " (ask for one with spindlectl capture " + device + " --windows N)");
}

}  // namespace

int cmd_capture(const Args& args) {
  GatewayOptions gateway_options;
  std::string device;
  std::uint32_t windows = 0;
  std::string kind = "features";
  std::string label;
  std::string wait_id;
  bool wait = false;
  double timeout_s = 300;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("device", po::value(&device),
                                               "device id (or the first argument)")(
      "windows", po::value(&windows),
      "windows to collect, 1..10000 (without it, --wait waits for the device's open data set)")(
      "kind", po::value(&kind)->default_value(kind), "features or raw (the window's samples)")(
      "label", po::value(&label)->default_value(label),
      "the operator's label stored with the data set, e.g. healthy")(
      "wait", po::bool_switch(&wait), "wait until every window arrived, printing progress")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "seconds --wait waits")(
      "wait-id", po::value(&wait_id), "capture wait ID: the data set to wait for");
  options.add(gateway_options.describe());
  // "capture DEVICE ...", "capture wait ID ...", "capture wait --device D ...".
  Args rest = args;
  const bool wait_command = !rest.empty() && rest.front() == "wait";
  if (wait_command) {
    rest.erase(rest.begin());
    if (!rest.empty() && !rest.front().starts_with("-")) rest.insert(rest.begin(), "--wait-id");
  } else if (!rest.empty() && !rest.front().starts_with("-")) {
    rest.insert(rest.begin(), "--device");
  }
  po::variables_map vm;
  if (!parse_command(
          rest,
          "usage: spindlectl capture DEVICE --windows N [--kind features|raw] [--label L]\n"
          "                          [--wait [--timeout S]] --token-file FILE\n"
          "       spindlectl capture DEVICE --wait [--timeout S] --token-file FILE\n"
          "       spindlectl capture wait ID|--device DEVICE [--timeout S] --token-file FILE\n\n"
          "Asks the device, through the gateway, for N windows of features or raw samples;\n"
          "the gateway stores them as a data set with the device, board, time and label.\n"
          "With --wait, prints progress until the data set is complete (exit 0), failed or\n"
          "timed out (exit 1). Without --windows (or as 'capture wait'), asks for nothing and\n"
          "waits for a data set already being collected: the device's open one (the\n"
          "operator's, or one the gateway opened because the device drifts) or data set ID.",
          options, &vm)) {
    return 0;
  }
  if (!(timeout_s >= 0)) throw cli::UsageError("--timeout must be >= 0 seconds");
  wait = wait || wait_command;
  const bool asking = vm.count("windows") != 0;
  if (wait_command && asking) {
    throw cli::UsageError("capture wait asks for nothing: give --windows without 'wait'");
  }
  if (!wait_id.empty()) {
    if (!device.empty() || asking) {
      throw cli::UsageError("capture wait ID takes neither --device nor --windows");
    }
    const std::int64_t id = capture_id_of(wait_id);
    GatewayClient gateway = gateway_options.connect();
    return wait_for_capture(gateway, id, timeout_s);
  }
  if (device.empty()) throw cli::UsageError("give the device: spindlectl capture DEVICE ...");
  checked_device_ids({device});
  if (!asking) {
    if (!wait) {
      throw cli::UsageError(
          "give --windows N to ask for a data set, or --wait to wait for the "
          "one being collected");
    }
    if (!vm["kind"].defaulted() || !vm["label"].defaulted()) {
      throw cli::UsageError("--kind and --label describe a new data set: give --windows too");
    }
    GatewayClient gateway = gateway_options.connect();
    return wait_for_capture(gateway, open_capture_of(gateway, device), timeout_s);
  }
  if (!capture::kind_from_name(kind).ok()) throw cli::UsageError("--kind must be features or raw");
  if (windows < 1 || windows > capture::kMaxWindows) {
    throw cli::UsageError("--windows must be 1.." + std::to_string(capture::kMaxWindows));
  }
  GatewayClient gateway = gateway_options.connect();
  const ApiAnswer answer = gateway.post_json(
      device_path(device) + "/captures", {{"windows", windows}, {"kind", kind}, {"label", label}});
  if (answer.status == 404 && gateway.get(device_path(device)).status == 404) {
    not_provisioned(device);
  }
  const nlohmann::json capture =
      gateway.expect(answer, {201}, "requesting a capture from " + device);
  const std::int64_t id = capture.value("id", std::int64_t{0});
  std::cout << device << ": data set " << id << " requested, " << windows << " " << kind
            << " windows, label \"" << label << "\"\n";
  if (!wait) return 0;
  return wait_for_capture(gateway, id, timeout_s);
}

int cmd_datasets(const Args& args) {
  GatewayOptions gateway_options;
  bool json = false;
  std::string format = "csv";
  std::string out_path;
  std::vector<std::string> positional;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("json", po::bool_switch(&json),
                                               "print the gateway's data set views")(
      "format", po::value(&format)->default_value(format),
      "export: csv, or raw (raw-sample data sets: a float32 WAV the node can replay)")(
      "output,o", po::value(&out_path), "export: the file to write")(
      "args", po::value(&positional)->composing(), "[export ID]");
  options.add(gateway_options.describe());
  po::variables_map vm;
  // Leading words are the subcommand and its id: "export 3 --format raw -o FILE".
  Args rest;
  bool leading = true;
  for (const std::string& arg : args) {
    leading = leading && !arg.starts_with("-");
    if (leading) rest.push_back("--args");
    rest.push_back(arg);
  }
  if (!parse_command(rest,
                     "usage: spindlectl datasets [--json] --token-file FILE\n"
                     "       spindlectl datasets export ID --format csv|raw -o FILE "
                     "--token-file FILE\n\n"
                     "Lists the data sets the gateway holds (newest first, with their progress),\n"
                     "or writes one to FILE: features as CSV (window,device,label,<features>),\n"
                     "raw samples as the t,x,y,z CSV or (--format raw) the float32 WAV that\n"
                     "spindle-node --sensor replay:FILE plays back.",
                     options, &vm)) {
    return 0;
  }
  GatewayClient gateway = gateway_options.connect();
  if (positional.empty()) {
    const nlohmann::json list =
        gateway.expect(gateway.get("/api/v1/captures"), {200}, "listing data sets");
    if (json) {
      std::cout << list.dump(2) << "\n";
      return 0;
    }
    const auto captures = list.value("captures", nlohmann::json::array());
    // Columns as wide as their longest value, and always a space between them: a label
    // drift wrote may be 64 characters.
    const auto label_of = [](const nlohmann::json& c) {
      const std::string label = c.value("label", std::string());
      return label.empty() ? std::string("-") : label;
    };
    int device_width = 7;
    int label_width = 6;
    for (const auto& c : captures) {
      device_width =
          std::max(device_width, static_cast<int>(c.value("device", std::string()).size()) + 1);
      label_width = std::max(label_width, static_cast<int>(label_of(c).size()) + 1);
    }
    std::cout << std::left << std::setw(6) << "ID" << std::setw(device_width) << "DEVICE"
              << std::setw(10) << "KIND" << std::setw(10) << "ORIGIN" << std::setw(label_width)
              << "LABEL" << std::setw(12) << "STATE"
              << "WINDOWS\n";
    for (const auto& c : captures) {
      std::cout << std::left << std::setw(6) << c.value("id", 0) << std::setw(device_width)
                << c.value("device", std::string()) << std::setw(10)
                << c.value("kind", std::string()) << std::setw(10)
                << c.value("origin", std::string("operator")) << std::setw(label_width)
                << label_of(c) << std::setw(12) << c.value("state", std::string())
                << c.value("windows_received", 0) << "/" << c.value("windows_requested", 0) << "\n";
    }
    return 0;
  }
  if (positional.size() != 2 || positional[0] != "export") {
    throw cli::UsageError("give no arguments (list) or: export ID --format csv|raw -o FILE");
  }
  const std::int64_t id = capture_id_of(positional[1]);
  if (format != "csv" && format != "raw") throw cli::UsageError("--format must be csv or raw");
  if (out_path.empty()) throw cli::UsageError("export needs -o FILE");
  const ApiAnswer answer = gateway.get(capture_path(id) + "/data?format=" + format);
  if (answer.status != 200) {
    throw std::runtime_error("exporting data set " + std::to_string(id) +
                             ": the gateway answered " + std::to_string(answer.status) + ": " +
                             GatewayClient::error_of(answer));
  }
  cli::write_text_file(out_path, answer.raw);
  std::cout << "data set " << id << ": wrote " << answer.raw.size() << " bytes to " << out_path
            << "\n";
  return 0;
}

}  // namespace spindle::ctl
