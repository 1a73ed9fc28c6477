// Work queues: order and thread of execution, the pending-item no-op, delays, cancel,
// drain, and reaching the owning object from a handler.
#include "spindle/os/work.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace spindle::os {
namespace {

constexpr std::size_t kStack = 4096;
constexpr Timeout kGenerous = Timeout::millis(10'000);

// A work item that records its runs. A class with a virtual function, so it is not
// standard-layout: SPINDLE_CONTAINER_OF must work for such owners too.
class Recorder {
 public:
  Recorder(int id, std::vector<int>* log, Mutex* mutex, Semaphore* done)
      : id_(id), log_(log), mutex_(mutex), done_(done) {}
  virtual ~Recorder() = default;

  Work work{&Recorder::handle};
  std::atomic<int> runs{0};
  std::atomic<std::thread::id> thread{};

 private:
  static void handle(Work* item) {
    Recorder* self = SPINDLE_CONTAINER_OF(item, Recorder, work);
    {
      const LockGuard lock(*self->mutex_);
      self->log_->push_back(self->id_);
    }
    self->thread = std::this_thread::get_id();
    ++self->runs;
    if (self->done_ != nullptr) self->done_->give();
  }

  int id_;
  std::vector<int>* log_;
  Mutex* mutex_;
  Semaphore* done_;
};

// Holds the queue's thread until released, so submissions pile up behind it.
struct Gate {
  Work work{&Gate::handle};
  Semaphore entered{0, 1};
  Semaphore release{0, 1};

  static void handle(Work* item) {
    Gate* self = SPINDLE_CONTAINER_OF(item, Gate, work);
    self->entered.give();
    (void)self->release.take(kForever);
  }
};

struct Delayed {
  DelayableWork work{&Delayed::handle};
  std::atomic<int> runs{0};
  std::atomic<std::int64_t> ran_at_us{0};
  Semaphore done{0, kSemaphoreMaxLimit};

  static void handle(DelayableWork* item) {
    Delayed* self = SPINDLE_CONTAINER_OF(item, Delayed, work);
    self->ran_at_us = uptime_us();
    ++self->runs;
    self->done.give();
  }
};

class WorkQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(queue_.start("workq", kStack, 0), kOk); }
  void TearDown() override { (void)queue_.drain_and_stop(); }

  WorkQueue queue_;
};

TEST_F(WorkQueueTest, RunsItemsInSubmissionOrderOnTheQueueThread) {
  std::vector<int> log;
  Mutex mutex;
  Semaphore done(0, 1);
  Gate gate;
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  Recorder r0(0, &log, &mutex, nullptr), r1(1, &log, &mutex, nullptr), r2(2, &log, &mutex, nullptr),
      r3(3, &log, &mutex, nullptr), r4(4, &log, &mutex, &done);
  for (Recorder* r : {&r0, &r1, &r2, &r3, &r4})
    ASSERT_EQ(queue_.submit(&r->work), kOk);
  gate.release.give();
  ASSERT_EQ(done.take(kGenerous), kOk);
  {
    const LockGuard lock(mutex);
    EXPECT_EQ(log, (std::vector<int>{0, 1, 2, 3, 4}));
  }
  for (Recorder* r : {&r0, &r1, &r2, &r3, &r4}) {
    EXPECT_EQ(r->thread.load(), r0.thread.load());
    EXPECT_NE(r->thread.load(), std::this_thread::get_id());
  }
}

TEST_F(WorkQueueTest, SubmittingAPendingItemIsANoOp) {
  std::vector<int> log;
  Mutex mutex;
  Recorder item(7, &log, &mutex, nullptr);
  Gate gate;
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(queue_.submit(&item.work), kOk);
  gate.release.give();
  ASSERT_EQ(queue_.drain_and_stop(), kOk);
  EXPECT_EQ(item.runs.load(), 1);
}

TEST_F(WorkQueueTest, ItemSubmittedWhileItsHandlerRunsRunsAgain) {
  struct Resubmitter {
    WorkQueue* queue;
    Work work{&Resubmitter::handle};
    std::atomic<int> runs{0};
    static void handle(Work* item) {
      Resubmitter* self = SPINDLE_CONTAINER_OF(item, Resubmitter, work);
      if (++self->runs == 1) {
        EXPECT_EQ(self->queue->submit(&self->work), kOk);
      }
    }
  } item{&queue_};
  ASSERT_EQ(queue_.submit(&item.work), kOk);
  ASSERT_EQ(queue_.drain_and_stop(), kOk);  // the resubmission is drained too
  EXPECT_EQ(item.runs.load(), 2);
}

TEST_F(WorkQueueTest, DelayableWorkRunsOnceAfterItsDelay) {
  Delayed item;
  const std::int64_t scheduled_at_us = uptime_us();
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(50)), kOk);
  ASSERT_EQ(item.done.take(kGenerous), kOk);
  EXPECT_GE(item.ran_at_us.load() - scheduled_at_us, 50'000);
  sleep_ms(20);
  EXPECT_EQ(item.runs.load(), 1);
}

TEST_F(WorkQueueTest, ScheduleWithNoWaitRunsAtOnce) {
  Delayed item;
  ASSERT_EQ(queue_.schedule(&item.work, kNoWait), kOk);
  ASSERT_EQ(item.done.take(kGenerous), kOk);
  EXPECT_EQ(item.runs.load(), 1);
}

