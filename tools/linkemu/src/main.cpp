// spindle-linkemu: a UDP relay that emulates a lossy, slow link between a client and an
// upstream (see tools/linkemu/README.md).
//
// Exit status: 0 after --duration or on SIGTERM/SIGINT (with --stats written); 1 when
// start-up fails (the listening socket cannot be bound, --capture cannot be opened) or
// --stats or --capture cannot be written; 2 for a usage error, with a message naming the
// flag.
#include <boost/program_options.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#include "spindle/cli/command_line.hpp"
#include "spindle/cli/guarded_main.hpp"

#include "relay_private.hpp"
#include "spindle/linkemu/link.hpp"

namespace po = boost::program_options;
using namespace spindle::linkemu;

namespace {

using spindle::cli::UsageError;

// A command line the user must fix: "spindle-linkemu: <message>", exit status 2.
volatile std::sig_atomic_t g_stop = 0;

constexpr double kMaxMillis = 1e7;    // about 2.8 hours
constexpr double kMaxSeconds = 1e7;   // about 116 days
constexpr double kMaxRateKbps = 1e8;  // 100 Gbit/s
constexpr long long kMaxQueueBytes = 1LL << 30;
constexpr long long kMaxClients = 100'000;
constexpr long long kMaxDatagramBytes = 65'535;

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string upstream;
  double delay_ms = 0;
  double jitter_ms = 0;
  double rate_kbps = 0;
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;
  double reorder_extra_ms = 20;
  long long queue_bytes = 65'536;
  std::vector<std::string> blackouts;
  std::string seed = "1";
  std::string stats_path;
  double duration_s = 0;
  long long max_clients = 1024;
  double idle_timeout_s = 300;
  double corrupt = 0;
  long long corrupt_min_bytes = 0;
  std::string corrupt_direction = "both";
  std::string corrupt_count;  // empty: unlimited
  std::string capture_path;
};

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void check_finite_range(double value, double low, double high, const char* flag) {
  if (!std::isfinite(value) || value < low || value > high) {
    throw UsageError(std::string(flag) + " must be in " + number(low) + ".." + number(high) +
                     " (got " + number(value) + ")");
  }
}

Micros millis_flag(double ms, const char* flag) {
  check_finite_range(ms, 0, kMaxMillis, flag);
  return Micros(static_cast<Micros::rep>(std::llround(ms * 1000.0)));
}

Micros seconds_flag(double seconds, const char* flag) {
  check_finite_range(seconds, 0, kMaxSeconds, flag);
  return Micros(static_cast<Micros::rep>(std::llround(seconds * 1e6)));
}

double probability_flag(double p, const char* flag) {
  check_finite_range(p, 0, 1, flag);
  return p;
}

std::size_t count_flag(long long value, long long low, long long high, const char* flag) {
  if (value < low || value > high) {
    throw UsageError(std::string(flag) + " must be in " + std::to_string(low) + ".." +
                     std::to_string(high) + " (got " + std::to_string(value) + ")");
  }
  return static_cast<std::size_t>(value);
}

double parse_double(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw UsageError(what + ": '" + text + "' is not a number");
  }
  return value;
}

// "START:DURATION", seconds since the relay started.
Blackout parse_blackout(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    throw UsageError("--blackout '" + text + "' is not START:DURATION (seconds)");
  }
  Blackout b;
  b.start = seconds_flag(parse_double(text.substr(0, colon), "--blackout start"), "--blackout");
  b.duration =
      seconds_flag(parse_double(text.substr(colon + 1), "--blackout duration"), "--blackout");
  if (b.duration <= Micros(0)) throw UsageError("--blackout '" + text + "': DURATION must be > 0");
  return b;
}

std::uint64_t parse_unsigned(const std::string& text, const char* flag) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw UsageError(std::string(flag) + " '" + text + "' is not an unsigned 64-bit integer");
  }
  return value;
}

// --corrupt-direction, named like the stats: up is client_to_upstream, down is
// upstream_to_client.
void parse_corrupt_direction(const std::string& text, CorruptionConfig& corruption) {
  if (text != "up" && text != "down" && text != "both") {
    throw UsageError("--corrupt-direction '" + text + "' is not down, up or both");
  }
  corruption.to_upstream = text != "down";
  corruption.to_client = text != "up";
}

