// The fleet engine: many virtual devices multiplexed over one libcoap context in one
// thread. Each device has its own client session (its own UDP socket, its own DTLS-PSK
// handshake) and, like a node with NSTART = 1, at most one request outstanding.
//
// A run has three phases, every one bounded in time:
//   1. registration: devices start at --connect-rate, POST /rd?ep=&lt= (CBOR body) and
//      expect 2.01 with a Location-Path; then, with --observe, GET /d/{id}/manifest with
//      Observe = 0. Ends when every device has registered or failed, or at the timeout.
//   2. telemetry: registered devices POST /t/{id} (SenML-CBOR) at --rate in total,
//      round-robin over the idle devices, for --duration. Registrations are refreshed (POST
//      to the location) every refresh interval meanwhile.
//   3. drain: nothing new is sent; outstanding requests get until their own deadline.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/fleet/latency_histogram.hpp"
#include "spindle/fleet/psk_source.hpp"

namespace spindle::fleet {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct FleetConfig {
  std::string gateway_uri = "coap://127.0.0.1:5683";
  double rate = 100.0;  // telemetry posts per second, all devices together
  Millis duration{10'000};
  unsigned readings_per_post = 1;
  std::uint32_t lifetime_s = 300;
  Millis refresh_interval{0};  // 0: three quarters of the lifetime, like the node
  bool observe = false;
  std::size_t max_in_flight = 1000;  // outstanding requests of all kinds
  Millis register_timeout{30'000};
  Millis request_timeout{10'000};  // unanswered after this: counted as timed out
  double connect_rate = 500.0;     // registrations started per second
  std::string board = "native_sim";
  std::string firmware_version = "fleet-1";
};

struct DeviceSpec {
  std::string id;
  ByteVector psk;  // empty on plain UDP
};

enum class RequestKind : std::uint8_t { kRegister, kRefresh, kObserve, kTelemetry };
inline constexpr std::size_t kRequestKinds = 4;
std::string_view request_kind_name(RequestKind kind);

struct RequestStats {
  std::uint64_t sent = 0;
  std::uint64_t acknowledged = 0;  // answered 2.xx
  std::uint64_t timed_out = 0;     // no answer within the request timeout (or phase end)
  // Error answers by code ("4.04") and local failures by name ("reset", "dtls-error").
  std::map<std::string, std::uint64_t> errors;
  LatencyHistogram latency;  // microseconds from coap_send to the answer, answered only

  std::uint64_t errored() const;
};

struct FleetReport {
  std::size_t devices = 0;
  std::size_t registered = 0;
  std::size_t failed = 0;
  std::map<std::string, std::uint64_t> failure_reasons;  // failed devices by reason
  double registration_seconds = 0;                       // start to the last registration settled
  double telemetry_seconds = 0;                          // the telemetry phase as run
  double drain_seconds = 0;
  double telemetry_active_seconds = 0;  // first telemetry send to its last answer
  std::uint64_t readings_sent = 0;
  std::uint64_t observe_responses = 0;      // first answers and notifications
  std::uint64_t observe_notifications = 0;  // answers after the first
  std::uint64_t late_responses = 0;         // answers after their request was given up
  std::uint64_t icmp_errors = 0;            // ICMP errors libcoap reported (it retries)
  bool interrupted = false;                 // SIGINT/SIGTERM ended the run early
  bool hit_hard_deadline = false;
  RequestStats requests[kRequestKinds];

  const RequestStats& stats(RequestKind kind) const {
    return requests[static_cast<std::size_t>(kind)];
  }
  // Every device registered and no telemetry or refresh request failed or timed out.
  bool success() const;
};

class Fleet {
 public:
  // Checks the configuration, parses the gateway URI, resolves it and creates the libcoap
  // context. Throws std::invalid_argument / std::runtime_error naming the problem
  // (start-up only).
  Fleet(FleetConfig config, std::vector<DeviceSpec> devices);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Runs the three phases and reports. `stop` (set from a signal handler) ends the run
  // early with what was measured so far.
  FleetReport run(const volatile std::sig_atomic_t* stop = nullptr);

  class Engine;  // libcoap state and callbacks, in fleet.cpp

 private:
  std::unique_ptr<Engine> engine_;
};

// Throws std::invalid_argument naming the flag of a setting the engine cannot run with
// (a rate that is not positive, a zero bound or timeout). Fleet's constructor calls it;
// a command line can call it before slower start-up work.
void check_config(const FleetConfig& config);

// The largest --readings-per-post whose pack fits one request (for usage checks).
unsigned max_readings_per_post(std::string_view longest_device_id);

}  // namespace spindle::fleet
