// The clock and sleeping, plus the shared helpers of the POSIX backend.
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "native_private.hpp"
#include "spindle/os/kernel.hpp"

namespace spindle::os {
namespace posix {
namespace {

constexpr std::int64_t kNsPerMs = 1'000'000;
constexpr std::int64_t kNsPerSecond = 1'000'000'000;

// Taken during static initialisation, so uptime counts from process start even if the
// first caller comes late; a function-local static also serves callers from other
// static initialisers that run first.
[[maybe_unused]] const std::int64_t kBootTouch = boot_ns();

}  // namespace

void require_ok(int result, const char* what) {
  if (result == 0) return;
  // Not the logger: it may be the logger's own lock that failed.
  std::fprintf(stderr, "spindle os: %s failed with error %d\n", what, result);
  std::abort();
}

std::int64_t monotonic_ns() {
  timespec now{};
  require_ok(clock_gettime(CLOCK_MONOTONIC, &now), "clock_gettime");
  return std::int64_t{now.tv_sec} * kNsPerSecond + now.tv_nsec;
}

std::int64_t boot_ns() {
  static const std::int64_t boot = monotonic_ns();
  return boot;
}

namespace {

// Clamped rather than overflowing into the past: half the range is centuries.
constexpr std::int64_t kMaxDeadlineNs = std::numeric_limits<std::int64_t>::max() / 2;

timespec to_timespec(std::int64_t ns) {
  timespec out{};
  out.tv_sec = static_cast<time_t>(ns / kNsPerSecond);
  out.tv_nsec = static_cast<long>(ns % kNsPerSecond);
  return out;
}

}  // namespace

timespec deadline_after_ms(std::int64_t ms) {
  const std::int64_t now = monotonic_ns();
  if (ms > (kMaxDeadlineNs - now) / kNsPerMs) return to_timespec(kMaxDeadlineNs);
  return to_timespec(now + ms * kNsPerMs);
}

timespec uptime_us_to_timespec(std::int64_t uptime_us) {
  const std::int64_t boot = boot_ns();
  if (uptime_us > (kMaxDeadlineNs - boot) / 1000) return to_timespec(kMaxDeadlineNs);
  return to_timespec(boot + uptime_us * 1000);
}

void init_mutex(pthread_mutex_t* mutex) {
  require_ok(pthread_mutex_init(mutex, nullptr), "pthread_mutex_init");
}

void init_monotonic_cond(pthread_cond_t* cond) {
  pthread_condattr_t attr;
  require_ok(pthread_condattr_init(&attr), "pthread_condattr_init");
  require_ok(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC), "pthread_condattr_setclock");
  require_ok(pthread_cond_init(cond, &attr), "pthread_cond_init");
  require_ok(pthread_condattr_destroy(&attr), "pthread_condattr_destroy");
}

}  // namespace posix

std::int64_t uptime_ms() {
  return (posix::monotonic_ns() - posix::boot_ns()) / posix::kNsPerMs;
}

std::int64_t uptime_us() {
  return (posix::monotonic_ns() - posix::boot_ns()) / 1000;
}

void sleep_ms(std::int64_t ms) {
  if (ms <= 0) {
    sched_yield();
    return;
  }
  // An absolute deadline, so a signal that interrupts the sleep does not lengthen it.
  const timespec deadline = posix::deadline_after_ms(ms);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
}

}  // namespace spindle::os
