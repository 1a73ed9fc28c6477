// Mutex and Semaphore: exclusion, recursion, limits and timeouts.
#include "spindle/os/sync.hpp"

#include <gtest/gtest.h>

#include <atomic>

#include "spindle/os/thread.hpp"

namespace spindle::os {
namespace {

constexpr std::size_t kStack = 4096;

TEST(Mutex, ExcludesOtherThreads) {
  struct Shared {
    Mutex mutex;
    long counter = 0;  // deliberately not atomic: the mutex must protect it
  } shared;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 20000;
  Thread threads[kThreads];
  for (auto& thread : threads) {
    ASSERT_EQ(thread.start(
                  [](void* arg) {
                    auto* s = static_cast<Shared*>(arg);
                    for (int i = 0; i < kIncrements; ++i) {
                      const LockGuard lock(s->mutex);
                      ++s->counter;
                    }
                  },
                  &shared, "incr", kStack, 0),
              kOk);
  }
  for (auto& thread : threads)
    ASSERT_EQ(thread.join(), kOk);
  EXPECT_EQ(shared.counter, long{kThreads} * kIncrements);
}

TEST(Mutex, OwnerMayLockAgainAndOthersGetItAfterFullRelease) {
  struct Shared {
    Mutex mutex;
    std::atomic<bool> acquired{false};
  } shared;
  shared.mutex.lock();
  shared.mutex.lock();  // would deadlock if not recursive, like k_mutex
  Thread other;
  ASSERT_EQ(other.start(
                [](void* arg) {
                  auto* s = static_cast<Shared*>(arg);
                  const LockGuard lock(s->mutex);
                  s->acquired = true;
                },
                &shared, "other", kStack, 0),
            kOk);
  shared.mutex.unlock();
  sleep_ms(20);
  EXPECT_FALSE(shared.acquired.load());  // still held once
  shared.mutex.unlock();
  ASSERT_EQ(other.join(), kOk);
  EXPECT_TRUE(shared.acquired.load());
}

TEST(Semaphore, TakeWithNoWaitOnZeroCountTimesOut) {
  Semaphore semaphore(0, 1);
  EXPECT_EQ(semaphore.take(kNoWait), Error::kTimeout);
}

TEST(Semaphore, TakeTimesOutOnlyAfterTheTimeout) {
  Semaphore semaphore(0, 1);
  const std::int64_t start_us = uptime_us();
  EXPECT_EQ(semaphore.take(Timeout::millis(30)), Error::kTimeout);
  EXPECT_GE(uptime_us() - start_us, 30'000);
}

TEST(Semaphore, CountNeverExceedsTheLimit) {
  Semaphore semaphore(0, 3);
  for (int i = 0; i < 5; ++i)
    semaphore.give();
  EXPECT_EQ(semaphore.count(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(semaphore.take(kNoWait), kOk);
  EXPECT_EQ(semaphore.take(kNoWait), Error::kTimeout);
  EXPECT_EQ(semaphore.count(), 0u);
}

TEST(Semaphore, InitialCountIsClampedAndZeroLimitActsAsOne) {
  Semaphore clamped(10, 2);
  EXPECT_EQ(clamped.count(), 2u);
  Semaphore binary(1, 0);
  EXPECT_EQ(binary.count(), 1u);
  binary.give();
  EXPECT_EQ(binary.count(), 1u);
}

TEST(Semaphore, GiveWakesAThreadWaitingForever) {
  struct Shared {
    Semaphore semaphore{0, 1};
    Status result = Error::kTimeout;
  } shared;
  Thread waiter;
  ASSERT_EQ(waiter.start(
                [](void* arg) {
                  auto* s = static_cast<Shared*>(arg);
                  s->result = s->semaphore.take(kForever);
                },
                &shared, "waiter", kStack, 0),
            kOk);
  sleep_ms(10);
  shared.semaphore.give();
  ASSERT_EQ(waiter.join(), kOk);
  EXPECT_EQ(shared.result, kOk);
}

TEST(Semaphore, EveryGiveIsTakenExactlyOnceAcrossThreads) {
  struct Shared {
    Semaphore semaphore{0, kSemaphoreMaxLimit};
    std::atomic<int> taken{0};
  } shared;
  constexpr int kTakers = 3;
  constexpr int kGives = 3000;
  Thread takers[kTakers];
  for (auto& taker : takers) {
    ASSERT_EQ(taker.start(
                  [](void* arg) {
                    auto* s = static_cast<Shared*>(arg);
                    while (s->taken.load() < kGives) {
                      if (s->semaphore.take(Timeout::millis(20)).ok()) ++s->taken;
                    }
                  },
                  &shared, "taker", kStack, 0),
              kOk);
  }
  for (int i = 0; i < kGives; ++i)
    shared.semaphore.give();
  for (auto& taker : takers)
    ASSERT_EQ(taker.join(), kOk);
  EXPECT_EQ(shared.taken.load(), kGives);
  EXPECT_EQ(shared.semaphore.count(), 0u);
}

}  // namespace
}  // namespace spindle::os
