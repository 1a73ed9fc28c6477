#include "relay_private.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

#include "spindle/linkemu/capture.hpp"

namespace spindle::linkemu {

namespace {

// At most this many datagrams are read from one socket per wake-up, so one busy peer
// cannot starve the others or the timer.
constexpr int kMaxReadsPerWake = 64;
// Largest UDP payload (IPv6 without jumbograms) and then some.
constexpr std::size_t kMaxDatagram = 65'536;
constexpr Micros kSweepInterval = std::chrono::seconds(1);

const sockaddr* as_sockaddr(const sockaddr_storage& s) {
  return reinterpret_cast<const sockaddr*>(&s);
}

sockaddr* as_sockaddr(sockaddr_storage& s) {
  return reinterpret_cast<sockaddr*>(&s);
}

int open_udp(int family) {
  return ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

bool port_is_valid(const std::string& port) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoul(port) <= 65535;
}

Endpoint endpoint_of(const sockaddr_storage& address, socklen_t length) {
  Endpoint e;
  e.address = address;
  e.length = length;
  return e;
}

nlohmann::ordered_json link_json(const LinkStats& s, std::size_t pending, std::uint64_t corrupted) {
  nlohmann::ordered_json j;
  j["received"] = s.received;
  j["forwarded"] = s.forwarded;
  j["dropped_loss"] = s.dropped_loss;
  j["dropped_queue"] = s.dropped_queue;
  j["dropped_blackout"] = s.dropped_blackout;
  j["duplicated"] = s.duplicated;
  j["reordered"] = s.reordered;
  j["corrupted"] = corrupted;
  j["bytes"] = s.bytes;
  j["bytes_received"] = s.bytes_received;
  j["pending"] = pending;
  return j;
}

}  // namespace

std::string Endpoint::to_string() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 a{};
    std::memcpy(&a, &address, sizeof a);
    ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    // Appended, not "[" + std::string(...): for a literal prepended to a temporary string,
    // GCC 12 at -O3 reports a false -Wrestrict.
    std::string text = "[";
    text.append(host).append("]:").append(std::to_string(ntohs(a.sin6_port)));
    return text;
  }
  sockaddr_in a{};
  std::memcpy(&a, &address, sizeof a);
  ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
}

std::string Endpoint::key() const {
  std::string k(1, static_cast<char>(address.ss_family));
  auto append = [&k](const void* bytes, std::size_t size) {
    k.append(static_cast<const char*>(bytes), size);
  };
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 a{};
    std::memcpy(&a, &address, sizeof a);
    append(&a.sin6_port, sizeof a.sin6_port);
    append(&a.sin6_addr, sizeof a.sin6_addr);
    append(&a.sin6_scope_id, sizeof a.sin6_scope_id);
  } else {
    sockaddr_in a{};
    std::memcpy(&a, &address, sizeof a);
    append(&a.sin_port, sizeof a.sin_port);
    append(&a.sin_addr, sizeof a.sin_addr);
  }
  return k;
}

Endpoint parse_endpoint(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("'" + text + "' is not [HOST]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      throw std::invalid_argument("'" + text + "' is not HOST:PORT (IPv6: [HOST]:PORT)");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("'" + text + "' has no host");
  if (!port_is_valid(port)) throw std::invalid_argument("'" + text + "' has no port 0..65535");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
      rc != 0 || found == nullptr) {
    throw std::invalid_argument("cannot resolve '" + text + "': " + ::gai_strerror(rc));
  }
  Endpoint e;
  std::memcpy(&e.address, found->ai_addr, found->ai_addrlen);
  e.length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return e;
}

