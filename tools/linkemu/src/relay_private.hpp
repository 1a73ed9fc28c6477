// The I/O shell of spindle-linkemu: a UDP relay that feeds one Link per direction. Every
// client address gets its own socket connected to the upstream, so the upstream sees one
// peer per client (distinct DTLS and CoAP sessions) and its answers go back to the client
// whose socket they arrive on.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "spindle/linkemu/corruption.hpp"
#include "spindle/linkemu/link.hpp"

namespace spindle::linkemu {

// A resolved socket address.
struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;

  // "127.0.0.1:5684" or "[::1]:5684".
  std::string to_string() const;
  // Family, port and address bytes: equal for equal endpoints.
  std::string key() const;
};

// Resolves "HOST:PORT" or "[V6HOST]:PORT" (numeric or a name, port 0..65535).
// Throws std::invalid_argument with a message that quotes the text.
Endpoint parse_endpoint(const std::string& text);

struct RelayConfig {
  Endpoint listen;
  Endpoint upstream;
  LinkConfig link;  // both directions
  CorruptionConfig corruption;
  std::string capture_path;  // empty: no capture
  std::uint64_t seed = 1;
  Micros duration{0};  // 0: until stopped
  std::size_t max_clients = 1024;
  Micros idle_timeout = std::chrono::seconds(300);
};

struct RelayStats {
  LinkStats to_upstream;                // client -> upstream
  LinkStats to_client;                  // upstream -> client
  std::size_t pending_to_upstream = 0;  // still scheduled when the relay stopped
  std::size_t pending_to_client = 0;
  std::uint64_t sessions = 0;               // client addresses seen (sockets opened)
  std::uint64_t sessions_closed = 0;        // idle or evicted for a new client
  std::uint64_t send_errors = 0;            // a due datagram the kernel refused (counted forwarded)
  std::uint64_t unroutable = 0;             // due after its session was closed (counted forwarded)
  std::uint64_t corrupted_to_upstream = 0;  // forwarded with a bit flipped
  std::uint64_t corrupted_to_client = 0;
  std::uint64_t captured = 0;  // records written to --capture
};

class Relay {
 public:
  // Opens the capture file (appending) and binds the listening socket. Throws
  // std::runtime_error when it cannot (start-up only).
  explicit Relay(RelayConfig config);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // The address actually bound (the port is known even when --listen asked for 0).
  Endpoint bound() const;

  // Relays until the duration has passed or *stop is set by a signal handler. Waits with
  // ppoll(wait_mask), so the signals that set *stop should be blocked outside the wait and
  // unblocked in wait_mask. Never throws; socket errors are counted, not fatal.
  void run(const volatile std::sig_atomic_t* stop, const sigset_t* wait_mask);

  RelayStats stats() const;

  // Whether a write to the capture file failed (the capture is then incomplete).
  bool capture_failed() const { return capture_.is_open() && !capture_; }

 private:
  struct Session {
    int fd = -1;
    Endpoint client;
    Micros last_active{0};
  };

  Micros now() const;
  void receive_from_clients(Micros now);
  void receive_from_upstream(std::uint64_t flow, Micros now);
  void send_due(Micros now);
  // Corrupts, sends and captures the datagrams leaving the link in `direction`.
  void forward(Direction direction, std::vector<Datagram> due);
  bool send_payload(Direction direction, const Session& session,
                    std::span<const std::uint8_t> payload);
  std::uint64_t session_for(const Endpoint& client, Micros now);
  void close_session(std::uint64_t flow);
  void close_idle_sessions(Micros now);

  RelayConfig config_;
  std::chrono::steady_clock::time_point start_;
  int listen_fd_ = -1;
  Link to_upstream_;
  Link to_client_;
  Corruption corruption_;
  std::ofstream capture_;
  std::map<std::uint64_t, Session> sessions_;
  std::map<std::string, std::uint64_t> flow_by_client_;
  std::uint64_t next_flow_ = 1;
  RelayStats counters_;
  std::vector<std::uint8_t> buffer_;
};

// The --stats document: one object of counters per direction and the relay's own.
std::string stats_json(const RelayStats& stats);

}  // namespace spindle::linkemu
