// Threads (Zephyr: k_thread_create / k_thread_join).
//
// A Thread object is the handle of one running thread; it is meant to be a static object
// of the application, like Zephyr's `struct k_thread`. It can be started again once the
// previous run was joined.
#pragma once

#include <cstddef>

#include "spindle/os/opaque_storage.hpp"
#include "spindle/status.hpp"

namespace spindle::os {

class Thread {
 public:
  Thread() = default;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  // Destroying a running, unjoined Thread detaches it: the thread runs on (as a Zephyr
  // thread outlives any handle), so the application must not let it use freed objects.
  ~Thread();

  // Starts `entry(argument)` on a new thread and returns once it exists. `name` (may be
  // null; copied, truncated to 15 characters on POSIX) shows in debuggers and `top -H`.
  // `stack_bytes` is the stack the thread needs on the target MCU; the POSIX backend gives
  // at least the host's default stack because libc and sanitizers need far more.
  // `priority` follows Zephyr (lower is more urgent, negative is cooperative); the POSIX
  // backend ignores it, since host scheduling priorities need privileges.
  // Errors: kInvalidValue if `entry` is null; kInvalidState if this Thread is running and
  // not yet joined; kUnavailable if the OS refuses to create a thread.
  Status start(void (*entry)(void*), void* argument, const char* name, std::size_t stack_bytes,
               int priority);

  // Waits until the thread's entry function returns.
  // Errors: kInvalidState if the thread was never started or was already joined, or if a
  // thread tries to join itself.
  Status join();

 private:
  OpaqueStorage<kThreadStorageBytes> native_;
  bool running_ = false;
};

}  // namespace spindle::os
