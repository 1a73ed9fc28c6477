// Work items and work queues (Zephyr: k_work, k_work_delayable, k_work_q).
//
// A work item is a handler plus queueing state, embedded in the object it works for; the
// handler finds that object with SPINDLE_CONTAINER_OF. A work queue is a thread that runs
// submitted items one at a time, in submission order. Callbacks (timer expiry, receive
// paths) submit work instead of doing it, so nothing heavy runs in them.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

#include "spindle/os/kernel.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/os/thread.hpp"
#include "spindle/status.hpp"

namespace spindle::os {

class WorkQueue;

// The object that holds `*member_pointer` as its data member `member`: how a handler gets
// from the Work it was handed back to its owner. Written with a pointer-to-member instead
// of offsetof because offsetof is only defined for standard-layout owners, and owners with
// virtual functions or with both public and private data are not. On the Itanium C++ ABI
// (GCC and Clang on every target Spindle builds for) a pointer to data member is the
// member's byte offset.
template <typename Owner, typename Member>
Owner* container_of(Member* member_pointer, Member Owner::*member) {
  static_assert(sizeof(member) == sizeof(std::ptrdiff_t), "needs the Itanium C++ ABI");
  const auto offset = std::bit_cast<std::ptrdiff_t>(member);
  // Through void*: a direct cast from std::byte* trips -Wcast-align on strict-alignment MCUs.
  return static_cast<Owner*>(
      static_cast<void*>(reinterpret_cast<std::byte*>(member_pointer) - offset));
}

// Zephyr's CONTAINER_OF(ptr, type, field), type-checked: `ptr` must point to the type of
// `type::member`.
#define SPINDLE_CONTAINER_OF(ptr, type, member) ::spindle::os::container_of((ptr), &type::member)

// A unit of work for a WorkQueue. Submitting an item that is already queued and has not
// started running is a no-op, so a burst of events causes one run, not a backlog; an item
// submitted while its handler runs is queued again and runs once more.
struct Work {
 public:
  explicit Work(void (*handler)(Work*)) : handler_(handler) {}
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

 private:
  friend class WorkQueue;

  void (*handler_)(Work*);
  // Queue state, guarded by the backend's work lock.
  WorkQueue* queue_ = nullptr;  // the queue whose run list holds this item, if any
  Work* next_ = nullptr;
};

// A work item that is submitted after a delay. The handler receives the DelayableWork.
struct DelayableWork : private Work {
 public:
  explicit DelayableWork(void (*handler)(DelayableWork*))
      : Work(&DelayableWork::run), delayable_handler_(handler) {}
  DelayableWork(const DelayableWork&) = delete;
  DelayableWork& operator=(const DelayableWork&) = delete;

 private:
  friend class WorkQueue;

  static void run(Work* work) {
    auto* self = static_cast<DelayableWork*>(work);
    self->delayable_handler_(self);
  }

  void (*delayable_handler_)(DelayableWork*);
  // Delay state, guarded by the backend's work lock.
  WorkQueue* delay_queue_ = nullptr;  // the queue whose delay list holds this item
  DelayableWork* next_delayed_ = nullptr;
  std::int64_t due_us_ = 0;  // uptime_us() at which the item is submitted
};

class WorkQueue {
 public:
  WorkQueue() = default;
  ~WorkQueue();  // drains and stops a running queue
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Starts the queue's thread (see Thread::start for the parameters).
  // Errors: kInvalidState if the queue is running; kUnavailable if the OS refuses the thread.
  Status start(const char* name, std::size_t stack_bytes, int priority);

  // Queues `work` at the tail unless it is already queued (then nothing changes: kOk).
  // Callable from any thread and from timer expiry functions.
  // Errors: kInvalidValue if `work` is null; kInvalidState if the queue is not running, or
  // is draining and the caller is not one of its own work items (chains may finish).
  Status submit(Work* work);

  // Submits `work` after `delay` (kNoWait: now). Scheduling an item that is already
  // waiting for its delay moves it to the new deadline, like k_work_reschedule; an item
  // that is already queued stays queued and is also submitted again after the delay.
  // Errors: kInvalidValue if `work` is null or `delay` is kForever (it would never run);
  // kInvalidState as for submit().
  Status schedule(DelayableWork* work, Timeout delay);

  // Takes `work` off the delay list and the run queue it is on (whichever queue that is).
  // A handler that is already running is not interrupted and not waited for, as with
  // k_work_cancel_delayable.
  // Errors: kInvalidValue if `work` is null.
  Status cancel(DelayableWork* work);

  // Refuses new work, runs everything already queued (and work those handlers submit),
  // drops items still waiting for their delay, then stops and joins the thread. The queue
  // can be started again afterwards.
  // Errors: kInvalidState if the queue is not running or the caller is its own thread.
  Status drain_and_stop();

 private:
  static void thread_main(void* self);
  void run_loop();
  Status check_accepting_locked() const;
  void enqueue_locked(Work* work);
  static void unqueue_locked(Work* work);
  static void undelay_locked(DelayableWork* work);

  Thread thread_;
  Semaphore wakeup_{0, 1};
  // Guarded by the backend's work lock.
  Work* head_ = nullptr;
  Work* tail_ = nullptr;
  DelayableWork* delayed_ = nullptr;  // unsorted: a node has a handful of delayed items
  bool running_ = false;
  bool draining_ = false;
};

}  // namespace spindle::os
