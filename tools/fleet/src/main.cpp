// spindle-fleet: a load generator that plays many Spindle nodes against a gateway from one
// process and one thread (see tools/fleet/README.md).
//
// Exit status: 0 when every device registered and no telemetry or refresh request failed
// or timed out; 1 otherwise (or on a start-up failure); 2 for a usage error.
#include <sys/resource.h>

#include <boost/program_options.hpp>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>
#include "spindle/cli/command_line.hpp"
#include "spindle/cli/guarded_main.hpp"

#include "spindle/fleet/fleet.hpp"
#include "spindle/fleet/provisioning.hpp"
#include "spindle/fleet/psk_source.hpp"
#include "spindle/fleet/report.hpp"
#include "spindle/protocol/limits.hpp"

namespace po = boost::program_options;
using namespace spindle;
using namespace spindle::fleet;

namespace {

using spindle::cli::UsageError;

// A command line the user must fix: "spindle-fleet: <message>", exit status 2.
volatile std::sig_atomic_t g_stop = 0;

// File descriptors beyond one socket per device: libcoap's epoll and timer fds, stdio,
// the --json file, the provisioning connection.
constexpr std::size_t kSpareDescriptors = 64;
constexpr long long kMaxDevices = 1'000'000;

struct Options {
  FleetConfig config;
  long long devices = 100;
  std::string id_prefix = "fleet-";
  double duration_s = 10;
  long long readings_per_post = 1;
  long long lifetime_s = 300;
  double refresh_interval_s = 0;
  long long max_in_flight = 1000;
  double register_timeout_s = 30;
  double request_timeout_s = 10;
  std::string psk_hex;
  std::string master_secret_file;
  std::string provision_api;
  std::string token_file;
  std::string json_path;
};

Millis seconds_flag(double seconds, const char* flag, bool allow_zero) {
  if (!std::isfinite(seconds) || seconds < 0 || (!allow_zero && seconds == 0) || seconds > 1e7) {
    throw UsageError(std::string(flag) + (allow_zero ? " must be >= 0" : " must be > 0") +
                     " seconds (got " + std::to_string(seconds) + ")");
  }
  return Millis(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

void check_range(long long value, long long low, long long high, const char* flag) {
  if (value < low || value > high) {
    throw UsageError(std::string(flag) + " must be in " + std::to_string(low) + ".." +
                     std::to_string(high) + " (got " + std::to_string(value) + ")");
  }
}

std::string device_id(const std::string& prefix, long long number) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%05lld", number);
  return prefix + digits;
}

std::string read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--token-file " + path + ": " + std::strerror(errno));
  std::string token{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw UsageError("--token-file " + path + " is empty");
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  return token;
}

// One socket per device: lift the soft descriptor limit to the hard one.
void raise_descriptor_limit(std::size_t devices) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
    (void)getrlimit(RLIMIT_NOFILE, &limit);
  }
  const std::size_t needed = devices + kSpareDescriptors;
  if (limit.rlim_cur != RLIM_INFINITY && needed > limit.rlim_cur) {
    throw UsageError("--devices " + std::to_string(devices) + " needs about " +
                     std::to_string(needed) + " file descriptors; the limit is " +
                     std::to_string(limit.rlim_cur) + " (raise the hard limit, ulimit -Hn)");
  }
}

std::vector<DeviceSpec> make_devices(const Options& o) {
  std::vector<DeviceSpec> devices(static_cast<std::size_t>(o.devices));
  std::vector<std::string> ids;
  ids.reserve(devices.size());
  for (long long i = 0; i < o.devices; ++i) {
    ids.push_back(device_id(o.id_prefix, i + 1));
  }
  const bool dtls = o.config.gateway_uri.rfind("coaps://", 0) == 0;
  std::vector<ByteVector> psks;
  if (!o.provision_api.empty()) {
    psks = provision_devices(o.provision_api, read_token(o.token_file), ids);
  } else if (dtls) {
    const PskSource source = !o.master_secret_file.empty()
                                 ? PskSource::derived(read_hex_file(o.master_secret_file))
                                 : PskSource::shared(parse_hex(o.psk_hex, "--psk-hex"));
    psks.resize(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (const Status s = source.key_for(ids[i], psks[i]); !s.ok()) {
        throw std::runtime_error("deriving the PSK of " + ids[i] + ": " + s.name());
      }
    }
  }
  for (std::size_t i = 0; i < devices.size(); ++i) {
    devices[i].id = std::move(ids[i]);
    if (dtls && i < psks.size()) devices[i].psk = std::move(psks[i]);
  }
  return devices;
}

