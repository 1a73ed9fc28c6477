// The CoAP thread's loop: poll the server socket and the wake-up eventfd, run the tasks
// other threads posted, let libcoap read and answer, and once a second housekeeping.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "coap_server_private.hpp"
#include "spindle/gateway/clock.hpp"

namespace spindle::gateway {
namespace {

// Reads of the server socket that found no datagram (process_io lists the socket more
// often than datagrams may wait; libcoap reports each such read as a warning).
std::atomic<std::uint64_t> g_empty_reads{0};

void wake(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(fd, &one, sizeof one);
}

}  // namespace

// libcoap's log, into spdlog; the expected empty reads are counted, not logged. Called
// from C: nothing may unwind out of it.
void libcoap_log(coap_log_t level, const char* message) noexcept {
  static thread_local bool after_empty_read = false;
  std::string_view text(message);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.find("Resource temporarily unavailable") != std::string_view::npos) {
    g_empty_reads.fetch_add(1, std::memory_order_relaxed);
    after_empty_read = true;
    return;
  }
  if (after_empty_read && text.ends_with("read failed")) {
    after_empty_read = false;
    return;
  }
  after_empty_read = false;
  spdlog::level::level_enum mapped = spdlog::level::trace;
  if (level <= LOG_ERR) {
    mapped = spdlog::level::err;
  } else if (level == LOG_WARNING) {
    mapped = spdlog::level::warn;
  } else if (level <= LOG_INFO) {
    mapped = spdlog::level::debug;
  }
  try {
    spdlog::log(mapped, "libcoap: {}", text);
  } catch (...) {  // a log line lost is better than an exception through libcoap
  }
}

Status CoapServer::Impl::run() {
  const int coap_fd = coap_context_get_coap_fd(context_);
  pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop_requested_.load()) {
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) {
      spdlog::error("coap: poll failed: {}", std::strerror(errno));
      return Error::kIoError;
    }
    run_posted_tasks();
    if (!process_io(coap_fd)) {
      spdlog::error("coap: libcoap I/O failed");
      return Error::kIoError;
    }
    const std::int64_t now = now_ms();
    if (now - last_housekeeping_ms_ >= 1000) housekeeping(now);
  }
  return kOk;
}

bool CoapServer::Impl::process_io(int coap_fd) {
  // Each pass of libcoap 4.3.1's I/O (coap_io_do_epoll, coap_io_process) ends with a walk
  // over every session, and reads one datagram per ready socket: with 10,000 sessions that
  // walk, not the request, is the cost. The server's UDP socket is one level-triggered
  // event however many datagrams wait, so it is listed several times: one pass then reads
  // several datagrams (a read that finds none returns at once; libcoap_log counts it).
  // The copies follow the load: twice what the last pass found, at most
  // kMaxDatagramsPerPass, so an idle server makes about one read per datagram.
  constexpr int kEvents = 16;
  constexpr int kMaxDatagramsPerPass = 32;
  epoll_event ready[kEvents];
  const int count = epoll_wait(coap_fd, ready, kEvents, 0);
  if (count < 0) return errno == EINTR;
  if (count == 0) {
    // Nothing to read: still let libcoap send triggered answers and notifications.
    return coap_io_process(context_, COAP_IO_NO_WAIT) >= 0;
  }
  const int copies = std::clamp(2 * datagrams_last_pass_, 1, kMaxDatagramsPerPass);
  std::array<epoll_event, kEvents * kMaxDatagramsPerPass> events{};
  std::size_t listed = 0;
  int socket_reads = 0;
  for (int i = 0; i < count; ++i) {
    const bool socket_readable = ready[i].data.ptr != nullptr && (ready[i].events & EPOLLIN) != 0;
    const int n = socket_readable ? copies : 1;
    if (socket_readable) socket_reads += n;
    for (int k = 0; k < n; ++k)
      events[listed++] = ready[i];
  }
  const std::uint64_t empty_before = g_empty_reads.load(std::memory_order_relaxed);
  coap_io_do_epoll(context_, events.data(), listed);
  const auto empty = static_cast<int>(g_empty_reads.load(std::memory_order_relaxed) - empty_before);
  datagrams_last_pass_ = std::max(0, socket_reads - empty);
  return true;
}

void CoapServer::Impl::drain() {
  // The writer has stopped, so every completion is posted: run them and let libcoap send
  // the separate responses. Requests arriving meanwhile find the writer closed (5.03).
  for (int round = 0; round < 10; ++round) {
    run_posted_tasks();
    coap_io_process(context_, 10);
  }
}

void CoapServer::Impl::stop() {
  stop_requested_.store(true);
  wake(wake_fd_);
}

void CoapServer::Impl::post(std::function<void()> task) {
  {
    const std::lock_guard lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
    // One wake-up per batch: the writer posts a group's completions back to back, and each
    // pass of the loop costs libcoap 4.3.1 a walk over every session.
    if (tasks_.size() > 1) return;
  }
  wake(wake_fd_);
}

void CoapServer::Impl::run_posted_tasks() {
  std::uint64_t count = 0;
  [[maybe_unused]] const auto read = ::read(wake_fd_, &count, sizeof count);
  std::vector<std::function<void()>> tasks;
  {
    const std::lock_guard lock(tasks_mutex_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) {
    // A task that throws is lost alone: the loop, and the tasks after it, go on.
    try {
      task();
    } catch (const std::exception& e) {
      spdlog::error("coap: a posted task threw: {}", e.what());
    } catch (...) {
      spdlog::error("coap: a posted task threw a non-standard exception");
    }
  }
}

void CoapServer::Impl::housekeeping(std::int64_t now) {
  last_housekeeping_ms_ = now;
  challenges_.drop_expired(now);
  forget_idle_uploads(now);
  expire_devices(now);
  forget_idle_transfers(now);
  forget_old_exchanges(now);
  limiter_.prune(now);
  block_limiter_.prune(now);
}

}  // namespace spindle::gateway