Relay::Relay(RelayConfig config)
    : config_(std::move(config)),
      start_(std::chrono::steady_clock::now()),
      to_upstream_(config_.link, direction_seed(config_.seed, Direction::kToUpstream)),
      to_client_(config_.link, direction_seed(config_.seed, Direction::kToClient)),
      corruption_(config_.corruption, config_.seed),
      buffer_(kMaxDatagram) {
  if (!config_.capture_path.empty()) {
    capture_.open(config_.capture_path, std::ios::binary | std::ios::app);
    if (!capture_) {
      throw std::runtime_error("cannot open --capture " + config_.capture_path + ": " +
                               std::strerror(errno));
    }
  }
  listen_fd_ = open_udp(config_.listen.address.ss_family);
  if (listen_fd_ < 0) {
    throw std::runtime_error(std::string("cannot open a UDP socket: ") + std::strerror(errno));
  }
  if (::bind(listen_fd_, as_sockaddr(config_.listen.address), config_.listen.length) != 0) {
    const int error = errno;
    ::close(listen_fd_);
    throw std::runtime_error("cannot bind --listen " + config_.listen.to_string() + ": " +
                             std::strerror(error));
  }
}

Relay::~Relay() {
  for (auto& [flow, session] : sessions_)
    ::close(session.fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

Endpoint Relay::bound() const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(listen_fd_, as_sockaddr(address), &length) != 0) return config_.listen;
  return endpoint_of(address, length);
}

Micros Relay::now() const {
  return std::chrono::duration_cast<Micros>(std::chrono::steady_clock::now() - start_);
}

void Relay::run(const volatile std::sig_atomic_t* stop, const sigset_t* wait_mask) {
  std::vector<pollfd> fds;
  std::vector<std::uint64_t> flows;
  Micros next_sweep = now() + kSweepInterval;
  while (*stop == 0) {
    Micros t = now();
    const bool timed = config_.duration > Micros(0);
    if (timed && t >= config_.duration) break;

    Micros wake = next_sweep;
    if (timed) wake = std::min(wake, config_.duration);
    if (const auto d = to_upstream_.next_due()) wake = std::min(wake, *d);
    if (const auto d = to_client_.next_due()) wake = std::min(wake, *d);
    const Micros wait = std::max(wake - t, Micros(0));
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(wait.count() / 1'000'000);
    timeout.tv_nsec = static_cast<long>(wait.count() % 1'000'000) * 1000;

    fds.clear();
    flows.clear();
    fds.push_back(pollfd{listen_fd_, POLLIN, 0});
    for (const auto& [flow, session] : sessions_) {
      fds.push_back(pollfd{session.fd, POLLIN, 0});
      flows.push_back(flow);
    }
    const int ready = ::ppoll(fds.data(), fds.size(), &timeout, wait_mask);
    t = now();
    if (ready > 0) {
      if (fds[0].revents != 0) receive_from_clients(t);
      for (std::size_t i = 0; i < flows.size(); ++i) {
        if (fds[i + 1].revents != 0) receive_from_upstream(flows[i], t);
      }
    }
    send_due(t);
    if (t >= next_sweep) {
      close_idle_sessions(t);
      next_sweep = t + kSweepInterval;
    }
  }
}

void Relay::receive_from_clients(Micros t) {
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(listen_fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                                 as_sockaddr(from), &from_length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN: drained; anything else: nothing to read now either
    }
    const std::uint64_t flow = session_for(endpoint_of(from, from_length), t);
    Datagram datagram;
    datagram.flow = flow;
    datagram.payload.assign(buffer_.begin(), buffer_.begin() + n);
    to_upstream_.submit(t, std::move(datagram));
  }
}

void Relay::receive_from_upstream(std::uint64_t flow, Micros t) {
  const auto found = sessions_.find(flow);
  if (found == sessions_.end()) return;  // closed for a new client meanwhile
  Session& session = found->second;
  for (int i = 0; i < kMaxReadsPerWake; ++i) {
    const ssize_t n = ::recv(session.fd, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0) {
      // ECONNREFUSED: an ICMP port-unreachable for an earlier datagram (nobody upstream);
      // the socket keeps working, read on.
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      return;
    }
    session.last_active = t;
    Datagram datagram;
    datagram.flow = flow;
    datagram.payload.assign(buffer_.begin(), buffer_.begin() + n);
    to_client_.submit(t, std::move(datagram));
  }
}

void Relay::send_due(Micros t) {
  forward(Direction::kToUpstream, to_upstream_.due(t));
  forward(Direction::kToClient, to_client_.due(t));
  // Once per wake-up, so a reader sees the records soon without a write per datagram.
  if (capture_.is_open()) capture_.flush();
}