void check_options(Options& o) {
  check_range(o.devices, 1, kMaxDevices, "--devices");
  check_range(o.lifetime_s, 1, 0xFFFF'FFFFLL, "--lifetime");
  check_range(o.max_in_flight, 1, 10'000'000, "--max-in-flight");
  o.config.duration = seconds_flag(o.duration_s, "--duration", true);
  o.config.refresh_interval = seconds_flag(o.refresh_interval_s, "--refresh-interval", true);
  o.config.register_timeout = seconds_flag(o.register_timeout_s, "--register-timeout", false);
  o.config.request_timeout = seconds_flag(o.request_timeout_s, "--request-timeout", false);
  o.config.lifetime_s = static_cast<std::uint32_t>(o.lifetime_s);
  o.config.max_in_flight = static_cast<std::size_t>(o.max_in_flight);

  // Every id is the prefix and digits; the last one is the longest.
  const std::string longest_id = device_id(o.id_prefix, o.devices);
  if (const Status s = check_id(longest_id); !s.ok()) {
    throw UsageError("--id-prefix '" + o.id_prefix + "' makes device id '" + longest_id + "' (" +
                     s.name() + "; ids are 1.." + std::to_string(kMaxIdSize) +
                     " characters of [A-Za-z0-9._-])");
  }
  const unsigned most = max_readings_per_post(longest_id);
  check_range(o.readings_per_post, 1, most, "--readings-per-post");
  o.config.readings_per_post = static_cast<unsigned>(o.readings_per_post);
  check_config(o.config);

  const std::string& uri = o.config.gateway_uri;
  const bool dtls = uri.rfind("coaps://", 0) == 0;
  if (!dtls && uri.rfind("coap://", 0) != 0) {
    throw UsageError("--gateway '" + uri + "' must start with coap:// or coaps://");
  }
  if (!o.psk_hex.empty() && !o.master_secret_file.empty()) {
    throw UsageError("--psk-hex and --master-secret-file exclude each other");
  }
  if (!o.provision_api.empty() && o.token_file.empty()) {
    throw UsageError("--provision-api needs --token-file (the operator API bearer token)");
  }
  if (dtls && o.provision_api.empty() && o.psk_hex.empty() && o.master_secret_file.empty()) {
    throw UsageError("--gateway " + uri +
                     " (DTLS) needs --psk-hex, --master-secret-file or --provision-api");
  }
}

void write_json(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write --json " + path + ": " + std::strerror(errno));
}

int run(int argc, char** argv) {
  Options o;
  po::options_description options(
      "usage: spindle-fleet --gateway coap://127.0.0.1:5683 --devices 1000 --rate 500 "
      "--duration 10 [--json report.json]\n\n"
      "Plays --devices Spindle nodes from one process and one thread: each registers at\n"
      "/rd (at --connect-rate), optionally observes its manifest, then posts SenML-CBOR\n"
      "telemetry to /t/{id} at --rate requests per second in total, and refreshes its\n"
      "registration. Prints counts, rates and latency percentiles; exits 0 when every\n"
      "device registered and no telemetry or refresh request failed or timed out, 1\n"
      "otherwise, 2 for usage errors.\n\noptions");
  FleetConfig& c = o.config;
  options.add_options()("help,h", "print this help")(
      "gateway", po::value(&c.gateway_uri)->default_value(c.gateway_uri),
      "coap://host:port (plain UDP) or coaps://host:port (DTLS-PSK)")(
      "devices", po::value(&o.devices)->default_value(o.devices), "number of virtual devices")(
      "id-prefix", po::value(&o.id_prefix)->default_value(o.id_prefix),
      "device ids are <prefix>00001, <prefix>00002, ...")(
      "rate", po::value(&c.rate)->default_value(c.rate),
      "telemetry requests per second, all devices together")(
      "duration", po::value(&o.duration_s)->default_value(o.duration_s),
      "seconds of the telemetry phase")(
      "readings-per-post", po::value(&o.readings_per_post)->default_value(o.readings_per_post),
      "readings (seq numbers) per telemetry request")(
      "lifetime", po::value(&o.lifetime_s)->default_value(o.lifetime_s),
      "registration lifetime in seconds (the lt query parameter)")(
      "refresh-interval", po::value(&o.refresh_interval_s)->default_value(0),
      "seconds between registration refreshes; 0: three quarters of --lifetime")(
      "observe", po::bool_switch(&c.observe), "observe /d/{id}/manifest after registering")(
      "psk-hex", po::value(&o.psk_hex), "one DTLS PSK (hex) for every device")(
      "master-secret-file", po::value(&o.master_secret_file),
      "site master secret (hex file); each device's PSK is derived from it")(
      "provision-api", po::value(&o.provision_api),
      "http://host:port of the gateway's operator API: provision the devices first and use "
      "the PSKs it returns")("token-file", po::value(&o.token_file),
                             "file holding the operator API bearer token")(
      "max-in-flight", po::value(&o.max_in_flight)->default_value(o.max_in_flight),
      "bound on outstanding requests")(
      "register-timeout", po::value(&o.register_timeout_s)->default_value(o.register_timeout_s),
      "seconds the registration phase may take")(
      "request-timeout", po::value(&o.request_timeout_s)->default_value(o.request_timeout_s),
      "seconds after which an unanswered request counts as timed out")(
      "connect-rate", po::value(&c.connect_rate)->default_value(c.connect_rate),
      "registrations (and DTLS handshakes) started per second")(
      "json", po::value(&o.json_path), "also write the report as JSON to this file");
  po::variables_map vm;
  if (!spindle::cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  check_options(o);
  raise_descriptor_limit(static_cast<std::size_t>(o.devices));

  Fleet fleet(o.config, make_devices(o));
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  const FleetReport report = fleet.run(&g_stop);
  const int exit_code = report.success() ? 0 : 1;
  print_report(o.config, report, std::cout);
  std::cout.flush();
  if (!o.json_path.empty()) write_json(o.json_path, report_json(o.config, report, exit_code));
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  return spindle::cli::guarded_main("spindle-fleet", [&] { return run(argc, argv); });
}
