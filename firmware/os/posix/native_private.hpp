// Shared pieces of the POSIX backend: native objects in the facade's opaque storage, the
// monotonic clock, and timed condition-variable waits. Private to firmware/os/posix.
#pragma once

#include <pthread.h>
#include <time.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

#include "spindle/os/kernel.hpp"
#include "spindle/os/opaque_storage.hpp"

namespace spindle::os::posix {

// Native objects are trivially destructible C structs, so they are never destroyed.
template <typename Native, std::size_t Bytes>
Native* construct_native(OpaqueStorage<Bytes>& storage) {
  static_assert(sizeof(Native) <= Bytes, "grow the facade's opaque storage for this libc");
  static_assert(alignof(Native) <= kOpaqueAlignment);
  static_assert(std::is_trivially_destructible_v<Native>);
  return ::new (static_cast<void*>(storage.bytes)) Native();
}

template <typename Native, std::size_t Bytes>
Native& native(OpaqueStorage<Bytes>& storage) {
  return *std::launder(reinterpret_cast<Native*>(storage.bytes));
}

// A pthread call that can only fail through a programming error (an uninitialised or
// foreign-owned object) or resource exhaustion at start-up: report it and abort, since the
// facade's void calls have no way to return it and carrying on would corrupt state.
void require_ok(int result, const char* what);

// CLOCK_MONOTONIC in nanoseconds, and the value it had when the process started.
std::int64_t monotonic_ns();
std::int64_t boot_ns();

// CLOCK_MONOTONIC instants for absolute timed waits: `ms` milliseconds from now, and the
// instant at which uptime_us() reaches `uptime_us`. Far-future instants are clamped.
timespec deadline_after_ms(std::int64_t ms);
timespec uptime_us_to_timespec(std::int64_t uptime_us);

// Mutexes and condition variables of the backend: non-recursive mutexes for internal
// state, condition variables on CLOCK_MONOTONIC so that setting the wall clock (NTP, the
// user) cannot stretch or cut a timeout.
void init_mutex(pthread_mutex_t* mutex);
void init_monotonic_cond(pthread_cond_t* cond);

// Scoped pthread mutex lock for backend internals.
class NativeLock {
 public:
  explicit NativeLock(pthread_mutex_t* mutex) : mutex_(mutex) {
    require_ok(pthread_mutex_lock(mutex_), "pthread_mutex_lock");
  }
  ~NativeLock() { require_ok(pthread_mutex_unlock(mutex_), "pthread_mutex_unlock"); }
  NativeLock(const NativeLock&) = delete;
  NativeLock& operator=(const NativeLock&) = delete;

 private:
  pthread_mutex_t* mutex_;
};

// Waits on `cond` (with `mutex` held) until `ready()` holds or `timeout` runs out;
// returns ready(). Spurious wake-ups are absorbed by re-checking.
template <typename Ready>
bool wait_for(pthread_cond_t* cond, pthread_mutex_t* mutex, Timeout timeout, Ready ready) {
  if (ready()) return true;
  if (timeout.is_no_wait()) return false;
  if (timeout.is_forever()) {
    while (!ready())
      require_ok(pthread_cond_wait(cond, mutex), "pthread_cond_wait");
    return true;
  }
  const timespec deadline = deadline_after_ms(timeout.ms);
  while (!ready()) {
    const int result = pthread_cond_timedwait(cond, mutex, &deadline);
    if (result == ETIMEDOUT) return ready();
    require_ok(result, "pthread_cond_timedwait");
  }
  return true;
}

}  // namespace spindle::os::posix