Endpoint endpoint_flag(const std::string& text, const char* flag) {
  try {
    return parse_endpoint(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(flag) + " " + e.what());
  }
}

RelayConfig make_config(const Options& o) {
  RelayConfig c;
  if (o.upstream.empty()) throw UsageError("--upstream HOST:PORT is required");
  c.listen = endpoint_flag(o.listen, "--listen");
  c.upstream = endpoint_flag(o.upstream, "--upstream");
  LinkConfig& link = c.link;
  link.delay = millis_flag(o.delay_ms, "--delay-ms");
  link.jitter = millis_flag(o.jitter_ms, "--jitter-ms");
  check_finite_range(o.rate_kbps, 0, kMaxRateKbps, "--rate-kbps");
  link.rate_bps = static_cast<std::uint64_t>(std::llround(o.rate_kbps * 1000.0));
  if (o.rate_kbps > 0 && link.rate_bps == 0) {
    throw UsageError("--rate-kbps " + number(o.rate_kbps) + " is below 1 bit/s");
  }
  link.queue_bytes = count_flag(o.queue_bytes, 1, kMaxQueueBytes, "--queue-bytes");
  link.loss = probability_flag(o.loss, "--loss");
  link.duplicate = probability_flag(o.duplicate, "--duplicate");
  link.reorder = probability_flag(o.reorder, "--reorder");
  link.reorder_extra = millis_flag(o.reorder_extra_ms, "--reorder-extra-ms");
  for (const std::string& text : o.blackouts)
    link.blackouts.push_back(parse_blackout(text));
  CorruptionConfig& corruption = c.corruption;
  corruption.probability = probability_flag(o.corrupt, "--corrupt");
  corruption.min_bytes =
      count_flag(o.corrupt_min_bytes, 0, kMaxDatagramBytes, "--corrupt-min-bytes");
  parse_corrupt_direction(o.corrupt_direction, corruption);
  if (!o.corrupt_count.empty()) {
    corruption.limit = parse_unsigned(o.corrupt_count, "--corrupt-count");
  }
  c.capture_path = o.capture_path;
  c.seed = parse_unsigned(o.seed, "--seed");
  c.duration = seconds_flag(o.duration_s, "--duration");
  c.max_clients = count_flag(o.max_clients, 1, kMaxClients, "--max-clients");
  c.idle_timeout = seconds_flag(o.idle_timeout_s, "--idle-timeout");
  if (c.idle_timeout <= Micros(0)) throw UsageError("--idle-timeout must be > 0 seconds");
  return c;
}

// SIGINT and SIGTERM set g_stop. They stay blocked except inside the relay's ppoll(), so
// one that arrives between two waits is not lost; the returned mask is the one to wait with.
sigset_t install_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t wait_mask;
  sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGTERM);
  struct sigaction action {};
  action.sa_handler = [](int) { g_stop = 1; };
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  return wait_mask;
}

void print_summary(const char* direction, const LinkStats& s, std::uint64_t corrupted,
                   std::ostream& out) {
  out << direction << ": received " << s.received << ", forwarded " << s.forwarded
      << ", dropped loss " << s.dropped_loss << " / queue " << s.dropped_queue << " / blackout "
      << s.dropped_blackout << ", duplicated " << s.duplicated << ", reordered " << s.reordered
      << ", corrupted " << corrupted << ", " << s.bytes << " bytes\n";
}

