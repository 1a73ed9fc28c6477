// MessageQueue: FIFO order, full and empty results, purge, and lossless hand-over between
// threads.
#include "spindle/os/msgq.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>

#include "spindle/os/thread.hpp"

namespace spindle::os {
namespace {

constexpr std::size_t kStack = 4096;

struct Sample {
  std::uint16_t producer;
  std::uint32_t sequence;
  std::array<std::int16_t, 3> axes;
};

TEST(MessageQueue, DeliversItemsInFifoOrderAcrossTheRingWrap) {
  MessageQueue<int, 4> queue;
  int next_put = 0;
  int next_get = 0;
  // Uneven put/get batches walk the ring's head around its end several times.
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i)
      ASSERT_EQ(queue.put(next_put++, kNoWait), kOk);
    for (int i = 0; i < 2; ++i) {
      int item = -1;
      ASSERT_EQ(queue.get(&item, kNoWait), kOk);
      EXPECT_EQ(item, next_get++);
    }
    while (queue.count() > 1) {
      int item = -1;
      ASSERT_EQ(queue.get(&item, kNoWait), kOk);
      EXPECT_EQ(item, next_get++);
    }
  }
}

TEST(MessageQueue, CopiesWholeItems) {
  MessageQueue<Sample, 2> queue;
  const Sample in{7, 123456, {-1, 2, -3}};
  ASSERT_EQ(queue.put(in, kNoWait), kOk);
  Sample out{};
  ASSERT_EQ(queue.get(&out, kNoWait), kOk);
  EXPECT_EQ(out.producer, 7);
  EXPECT_EQ(out.sequence, 123456u);
  EXPECT_EQ(out.axes, in.axes);
}

TEST(MessageQueue, PutOnFullQueueWithNoWaitIsFull) {
  MessageQueue<int, 2> queue;
  ASSERT_EQ(queue.put(1, kNoWait), kOk);
  ASSERT_EQ(queue.put(2, kNoWait), kOk);
  EXPECT_EQ(queue.put(3, kNoWait), Error::kFull);
  EXPECT_EQ(queue.count(), 2u);
}

TEST(MessageQueue, PutOnFullQueueTimesOutAfterWaiting) {
  MessageQueue<int, 1> queue;
  ASSERT_EQ(queue.put(1, kNoWait), kOk);
  const std::int64_t start_us = uptime_us();
  EXPECT_EQ(queue.put(2, Timeout::millis(20)), Error::kTimeout);
  EXPECT_GE(uptime_us() - start_us, 20'000);
  int item = 0;
  ASSERT_EQ(queue.get(&item, kNoWait), kOk);
  EXPECT_EQ(item, 1);  // the timed-out put left nothing behind
  EXPECT_EQ(queue.count(), 0u);
}

TEST(MessageQueue, GetOnEmptyQueueTimesOut) {
  MessageQueue<int, 2> queue;
  int item = 5;
  EXPECT_EQ(queue.get(&item, kNoWait), Error::kTimeout);
  const std::int64_t start_us = uptime_us();
  EXPECT_EQ(queue.get(&item, Timeout::millis(20)), Error::kTimeout);
  EXPECT_GE(uptime_us() - start_us, 20'000);
  EXPECT_EQ(item, 5);
}

TEST(MessageQueue, GetIntoNullIsInvalidValue) {
  MessageQueue<int, 2> queue;
  ASSERT_EQ(queue.put(1, kNoWait), kOk);
  EXPECT_EQ(queue.get(nullptr, kNoWait), Error::kInvalidValue);
  EXPECT_EQ(queue.count(), 1u);
}

TEST(MessageQueue, PurgeDropsItemsAndUnblocksAWaitingWriter) {
  struct Shared {
    MessageQueue<int, 2> queue;
    Status result = Error::kTimeout;
  } shared;
  ASSERT_EQ(shared.queue.put(1, kNoWait), kOk);
  ASSERT_EQ(shared.queue.put(2, kNoWait), kOk);
  Thread writer;
  ASSERT_EQ(writer.start(
                [](void* arg) {
                  auto* s = static_cast<Shared*>(arg);
                  s->result = s->queue.put(3, kForever);
                },
                &shared, "writer", kStack, 0),
            kOk);
  sleep_ms(10);
  shared.queue.purge();
  ASSERT_EQ(writer.join(), kOk);
  EXPECT_EQ(shared.result, kOk);
  int item = 0;
  ASSERT_EQ(shared.queue.get(&item, kNoWait), kOk);
  EXPECT_EQ(item, 3);
  EXPECT_EQ(shared.queue.get(&item, kNoWait), Error::kTimeout);
}

TEST(MessageQueue, ProducersAndConsumerAcrossThreadsLoseNothing) {
  constexpr int kProducers = 3;
  constexpr std::uint32_t kPerProducer = 5000;
  struct Producer {
    MessageQueue<Sample, 8>* queue;
    std::uint16_t id;
    Status status = kOk;
  };
  MessageQueue<Sample, 8> queue;  // small, so producers block on a full queue often
  Producer producers[kProducers];
  Thread threads[kProducers];
  for (int p = 0; p < kProducers; ++p) {
    producers[p] = Producer{&queue, static_cast<std::uint16_t>(p)};
    ASSERT_EQ(threads[p].start(
                  [](void* arg) {
                    auto* self = static_cast<Producer*>(arg);
                    for (std::uint32_t i = 0; i < kPerProducer && self->status.ok(); ++i) {
                      self->status = self->queue->put(Sample{self->id, i, {}}, kForever);
                    }
                  },
                  &producers[p], "producer", kStack, 0),
              kOk);
  }
  std::uint32_t next[kProducers] = {};
  for (std::uint32_t received = 0; received < kProducers * kPerProducer; ++received) {
    Sample sample{};
    // A generous bound instead of kForever, so a lost item fails the test, not the run.
    ASSERT_EQ(queue.get(&sample, Timeout::millis(10'000)), kOk) << "after " << received;
    ASSERT_LT(sample.producer, kProducers);
    ASSERT_EQ(sample.sequence, next[sample.producer]) << "producer " << sample.producer;
    ++next[sample.producer];
  }
  for (auto& thread : threads)
    ASSERT_EQ(thread.join(), kOk);
  for (const auto& producer : producers)
    EXPECT_EQ(producer.status, kOk);
  EXPECT_EQ(queue.count(), 0u);
}

}  // namespace
}  // namespace spindle::os
