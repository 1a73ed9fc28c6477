// Timers: one-shot and periodic expiry, status counts, stop, restart from the expiry
// function. Bounds are generous: the host is shared and timing is not what is tested.
#include "spindle/os/timer.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "spindle/os/kernel.hpp"
#include "spindle/os/sync.hpp"

namespace spindle::os {
namespace {

constexpr Timeout kGenerous = Timeout::millis(10'000);

struct Counter {
  std::atomic<int> expiries{0};
  Semaphore fired{0, kSemaphoreMaxLimit};
  int restarts_left = 0;  // touched only by the expiry function
};

void count_expiry(Timer* timer) {
  auto* counter = static_cast<Counter*>(timer->user_data());
  ++counter->expiries;
  counter->fired.give();
}

TEST(Timer, UserDataIsWhatTheConstructorGot) {
  int value = 0;
  const Timer timer(&count_expiry, &value);
  EXPECT_EQ(timer.user_data(), &value);
}

TEST(Timer, OneShotFiresOnceAfterItsDuration) {
  Counter counter;
  Timer timer(&count_expiry, &counter);
  const std::int64_t start_us = uptime_us();
  timer.start(30, 0);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  EXPECT_GE(uptime_us() - start_us, 30'000);
  sleep_ms(60);
  EXPECT_EQ(counter.expiries.load(), 1);
  EXPECT_EQ(timer.status(), 1u);
}

TEST(Timer, StatusCountsExpiriesSinceTheLastRead) {
  Counter counter;
  Timer timer(&count_expiry, &counter);
  timer.start(0, 0);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  EXPECT_EQ(timer.status(), 1u);
  EXPECT_EQ(timer.status(), 0u);
}

TEST(Timer, PeriodicExpiryCountStaysWithinBounds) {
  Counter counter;
  Timer timer(&count_expiry, &counter);
  const std::int64_t start_us = uptime_us();
  timer.start(10, 10);
  sleep_ms(300);
  timer.stop();
  const std::int64_t elapsed_us = uptime_us() - start_us;
  const int expiries = counter.expiries.load();
  // Never more than one per period elapsed; and a periodic timer that lags catches up on
  // its own schedule, so even a busy host sees a good share of them.
  EXPECT_LE(expiries, elapsed_us / 10'000);
  EXPECT_GE(expiries, 5);
  EXPECT_EQ(timer.status(), static_cast<std::uint32_t>(expiries));
}

TEST(Timer, StopEndsExpiries) {
  Counter counter;
  Timer timer(&count_expiry, &counter);
  timer.start(5, 5);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  timer.stop();
  const int at_stop = counter.expiries.load();  // stop() waited for a running expiry
  sleep_ms(50);
  EXPECT_EQ(counter.expiries.load(), at_stop);
}

TEST(Timer, RestartResetsStatusAndNegativeDurationOnlyStops) {
  Counter counter;
  Timer timer(&count_expiry, &counter);
  timer.start(0, 0);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  timer.start(-1, 5);  // stopped, count reset, never fires
  EXPECT_EQ(timer.status(), 0u);
  sleep_ms(50);
  EXPECT_EQ(counter.expiries.load(), 1);
}

TEST(Timer, ExpiryFunctionMayRestartItsOwnTimer) {
  Counter counter;
  counter.restarts_left = 3;
  Timer timer(
      [](Timer* self) {
        auto* c = static_cast<Counter*>(self->user_data());
        ++c->expiries;
        if (c->restarts_left-- > 0) {
          self->start(1, 0);
        } else {
          c->fired.give();
        }
      },
      &counter);
  timer.start(1, 0);
  ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  EXPECT_EQ(counter.expiries.load(), 4);
}

TEST(Timer, ManyTimersFireIndependently) {
  constexpr int kTimers = 8;
  Counter counters[kTimers];
  Timer timers[kTimers] = {
      {&count_expiry, &counters[0]}, {&count_expiry, &counters[1]}, {&count_expiry, &counters[2]},
      {&count_expiry, &counters[3]}, {&count_expiry, &counters[4]}, {&count_expiry, &counters[5]},
      {&count_expiry, &counters[6]}, {&count_expiry, &counters[7]},
  };
  for (int i = 0; i < kTimers; ++i)
    timers[i].start(5 * (kTimers - i), 0);
  for (auto& counter : counters)
    ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  for (auto& counter : counters)
    EXPECT_EQ(counter.expiries.load(), 1);
}

TEST(Timer, DestroyingATimerWhileItFiresIsSafe) {
  // Under AddressSanitizer this catches an expiry touching a destroyed Timer.
  for (int round = 0; round < 50; ++round) {
    Counter counter;
    Timer timer(&count_expiry, &counter);
    timer.start(0, 1);
    ASSERT_EQ(counter.fired.take(kGenerous), kOk);
  }
}

}  // namespace
}  // namespace spindle::os
