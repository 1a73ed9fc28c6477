// Kernel timers (Zephyr: k_timer).
//
// The expiry function runs on the backend's timer context (an ISR on Zephyr, one shared
// timer thread on POSIX), so it must be short and must not block: count, give a
// semaphore, put to a queue with kNoWait, submit work.
#pragma once

#include <atomic>
#include <cstdint>

namespace spindle::os {

class Timer {
 public:
  Timer(void (*expiry)(Timer*), void* user_data) : expiry_(expiry), user_data_(user_data) {}
  // Stops the timer and waits for a running expiry function to return.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)starts the timer: the first expiry comes `duration_ms` from now (0: at once), then
  // one every `period_ms` if `period_ms > 0`, else none. Periods are measured from the
  // previous deadline, not from when the expiry function ran, so they do not drift.
  // Restarting resets status() to zero; a negative `duration_ms` only stops the timer
  // (as K_FOREVER does). Never fails.
  void start(std::int64_t duration_ms, std::int64_t period_ms);

  // Stops the timer; status() keeps its count. Once it returns, the expiry function is not
  // running on another thread (it may be the caller). Never fails.
  void stop();

  void* user_data() const { return user_data_; }

  // Expiries since the last call (or since start), and resets the count to zero.
  std::uint32_t status() { return expiries_.exchange(0); }

 private:
  friend class TimerService;

  void (*expiry_)(Timer*);
  void* user_data_;
  std::atomic<std::uint32_t> expiries_{0};
  // Scheduling state, guarded by the backend's timer lock.
  Timer* next_ = nullptr;  // in the list of active timers
  bool active_ = false;
  std::int64_t due_us_ = 0;  // uptime_us() of the next expiry
  std::int64_t period_ms_ = 0;
};

}  // namespace spindle::os
