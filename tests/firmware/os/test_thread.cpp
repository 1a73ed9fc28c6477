// Threads: run the entry with its argument, join, refuse misuse, honour names and stacks.
#include "spindle/os/thread.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <string>

#include "spindle/os/sync.hpp"

namespace spindle::os {
namespace {

constexpr std::size_t kStack = 4096;

TEST(Thread, RunsEntryWithItsArgumentAndJoins) {
  std::atomic<int> value{0};
  Thread thread;
  ASSERT_EQ(thread.start([](void* arg) { static_cast<std::atomic<int>*>(arg)->store(42); }, &value,
                         "worker", kStack, 5),
            kOk);
  ASSERT_EQ(thread.join(), kOk);
  EXPECT_EQ(value.load(), 42);
}

TEST(Thread, JoinBeforeStartIsInvalidState) {
  Thread thread;
  EXPECT_EQ(thread.join(), Error::kInvalidState);
}

TEST(Thread, JoinTwiceIsInvalidState) {
  Thread thread;
  ASSERT_EQ(thread.start([](void*) {}, nullptr, "once", kStack, 0), kOk);
  ASSERT_EQ(thread.join(), kOk);
  EXPECT_EQ(thread.join(), Error::kInvalidState);
}

TEST(Thread, NullEntryIsInvalidValue) {
  Thread thread;
  EXPECT_EQ(thread.start(nullptr, nullptr, "none", kStack, 0), Error::kInvalidValue);
  EXPECT_EQ(thread.join(), Error::kInvalidState);
}

TEST(Thread, StartingARunningThreadIsInvalidState) {
  Semaphore release(0, 1);
  Thread thread;
  ASSERT_EQ(thread.start([](void* arg) { (void)static_cast<Semaphore*>(arg)->take(kForever); },
                         &release, "blocked", kStack, 0),
            kOk);
  EXPECT_EQ(thread.start([](void*) {}, nullptr, "again", kStack, 0), Error::kInvalidState);
  release.give();
  EXPECT_EQ(thread.join(), kOk);
}

TEST(Thread, CanBeStartedAgainAfterJoin) {
  std::atomic<int> runs{0};
  Thread thread;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(thread.start([](void* arg) { ++*static_cast<std::atomic<int>*>(arg); }, &runs,
                           "again", kStack, 0),
              kOk);
    ASSERT_EQ(thread.join(), kOk);
  }
  EXPECT_EQ(runs.load(), 3);
}

struct SelfJoin {
  Thread thread;
  Semaphore started{0, 1};
  Status result = kOk;
};

TEST(Thread, JoiningItselfIsInvalidState) {
  SelfJoin context;
  ASSERT_EQ(context.thread.start(
                [](void* arg) {
                  auto* self = static_cast<SelfJoin*>(arg);
                  (void)self->started.take(kForever);  // start() has returned
                  self->result = self->thread.join();
                },
                &context, "selfjoin", kStack, 0),
            kOk);
  context.started.give();
  ASSERT_EQ(context.thread.join(), kOk);
  EXPECT_EQ(context.result, Error::kInvalidState);
}

TEST(Thread, NameIsSetBeforeTheEntryRunsAndCutTo15Characters) {
  std::string seen[2];
  Thread thread;
  const auto read_name = [](void* arg) {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    *static_cast<std::string*>(arg) = name;
  };
  ASSERT_EQ(thread.start(read_name, &seen[0], "sensor", kStack, 0), kOk);
  ASSERT_EQ(thread.join(), kOk);
  ASSERT_EQ(thread.start(read_name, &seen[1], "a_name_longer_than_fifteen", kStack, 0), kOk);
  ASSERT_EQ(thread.join(), kOk);
  EXPECT_EQ(seen[0], "sensor");
  EXPECT_EQ(seen[1], "a_name_longer_t");
}

TEST(Thread, StackRequestsAboveTheHostDefaultAreHonoured) {
  constexpr std::size_t kLarge = std::size_t{64} << 20;
  std::size_t stack = 0;
  Thread thread;
  ASSERT_EQ(thread.start(
                [](void* arg) {
                  pthread_attr_t attr;
                  pthread_getattr_np(pthread_self(), &attr);
                  pthread_attr_getstacksize(&attr, static_cast<std::size_t*>(arg));
                  pthread_attr_destroy(&attr);
                },
                &stack, "bigstack", kLarge, 0),
            kOk);
  ASSERT_EQ(thread.join(), kOk);
  EXPECT_GE(stack, kLarge);
}

TEST(Thread, DestroyingAnUnjoinedThreadLetsItFinish) {
  static Semaphore finished(0, 1);
  {
    Thread thread;
    ASSERT_EQ(thread.start(
                  [](void*) {
                    sleep_ms(20);
                    finished.give();
                  },
                  nullptr, "detached", kStack, 0),
              kOk);
  }
  EXPECT_EQ(finished.take(Timeout::millis(10'000)), kOk);
}

}  // namespace
}  // namespace spindle::os
