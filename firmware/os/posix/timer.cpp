// Timers on one shared timer thread, the POSIX stand-in for the timer interrupt.
//
// Not POSIX timer signals: an expiry function that gives a semaphore would then take a
// mutex inside a signal handler. One thread waiting on a condition variable until the
// earliest deadline keeps expiry functions in ordinary thread context, serialised the way
// ISRs of one priority are.
#include <signal.h>

#include "native_private.hpp"
#include "spindle/os/timer.hpp"

namespace spindle::os {

class TimerService {
 public:
  static void start(Timer* timer, std::int64_t duration_ms, std::int64_t period_ms);
  static void stop(Timer* timer);

 private:
  static void ensure_thread();
  static void create_thread();
  static void* thread_main(void*);
  static void unlink_locked(Timer* timer);
};

namespace {

// Timer state is process-wide and never destroyed, so the timer thread can outlive every
// static object at exit. Constant-initialised: usable from any static initialiser.
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t g_changed;  // the list changed or an expiry function returned
pthread_once_t g_once = PTHREAD_ONCE_INIT;
Timer* g_active = nullptr;   // unsorted list: a node runs a handful of timers
Timer* g_running = nullptr;  // whose expiry function runs now, if any
thread_local bool t_on_timer_thread = false;

}  // namespace

void TimerService::create_thread() {
  posix::init_monotonic_cond(&g_changed);
  // Signals are for the application's threads, as interrupts are not delivered to an ISR.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  posix::require_ok(pthread_sigmask(SIG_SETMASK, &all, &previous), "pthread_sigmask");
  pthread_t thread;
  const int created = pthread_create(&thread, nullptr, &TimerService::thread_main, nullptr);
  posix::require_ok(pthread_sigmask(SIG_SETMASK, &previous, nullptr), "pthread_sigmask");
  // Without it no timer would ever fire; Timer::start has no error to return, so stop.
  posix::require_ok(created, "creating the timer thread");
  pthread_setname_np(thread, "spindle_timer");
  pthread_detach(thread);
}

void TimerService::ensure_thread() {
  posix::require_ok(pthread_once(&g_once, &TimerService::create_thread), "pthread_once");
}

void TimerService::unlink_locked(Timer* timer) {
  if (!timer->active_) return;
  for (Timer** link = &g_active; *link != nullptr; link = &(*link)->next_) {
    if (*link == timer) {
      *link = timer->next_;
      break;
    }
  }
  timer->next_ = nullptr;
  timer->active_ = false;
}

void TimerService::start(Timer* timer, std::int64_t duration_ms, std::int64_t period_ms) {
  ensure_thread();
  const posix::NativeLock lock(&g_lock);
  unlink_locked(timer);
  timer->expiries_.store(0);
  if (duration_ms < 0) return;
  timer->due_us_ = uptime_us() + duration_ms * 1000;
  timer->period_ms_ = period_ms > 0 ? period_ms : 0;
  timer->active_ = true;
  timer->next_ = g_active;
  g_active = timer;
  posix::require_ok(pthread_cond_broadcast(&g_changed), "pthread_cond_broadcast");
}

void TimerService::stop(Timer* timer) {
  // No ensure_thread(): a timer that was never started is not in the list, and only the
  // timer thread sets g_running, so reaching the wait below implies the thread (and
  // g_changed) exist.
  const posix::NativeLock lock(&g_lock);
  // The expiry function may restart its own timer while we wait: unlink again after.
  for (;;) {
    unlink_locked(timer);
    if (g_running != timer || t_on_timer_thread) return;
    posix::require_ok(pthread_cond_wait(&g_changed, &g_lock), "pthread_cond_wait");
  }
}

void* TimerService::thread_main(void*) {
  t_on_timer_thread = true;
  const posix::NativeLock lock(&g_lock);
  for (;;) {
    Timer* earliest = nullptr;
    for (Timer* timer = g_active; timer != nullptr; timer = timer->next_) {
      if (earliest == nullptr || timer->due_us_ < earliest->due_us_) earliest = timer;
    }
    if (earliest == nullptr) {
      posix::require_ok(pthread_cond_wait(&g_changed, &g_lock), "pthread_cond_wait");
      continue;
    }
    if (earliest->due_us_ > uptime_us()) {
      const timespec deadline = posix::uptime_us_to_timespec(earliest->due_us_);
      const int result = pthread_cond_timedwait(&g_changed, &g_lock, &deadline);
      if (result != ETIMEDOUT) posix::require_ok(result, "pthread_cond_timedwait");
      continue;  // re-evaluate: the list may have changed
    }
    Timer* const timer = earliest;
    timer->expiries_.fetch_add(1);
    if (timer->period_ms_ > 0) {
      timer->due_us_ += timer->period_ms_ * 1000;
    } else {
      unlink_locked(timer);
    }
    if (timer->expiry_ != nullptr) {
      // Unlocked, so the expiry function may start or stop timers, its own included.
      g_running = timer;
      posix::require_ok(pthread_mutex_unlock(&g_lock), "pthread_mutex_unlock");
      timer->expiry_(timer);
      posix::require_ok(pthread_mutex_lock(&g_lock), "pthread_mutex_lock");
      g_running = nullptr;
      posix::require_ok(pthread_cond_broadcast(&g_changed), "pthread_cond_broadcast");
    }
  }
}

Timer::~Timer() {
  TimerService::stop(this);
}

void Timer::start(std::int64_t duration_ms, std::int64_t period_ms) {
  TimerService::start(this, duration_ms, period_ms);
}

void Timer::stop() {
  TimerService::stop(this);
}

}  // namespace spindle::os
