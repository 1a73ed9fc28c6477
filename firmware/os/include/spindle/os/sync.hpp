// Mutexes and counting semaphores (Zephyr: k_mutex, k_sem).
#pragma once

#include <cstdint>
#include <limits>

#include "spindle/os/kernel.hpp"
#include "spindle/os/opaque_storage.hpp"
#include "spindle/status.hpp"

namespace spindle::os {

// A mutex the owning thread may lock again (recursive, like k_mutex), with priority
// inheritance where the backend offers it. Lock and unlock cannot fail; locking blocks
// without a time limit because a mutex protects short critical sections only.
class Mutex {
 public:
  Mutex();
  ~Mutex();
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock();
  // Must be called by the owning thread, once per lock().
  void unlock();

 private:
  OpaqueStorage<kMutexStorageBytes> native_;
};

// Holds a Mutex for the lifetime of a scope.
class LockGuard {
 public:
  explicit LockGuard(Mutex& mutex) : mutex_(mutex) { mutex_.lock(); }
  ~LockGuard() { mutex_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& mutex_;
};

inline constexpr std::uint32_t kSemaphoreMaxLimit = std::numeric_limits<std::uint32_t>::max();

// A counting semaphore whose count never exceeds `limit` (k_sem). A semaphore with limit 1
// is the usual "something happened" signal from a callback to a thread.
class Semaphore {
 public:
  // A `limit` of 0 is taken as 1 and `initial` is clamped to the limit, because a
  // constructor cannot report errors and both are programming mistakes with an obvious fix.
  Semaphore(std::uint32_t initial, std::uint32_t limit);
  ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Adds one to the count unless it is at the limit (then the give is lost, as in k_sem)
  // and wakes one waiter. Safe from timer expiry functions. Never fails.
  void give();

  // Takes one from the count, waiting up to `timeout` for a give.
  // Errors: kTimeout if the count stayed zero for the whole timeout (at once for kNoWait).
  Status take(Timeout timeout);

  // The current count; by the time the caller looks it may have changed.
  std::uint32_t count();

 private:
  OpaqueStorage<kSemaphoreStorageBytes> native_;
};

}  // namespace spindle::os
