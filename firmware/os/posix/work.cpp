// Work queues: a Thread per queue running its items, woken through a binary Semaphore.
//
// All queue state sits under one process-wide lock, as Zephyr's work.c does with its one
// spinlock: an item can move between queues (submitted to one, scheduled on another) and
// its state must not be guarded by two different locks.
#include <limits>

#include "native_private.hpp"
#include "spindle/os/work.hpp"

namespace spindle::os {
namespace {

pthread_mutex_t g_work_lock = PTHREAD_MUTEX_INITIALIZER;
// The queue whose thread this is, so a queue can tell its own handlers from other callers.
thread_local WorkQueue* t_current_queue = nullptr;

// How long until `due_us`, rounded up so the queue never wakes before the deadline.
Timeout until(std::int64_t due_us, std::int64_t now_us) {
  return Timeout::millis((due_us - now_us + 999) / 1000);
}

}  // namespace

WorkQueue::~WorkQueue() {
  bool running = false;
  {
    const posix::NativeLock lock(&g_work_lock);
    running = running_ && !draining_;
  }
  if (running) static_cast<void>(drain_and_stop());
}

Status WorkQueue::start(const char* name, std::size_t stack_bytes, int priority) {
  {
    const posix::NativeLock lock(&g_work_lock);
    if (running_) return Error::kInvalidState;
    running_ = true;
    draining_ = false;
  }
  const Status started = thread_.start(&WorkQueue::thread_main, this, name, stack_bytes, priority);
  if (!started.ok()) {
    const posix::NativeLock lock(&g_work_lock);
    running_ = false;
    // Items submitted in the meantime will never run; take them off so they can be
    // submitted elsewhere.
    while (head_ != nullptr)
      unqueue_locked(head_);
    while (delayed_ != nullptr)
      undelay_locked(delayed_);
  }
  return started;
}

Status WorkQueue::check_accepting_locked() const {
  if (!running_) return Error::kInvalidState;
  if (draining_ && t_current_queue != this) return Error::kInvalidState;
  return kOk;
}

void WorkQueue::enqueue_locked(Work* work) {
  work->queue_ = this;
  work->next_ = nullptr;
  if (tail_ == nullptr) {
    head_ = work;
  } else {
    tail_->next_ = work;
  }
  tail_ = work;
}

void WorkQueue::unqueue_locked(Work* work) {
  WorkQueue* const queue = work->queue_;
  if (queue == nullptr) return;
  Work* previous = nullptr;
  for (Work* item = queue->head_; item != nullptr; previous = item, item = item->next_) {
    if (item != work) continue;
    (previous == nullptr ? queue->head_ : previous->next_) = work->next_;
    if (queue->tail_ == work) queue->tail_ = previous;
    break;
  }
  work->queue_ = nullptr;
  work->next_ = nullptr;
}

void WorkQueue::undelay_locked(DelayableWork* work) {
  WorkQueue* const queue = work->delay_queue_;
  if (queue == nullptr) return;
  for (DelayableWork** link = &queue->delayed_; *link != nullptr; link = &(*link)->next_delayed_) {
    if (*link == work) {
      *link = work->next_delayed_;
      break;
    }
  }
  work->delay_queue_ = nullptr;
  work->next_delayed_ = nullptr;
}

Status WorkQueue::submit(Work* work) {
  if (work == nullptr) return Error::kInvalidValue;
  {
    const posix::NativeLock lock(&g_work_lock);
    SPINDLE_TRY(check_accepting_locked());
    if (work->queue_ != nullptr) return kOk;  // already queued: one run covers both
    enqueue_locked(work);
  }
  wakeup_.give();
  return kOk;
}

Status WorkQueue::schedule(DelayableWork* work, Timeout delay) {
  if (work == nullptr || delay.is_forever()) return Error::kInvalidValue;
  {
    const posix::NativeLock lock(&g_work_lock);
    SPINDLE_TRY(check_accepting_locked());
    undelay_locked(work);
    if (delay.is_no_wait()) {
      if (work->queue_ == nullptr) enqueue_locked(work);
    } else {
      work->due_us_ = uptime_us() + delay.ms * 1000;
      work->delay_queue_ = this;
      work->next_delayed_ = delayed_;
      delayed_ = work;
    }
  }
  wakeup_.give();  // the queue recomputes its next deadline
  return kOk;
}

Status WorkQueue::cancel(DelayableWork* work) {
  if (work == nullptr) return Error::kInvalidValue;
  const posix::NativeLock lock(&g_work_lock);
  undelay_locked(work);
  unqueue_locked(work);
  return kOk;
}

Status WorkQueue::drain_and_stop() {
  {
    const posix::NativeLock lock(&g_work_lock);
    if (!running_ || draining_ || t_current_queue == this) return Error::kInvalidState;
    draining_ = true;
  }
  wakeup_.give();
  SPINDLE_TRY(thread_.join());
  const posix::NativeLock lock(&g_work_lock);
  running_ = false;
  draining_ = false;
  return kOk;
}

void WorkQueue::thread_main(void* self) {
  static_cast<WorkQueue*>(self)->run_loop();
}

void WorkQueue::run_loop() {
  t_current_queue = this;
  posix::require_ok(pthread_mutex_lock(&g_work_lock), "pthread_mutex_lock");
  for (;;) {
    // Items whose delay has passed join the tail of the run queue.
    const std::int64_t now = uptime_us();
    std::int64_t next_due = std::numeric_limits<std::int64_t>::max();
    for (DelayableWork* item = delayed_; item != nullptr;) {
      DelayableWork* const next = item->next_delayed_;
      if (item->due_us_ <= now) {
        undelay_locked(item);
        if (item->queue_ == nullptr) enqueue_locked(item);
      } else if (item->due_us_ < next_due) {
        next_due = item->due_us_;
      }
      item = next;
    }

    if (head_ != nullptr) {
      Work* const work = head_;
      unqueue_locked(work);  // before the handler runs, so it may be submitted again
      posix::require_ok(pthread_mutex_unlock(&g_work_lock), "pthread_mutex_unlock");
      work->handler_(work);  // `work` may be gone once this returns
      posix::require_ok(pthread_mutex_lock(&g_work_lock), "pthread_mutex_lock");
      continue;
    }
    if (draining_) break;

    const Timeout wait =
        next_due == std::numeric_limits<std::int64_t>::max() ? kForever : until(next_due, now);
    posix::require_ok(pthread_mutex_unlock(&g_work_lock), "pthread_mutex_unlock");
    static_cast<void>(wakeup_.take(wait));  // a timeout is just the next deadline
    posix::require_ok(pthread_mutex_lock(&g_work_lock), "pthread_mutex_lock");
  }
  // Delays that have not run out are dropped: their queue is going away.
  while (delayed_ != nullptr)
    undelay_locked(delayed_);
  posix::require_ok(pthread_mutex_unlock(&g_work_lock), "pthread_mutex_unlock");
  t_current_queue = nullptr;
}

}  // namespace spindle::os
