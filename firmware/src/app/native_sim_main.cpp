// spindle-node for board native_sim: the node firmware as a Linux process. What a real
// board gets from its devicetree and provisioning (flash, sensor, identity, keys), this
// takes from flags; the application itself (node.cpp) is the same code.
#include <sys/time.h>

#include <array>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spindle/app/node.hpp"
#include "spindle/boards/board_lookup.hpp"
#include "spindle/os/log.hpp"
#include "spindle/os/posix/file_flash.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/provisioning.hpp"
#include "spindle/sensor/fault.hpp"
#include "spindle/sensor/machine.hpp"
#include "spindle/sensor/replay_source.hpp"
#include "spindle/sensor/vibration_simulator.hpp"

namespace po = boost::program_options;
using namespace spindle;

namespace {

std::uint64_t wall_clock_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

int usage_error(const std::string& message) {
  std::cerr << "spindle-node: " << message << " (see --help)\n";
  return 2;
}

std::string read_text(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Hex text to bytes; false unless it is exactly `size` bytes (any size when size is 0).
bool hex_bytes(std::string_view text, std::size_t size, std::vector<std::uint8_t>* out) {
  out->assign(text.size() / 2 + 1, 0);
  const auto n = hex::decode(text, *out);
  if (!n.ok() || *n == 0 || (size != 0 && *n != size)) return false;
  out->resize(*n);
  return true;
}

using provisioning::Provisioning;
// Whatever PSK a provisioning record holds, the node's DTLS client can take.
static_assert(provisioning::kMaxPskSize <= net::kMaxPsk);

// Reads a provisioning file (docs/protocol/provisioning.md) into `out`. Empty string on
// success, else what is wrong, naming the file and the line.
std::string read_provisioning(const std::string& path, Provisioning* out) {
  bool ok = false;
  const std::string text = read_text(path, &ok);
  if (!ok) return "cannot read --provision " + path;
  provisioning::ParseError where;
  const auto parsed = provisioning::parse(text, &where);
  if (!parsed.ok()) {
    std::array<char, 160> problem{};
    return path + ": " + std::string(problem.data(), provisioning::describe(where, problem));
  }
  *out = *parsed;
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::string id, gateway, psk_file, board_arg, flash_path, sensor, fault_name, log_level;
  std::string model_path, model_id, provision_path, stopped;
  std::uint32_t health_windows = 16, block_size = 1024, manifest_check_s = 60;
  double severity = 0.0, severity_end = -1.0, ramp_s = 0.0, shaft_hz = 0.0, speed = 1.0;
  double threshold = 0.0;
  std::uint64_t seed = 1, machine = 0, windows = 0, model_version = 1;
  std::uint32_t lifetime = 300, drain_timeout = 60;
  bool exit_when_sent = false;

  po::options_description options(
      "spindle-node (board native_sim): samples a simulated or recorded rotary machine, scores "
      "each window with the active model and reports to a Spindle gateway over CoAP");
  options.add_options()("help", "show this help")(
      "id", po::value(&id),
      "device id (1-32 of A-Z a-z 0-9 . _ -); also the PSK identity (default: from "
      "--provision)")("provision", po::value(&provision_path),
                      "provisioning file from `spindlectl provision`: device id, gateway, PSK, "
                      "model key-encryption key, attestation key, trusted signing keys")(
      "gateway", po::value(&gateway)->default_value("coaps://127.0.0.1:5684"),
      "gateway URI: coaps://host:port (DTLS-PSK, needs --psk-file) or coap://host:port "
      "(plain UDP, development only)")("psk-file", po::value(&psk_file),
                                       "file with the device's DTLS pre-shared key, in hex")(
      "board", po::value(&board_arg)->default_value(SPINDLE_BUILD_BOARD),
      "board profile to honour: a name under boards/ or a path to a board.conf; its flash "
      "layout, arena size, window length and sensor rate apply")(
      "flash", po::value(&flash_path), "flash image file (default: <id>.flash); created erased")(
      "sensor", po::value(&sensor)->default_value("sim"),
      "sample source: 'sim' (rotary-machine simulator) or 'replay:<file.csv|file.wav>'")(
      "fault", po::value(&fault_name)->default_value("none"),
      "simulated fault: none, imbalance, misalignment, looseness, bearing-outer, bearing-inner")(
      "severity", po::value(&severity)->default_value(0.0), "fault severity at start, 0..1")(
      "severity-end", po::value(&severity_end),
      "fault severity at the end of the ramp, 0..1 (default: --severity)")(
      "ramp-s", po::value(&ramp_s)->default_value(0.0),
      "seconds of simulated time to ramp severity")(
      "stopped-s", po::value(&stopped),
      "A-B: from A to B seconds of simulated time the machine stands still and the sensor reads "
      "only its noise floor (the idle condition of a gated activation)")(
      "machine", po::value(&machine)->default_value(0),
      "simulated machine: 0 is the reference machine (1480 rpm, 6205 bearing); any other number "
      "draws its own speed, imbalance, mount resonances, bearing, gearbox and sensor coupling "
      "(same number, same machine)")(
      "shaft-hz", po::value(&shaft_hz),
      "shaft speed in Hz (default: the machine's own nominal speed; 24.67 Hz for machine 0)")(
      "seed", po::value(&seed)->default_value(1),
      "simulator noise seed (same machine and seed, same samples)")(
      "speed", po::value(&speed)->default_value(1.0),
      "simulated time per wall-clock time; 0 runs as fast as the node can")(
      "windows", po::value(&windows)->default_value(0), "stop sampling after N windows (0: never)")(
      "exit-when-sent", po::bool_switch(&exit_when_sent),
      "with --windows: exit once every reading is delivered (exit 1 after --drain-timeout)")(
      "drain-timeout", po::value(&drain_timeout)->default_value(60),
      "seconds --exit-when-sent waits")("lifetime", po::value(&lifetime)->default_value(300),
                                        "registration lifetime, seconds")(
      "model", po::value(&model_path),
      "development only: a plaintext model container to run (deployed models arrive signed and "
      "encrypted from the gateway)")("model-id", po::value(&model_id)->default_value("dev-model"),
                                     "id reported for --model")(
      "model-version", po::value(&model_version)->default_value(1), "version reported for --model")(
      "threshold", po::value(&threshold)->default_value(1.0), "anomaly threshold for --model")(
      "health-windows", po::value(&health_windows)->default_value(16),
      "windows a new model must score without error before it is confirmed")(
      "manifest-check-s", po::value(&manifest_check_s)->default_value(60),
      "seconds between reads of the manifest besides its observation (a lost notification "
      "is noticed within this time)")(
      "block-size", po::value(&block_size)->default_value(1024),
      "Block2 size asked for when downloading a model: 64, 128, 256, 512 or 1024")(
      "log-level", po::value(&log_level)->default_value("info"), "error, warning, info or debug");

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }

  os::LogLevel level;
  if (!os::parse_log_level(log_level, &level))
    return usage_error("unknown --log-level " + log_level);
  os::set_log_level(level);

  Provisioning provisioning;
  if (!provision_path.empty()) {
    const std::string problem = read_provisioning(provision_path, &provisioning);
    if (!problem.empty()) return usage_error(problem);
    if (id.empty()) id = provisioning.device_id();
    if (provisioning.device_id() != id) {
      return usage_error("--id " + id + " but " + provision_path + " is for " +
                         std::string(provisioning.device_id()));
    }
    if (vm["gateway"].defaulted() && !provisioning.gateway().empty()) {
      gateway = provisioning.gateway();
    }
  }
  if (id.empty()) return usage_error("give --id or --provision");
  if (!check_id(id).ok()) return usage_error("--id '" + id + "' is not a valid device id");
  std::uint8_t block_szx = 0;
  while (block_szx <= blockwise::kMaxSzx && blockwise::block_size(block_szx) != block_size)
    ++block_szx;
  if (block_szx < blockwise::kMinSzx || block_szx > blockwise::kMaxSzx) {
    return usage_error("--block-size must be 64, 128, 256, 512 or 1024");
  }

  // Board profile: the build board by default, or another board's budgets.
  std::string board_problem;
  const auto loaded = boards::load_board(board_arg, &board_problem);
  if (!loaded.ok()) return usage_error(board_problem);
  const std::optional<board::BoardProfile> profile = *loaded;

  const std::span<const std::uint8_t> provisioned_psk = provisioning.psk();
  std::vector<std::uint8_t> psk(provisioned_psk.begin(), provisioned_psk.end());
  if (!psk_file.empty()) {
    bool read_ok = false;
    const std::string text = read_text(psk_file, &read_ok);
    if (!read_ok) return usage_error("cannot read --psk-file " + psk_file);
    if (!hex_bytes(text, 0, &psk)) return usage_error(psk_file + " is not a hex key");
  }
  if (gateway.rfind("coaps://", 0) == 0 && psk.empty()) {
    return usage_error("a coaps:// gateway needs --psk-file (or use coap:// for development)");
  }
  if (gateway.rfind("coap://", 0) == 0) {
    SPINDLE_LOG_WRN("main", "plain CoAP to %s: no DTLS, development use only", gateway.c_str());
  }

  std::vector<std::uint8_t> model;
  if (!model_path.empty()) {
    std::ifstream in(model_path, std::ios::binary);
    if (!in) return usage_error("cannot read --model " + model_path);
    model.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // Flash: a file shaped like the board's flash.
  if (flash_path.empty()) flash_path = id + ".flash";
  os::posix::FileFlash flash;
  const Status opened = flash.open(flash_path.c_str(), profile->flash_bytes,
                                   profile->flash_sector_bytes, profile->flash_write_block_bytes);
  if (!opened.ok()) {
    return usage_error("cannot use flash file " + flash_path + ": " + opened.name() +
                       " (a file made for another board has another size)");
  }

  // Sample source.
  std::unique_ptr<sensor::SampleSource> source;
  std::vector<float> replay_storage;
  if (sensor == "sim") {
    const auto fault = sensor::parse_fault(fault_name);
    if (!fault.ok()) return usage_error("unknown --fault " + fault_name);
    sensor::SimulatorConfig config;
    config.seed = seed;
    config.sample_rate_hz = profile->sensor_rate_hz;
    config.machine = sensor::draw_machine(machine);
    config.shaft_hz = vm.count("shaft-hz") ? static_cast<float>(shaft_hz) : config.machine.shaft_hz;
    config.fault.fault = *fault;
    config.fault.start_severity = static_cast<float>(severity);
    config.fault.end_severity = static_cast<float>(severity_end < 0 ? severity : severity_end);
    config.fault.ramp_seconds = static_cast<float>(ramp_s);
    if (!stopped.empty()) {
      const auto dash = stopped.find('-');
      char* end = nullptr;
      const double from = std::strtod(stopped.c_str(), &end);
      const bool from_ok = dash != std::string::npos && end == stopped.c_str() + dash;
      const double until = from_ok ? std::strtod(stopped.c_str() + dash + 1, &end) : 0.0;
      if (!from_ok || *end != '\0' || dash + 1 == stopped.size() || !(from >= 0.0) ||
          !(until > from)) {
        return usage_error("--stopped-s takes A-B seconds with 0 <= A < B, not '" + stopped + "'");
      }
      config.stop = {static_cast<float>(from), static_cast<float>(until)};
    }
    auto simulator = sensor::VibrationSimulator::create(config);
    if (!simulator.ok()) {
      const char* why = sensor::VibrationSimulator::problem(config);
      return usage_error(
          "machine " + std::to_string(machine) + " at " + std::to_string(config.shaft_hz) +
          " Hz refused by the simulator: " + (why != nullptr ? why : simulator.status().name()));
    }
    // Said once, so that a run can be repeated, or changed, from its log.
    SPINDLE_LOG_INF("main", "simulating machine %llu at %.3f Hz shaft speed (nominal %.3f Hz)",
                    static_cast<unsigned long long>(machine), static_cast<double>(config.shaft_hz),
                    static_cast<double>(config.machine.shaft_hz));
    source = std::make_unique<sensor::VibrationSimulator>(std::move(simulator).value());
  } else if (sensor.rfind("replay:", 0) == 0) {
    const std::string file = sensor.substr(7);
    replay_storage.resize(3 * 4 * 1024 * 1024);  // up to 4 Mi frames of 3 axes
    sensor::ReplayOptions replay_options;
    replay_options.csv_sample_rate_hz = profile->sensor_rate_hz;
    replay_options.loop = windows == 0;
    sensor::ReplayError error;
    auto replay =
        sensor::ReplaySource::open_file(file.c_str(), replay_storage, replay_options, &error);
    if (!replay.ok()) {
      return usage_error("cannot replay " + file + ": " + replay.status().name() + " (" +
                         error.reason + (error.line ? ", line " + std::to_string(error.line) : "") +
                         ")");
    }
    source = std::make_unique<sensor::ReplaySource>(std::move(replay).value());
  } else {
    return usage_error("unknown --sensor " + sensor);
  }

  static app::NodeConfig config;
  config.device_id = id;
  config.firmware_version = SPINDLE_FIRMWARE_VERSION;
  config.client.gateway_uri = gateway;
  config.client.device_id = id;
  config.client.psk = psk;
  config.board = *profile;
  config.lifetime_s = lifetime;
  config.speed = speed;
  config.window_limit = windows;
  config.exit_when_sent = exit_when_sent;
  config.drain_timeout_s = drain_timeout;
  config.model = model;
  config.model_id = model_id;
  config.model_version = model_version;
  config.threshold = static_cast<float>(threshold);
  static std::vector<cose::TrustedKey> trusted;
  for (const auto& key : provisioning.trust_keys()) {
    trusted.push_back({crypto::as_bytes(key.kid()), key.public_key});
  }
  config.trusted_keys = trusted;
  config.model_kek = provisioning.model_kek();
  config.attestation_key = provisioning.attestation_key();
  config.health_windows = health_windows;
  config.block_szx = block_szx;
  config.manifest_check_s = manifest_check_s;
  if (trusted.empty() || provisioning.model_kek().empty()) {
    SPINDLE_LOG_WRN("main",
                    "no --provision trust keys or model key: every manifest will be "
                    "rejected");
  }

  std::signal(SIGTERM, [](int) { app::request_stop(); });
  std::signal(SIGINT, [](int) { app::request_stop(); });
  std::signal(SIGPIPE, SIG_IGN);

  app::Platform platform;
  platform.flash = &flash;
  platform.source = source.get();
  platform.wall_clock_ms = wall_clock_ms;
  const Status result = app::run_node(config, platform);
  if (!result.ok()) {
    std::cerr << "spindle-node: stopped with " << result.name() << "\n";
    return 1;
  }
  return 0;
}