int run(int argc, char** argv) {
  Options o;
  po::options_description options(
      "usage: spindle-linkemu --listen 127.0.0.1:5685 --upstream 127.0.0.1:5684 "
      "[--delay-ms 50 --jitter-ms 10 --rate-kbps 250 --loss 0.05 ...]\n\n"
      "Relays UDP datagrams between clients and --upstream, impairing each direction\n"
      "alike (independently, reproducibly from --seed): bandwidth with a drop-tail queue,\n"
      "delay and jitter, loss, duplication, reordering, blackout windows and bit errors.\n"
      "--capture records what it sends. Each client address gets its own upstream\n"
      "socket. Prints 'listening HOST:PORT' first; exits 0 after --duration or on\n"
      "SIGTERM/SIGINT (writing --stats), 1 when start-up fails, 2 for usage errors.\n\n"
      "options");
  options.add_options()("help,h", "print this help")(
      "listen", po::value(&o.listen)->default_value(o.listen),
      "HOST:PORT to receive clients on ([::1]:PORT for IPv6; port 0: any free port)")(
      "upstream", po::value(&o.upstream), "HOST:PORT every datagram is relayed to (required)")(
      "delay-ms", po::value(&o.delay_ms)->default_value(o.delay_ms),
      "one-way delay in milliseconds")("jitter-ms",
                                       po::value(&o.jitter_ms)->default_value(o.jitter_ms),
                                       "uniform +/- jitter on the delay, milliseconds")(
      "rate-kbps", po::value(&o.rate_kbps)->default_value(o.rate_kbps),
      "bandwidth in kbit/s (0: unlimited)")(
      "queue-bytes", po::value(&o.queue_bytes)->default_value(o.queue_bytes),
      "bytes that may wait for the link when --rate-kbps is set; more are dropped")(
      "loss", po::value(&o.loss)->default_value(o.loss), "loss probability 0..1")(
      "duplicate", po::value(&o.duplicate)->default_value(o.duplicate),
      "duplication probability 0..1")("reorder", po::value(&o.reorder)->default_value(o.reorder),
                                      "probability 0..1 that a datagram is held back by "
                                      "--reorder-extra-ms so later ones overtake it")(
      "reorder-extra-ms", po::value(&o.reorder_extra_ms)->default_value(o.reorder_extra_ms),
      "extra delay of a reordered datagram, milliseconds")(
      "blackout", po::value(&o.blackouts)->composing(),
      "START:DURATION in seconds since start: drop everything then (repeatable)")(
      "seed", po::value(&o.seed)->default_value(o.seed), "seed of the impairment decisions")(
      "stats", po::value(&o.stats_path), "write per-direction counters as JSON here at exit")(
      "duration", po::value(&o.duration_s)->default_value(o.duration_s),
      "exit after this many seconds (0: run until SIGTERM/SIGINT)")(
      "max-clients", po::value(&o.max_clients)->default_value(o.max_clients),
      "client addresses relayed at once; a new one closes the least recently active")(
      "idle-timeout", po::value(&o.idle_timeout_s)->default_value(o.idle_timeout_s),
      "seconds without traffic after which a client's upstream socket is closed")(
      "corrupt", po::value(&o.corrupt)->default_value(o.corrupt),
      "probability 0..1 that a forwarded datagram has one random bit of its payload flipped")(
      "corrupt-min-bytes", po::value(&o.corrupt_min_bytes)->default_value(o.corrupt_min_bytes),
      "only datagrams of at least this many bytes are corrupted")(
      "corrupt-direction", po::value(&o.corrupt_direction)->default_value(o.corrupt_direction),
      "down (upstream to client), up (client to upstream) or both")(
      "corrupt-count", po::value(&o.corrupt_count),
      "stop corrupting after this many datagrams, both directions together (default: no "
      "limit)")("capture", po::value(&o.capture_path),
                "append every datagram sent, after impairments, to this file (records: "
                "direction 'u'/'d', 4-byte big-endian length, payload)");
  po::variables_map vm;
  if (!spindle::cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;
  RelayConfig config = make_config(o);

  const sigset_t wait_mask = install_stop_signals();
  Relay relay(std::move(config));
  std::cout << "listening " << relay.bound().to_string() << std::endl;

  relay.run(&g_stop, &wait_mask);

  const RelayStats stats = relay.stats();
  print_summary("client->upstream", stats.to_upstream, stats.corrupted_to_upstream, std::cout);
  print_summary("upstream->client", stats.to_client, stats.corrupted_to_client, std::cout);
  std::cout.flush();
  int status = 0;
  if (relay.capture_failed()) {
    std::cerr << "spindle-linkemu: cannot write --capture " << o.capture_path << "\n";
    status = 1;
  }
  if (!o.stats_path.empty()) {
    std::ofstream out(o.stats_path, std::ios::trunc);
    out << stats_json(stats);
    out.close();
    if (!out) {
      std::cerr << "spindle-linkemu: cannot write --stats " << o.stats_path << ": "
                << std::strerror(errno) << "\n";
      return 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  return spindle::cli::guarded_main("spindle-linkemu", [&] { return run(argc, argv); });
}