TEST_F(WorkQueueTest, CancelStopsDelayableWork) {
  Delayed cancelled;
  Delayed later;
  Gate gate;  // holds the queue, so the short delay cannot run out before the cancel
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  ASSERT_EQ(queue_.schedule(&cancelled.work, Timeout::millis(30)), kOk);
  ASSERT_EQ(queue_.schedule(&later.work, Timeout::millis(120)), kOk);
  ASSERT_EQ(queue_.cancel(&cancelled.work), kOk);
  gate.release.give();
  // One thread runs both in deadline order: once `later` has run, `cancelled` would have.
  ASSERT_EQ(later.done.take(kGenerous), kOk);
  EXPECT_EQ(cancelled.runs.load(), 0);
}

TEST_F(WorkQueueTest, CancelTakesAnItemOffTheRunQueue) {
  Gate gate;
  Delayed item;
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  ASSERT_EQ(queue_.schedule(&item.work, kNoWait), kOk);  // queued behind the gate
  ASSERT_EQ(queue_.cancel(&item.work), kOk);
  gate.release.give();
  ASSERT_EQ(queue_.drain_and_stop(), kOk);
  EXPECT_EQ(item.runs.load(), 0);
}

TEST_F(WorkQueueTest, ReschedulingMovesTheDeadline) {
  Delayed item;
  Delayed marker;
  Gate gate;  // holds the queue, so the first deadline cannot pass before the move
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(20)), kOk);
  ASSERT_EQ(queue_.schedule(&marker.work, Timeout::millis(100)), kOk);
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(400)), kOk);  // later now
  gate.release.give();
  ASSERT_EQ(marker.done.take(kGenerous), kOk);
  EXPECT_EQ(item.runs.load(), 0);  // its first deadline passed without a run
  ASSERT_EQ(item.done.take(kGenerous), kOk);
  EXPECT_GT(item.ran_at_us.load(), marker.ran_at_us.load());
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(10'000)), kOk);
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(10)), kOk);  // sooner
  ASSERT_EQ(item.done.take(kGenerous), kOk);
  EXPECT_EQ(item.runs.load(), 2);
}

TEST_F(WorkQueueTest, DrainRunsQueuedWorkThenRefusesNewWork) {
  std::vector<int> log;
  Mutex mutex;
  Gate gate;
  Recorder a(1, &log, &mutex, nullptr), b(2, &log, &mutex, nullptr);
  ASSERT_EQ(queue_.submit(&gate.work), kOk);
  ASSERT_EQ(gate.entered.take(kGenerous), kOk);
  ASSERT_EQ(queue_.submit(&a.work), kOk);
  ASSERT_EQ(queue_.submit(&b.work), kOk);
  std::thread releaser([&] {
    sleep_ms(20);
    gate.release.give();
  });
  ASSERT_EQ(queue_.drain_and_stop(), kOk);
  releaser.join();
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(queue_.submit(&a.work), Error::kInvalidState);
  EXPECT_EQ(queue_.drain_and_stop(), Error::kInvalidState);
  // Stopped queues start again.
  ASSERT_EQ(queue_.start("again", kStack, 0), kOk);
  ASSERT_EQ(queue_.submit(&a.work), kOk);
  ASSERT_EQ(queue_.drain_and_stop(), kOk);
  EXPECT_EQ(a.runs.load(), 2);
}

TEST_F(WorkQueueTest, DrainDropsDelaysThatHaveNotRunOut) {
  Delayed item;
  ASSERT_EQ(queue_.schedule(&item.work, Timeout::millis(60'000)), kOk);
  ASSERT_EQ(queue_.drain_and_stop(), kOk);  // does not wait a minute
  ASSERT_EQ(queue_.start("again", kStack, 0), kOk);
  ASSERT_EQ(queue_.drain_and_stop(), kOk);
  EXPECT_EQ(item.runs.load(), 0);
}

TEST_F(WorkQueueTest, DrainFromTheQueuesOwnThreadIsInvalidState) {
  struct SelfDrain {
    WorkQueue* queue;
    Work work{&SelfDrain::handle};
    Status result = kOk;
    Semaphore done{0, 1};
    static void handle(Work* item) {
      SelfDrain* self = SPINDLE_CONTAINER_OF(item, SelfDrain, work);
      self->result = self->queue->drain_and_stop();
      self->done.give();
    }
  } item{&queue_};
  ASSERT_EQ(queue_.submit(&item.work), kOk);
  ASSERT_EQ(item.done.take(kGenerous), kOk);
  EXPECT_EQ(item.result, Error::kInvalidState);
}

TEST(WorkQueue, MisuseIsRefused) {
  WorkQueue queue;
  Delayed item;
  Work plain{[](Work*) {}};
  EXPECT_EQ(queue.submit(&plain), Error::kInvalidState);  // not started
  EXPECT_EQ(queue.schedule(&item.work, kNoWait), Error::kInvalidState);
  EXPECT_EQ(queue.drain_and_stop(), Error::kInvalidState);
  ASSERT_EQ(queue.start("misuse", kStack, 0), kOk);
  EXPECT_EQ(queue.start("twice", kStack, 0), Error::kInvalidState);
  EXPECT_EQ(queue.submit(nullptr), Error::kInvalidValue);
  EXPECT_EQ(queue.schedule(nullptr, kNoWait), Error::kInvalidValue);
  EXPECT_EQ(queue.schedule(&item.work, kForever), Error::kInvalidValue);
  EXPECT_EQ(queue.cancel(nullptr), Error::kInvalidValue);
  EXPECT_EQ(queue.drain_and_stop(), kOk);
}

TEST(WorkQueue, DestroyingARunningQueueDrainsIt) {
  std::vector<int> log;
  Mutex mutex;
  Recorder item(3, &log, &mutex, nullptr);
  {
    WorkQueue queue;
    ASSERT_EQ(queue.start("scoped", kStack, 0), kOk);
    ASSERT_EQ(queue.submit(&item.work), kOk);
  }
  EXPECT_EQ(item.runs.load(), 1);
}

}  // namespace
}  // namespace spindle::os