void Relay::forward(Direction direction, std::vector<Datagram> due) {
  for (Datagram& d : due) {
    corruption_.apply(direction, d.payload);  // counted in corruption_.corrupted()
    const auto found = sessions_.find(d.flow);
    if (found == sessions_.end()) {
      ++counters_.unroutable;
      continue;
    }
    if (!send_payload(direction, found->second, d.payload)) {
      ++counters_.send_errors;
      continue;
    }
    if (capture_.is_open()) {
      write_capture_record(capture_, direction, d.payload);
      ++counters_.captured;
    }
  }
}

bool Relay::send_payload(Direction direction, const Session& session,
                         std::span<const std::uint8_t> payload) {
  if (direction == Direction::kToClient) {
    return ::sendto(listen_fd_, payload.data(), payload.size(), MSG_DONTWAIT,
                    as_sockaddr(session.client.address), session.client.length) >= 0;
  }
  ssize_t sent = ::send(session.fd, payload.data(), payload.size(), MSG_DONTWAIT);
  // A pending ICMP error is reported by the next send, which then sends nothing: retry.
  if (sent < 0 && errno == ECONNREFUSED) {
    sent = ::send(session.fd, payload.data(), payload.size(), MSG_DONTWAIT);
  }
  return sent >= 0;
}

std::uint64_t Relay::session_for(const Endpoint& client, Micros t) {
  const std::string key = client.key();
  if (const auto found = flow_by_client_.find(key); found != flow_by_client_.end()) {
    sessions_[found->second].last_active = t;
    return found->second;
  }
  if (sessions_.size() >= config_.max_clients && !sessions_.empty()) {
    const auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_active < b.second.last_active; });
    close_session(oldest->first);
  }
  const int fd = open_udp(config_.upstream.address.ss_family);
  if (fd < 0) return 0;  // no session: its datagrams end up unroutable
  if (::connect(fd, as_sockaddr(config_.upstream.address), config_.upstream.length) != 0) {
    ::close(fd);
    return 0;
  }
  const std::uint64_t flow = next_flow_++;
  Session session;
  session.fd = fd;
  session.client = client;
  session.last_active = t;
  sessions_.emplace(flow, std::move(session));
  flow_by_client_.emplace(key, flow);
  ++counters_.sessions;
  return flow;
}

void Relay::close_session(std::uint64_t flow) {
  const auto found = sessions_.find(flow);
  if (found == sessions_.end()) return;
  ::close(found->second.fd);
  flow_by_client_.erase(found->second.client.key());
  sessions_.erase(found);
  ++counters_.sessions_closed;
}

void Relay::close_idle_sessions(Micros t) {
  std::vector<std::uint64_t> idle;
  for (const auto& [flow, session] : sessions_) {
    if (t - session.last_active > config_.idle_timeout) idle.push_back(flow);
  }
  for (const std::uint64_t flow : idle)
    close_session(flow);
}

RelayStats Relay::stats() const {
  RelayStats s = counters_;
  s.to_upstream = to_upstream_.stats();
  s.to_client = to_client_.stats();
  s.pending_to_upstream = to_upstream_.pending();
  s.pending_to_client = to_client_.pending();
  s.corrupted_to_upstream = corruption_.corrupted(Direction::kToUpstream);
  s.corrupted_to_client = corruption_.corrupted(Direction::kToClient);
  return s;
}

std::string stats_json(const RelayStats& stats) {
  nlohmann::ordered_json j;
  j["client_to_upstream"] =
      link_json(stats.to_upstream, stats.pending_to_upstream, stats.corrupted_to_upstream);
  j["upstream_to_client"] =
      link_json(stats.to_client, stats.pending_to_client, stats.corrupted_to_client);
  j["relay"] = {{"sessions", stats.sessions},
                {"sessions_closed", stats.sessions_closed},
                {"send_errors", stats.send_errors},
                {"unroutable", stats.unroutable},
                {"captured", stats.captured}};
  return j.dump(2) + "\n";
}

}  // namespace spindle::linkemu
