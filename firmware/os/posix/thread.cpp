// Thread on pthreads.
#include "spindle/os/thread.hpp"

#include <semaphore.h>

#include <cerrno>
#include <cstring>

#include "native_private.hpp"

namespace spindle::os {
namespace {

struct NativeThread {
  pthread_t thread;
};

// Lives on the starting thread's stack until the new thread has copied it, so the new
// thread never reads the Thread object (which its owner may destroy at any time).
struct StartBlock {
  void (*entry)(void*);
  void* argument;
  const char* name;
  sem_t copied;
};

void* trampoline(void* raw) {
  auto* block = static_cast<StartBlock*>(raw);
  void (*const entry)(void*) = block->entry;
  void* const argument = block->argument;
  if (block->name != nullptr) {
    // Named before start() returns and before the entry runs. Linux keeps 15 characters
    // and refuses longer names outright, so cut them here.
    char name[16] = {};
    std::strncpy(name, block->name, sizeof(name) - 1);
    pthread_setname_np(pthread_self(), name);
  }
  sem_post(&block->copied);
  entry(argument);
  return nullptr;
}

void wait_copied(sem_t* copied) {
  while (sem_wait(copied) != 0) {
    if (errno != EINTR) posix::require_ok(errno, "sem_wait");
  }
}

}  // namespace

Thread::~Thread() {
  if (running_) pthread_detach(posix::native<NativeThread>(native_).thread);
}

Status Thread::start(void (*entry)(void*), void* argument, const char* name,
                     std::size_t stack_bytes, int priority) {
  static_cast<void>(priority);  // host priorities need privileges; see the header
  if (entry == nullptr) return Error::kInvalidValue;
  if (running_) return Error::kInvalidState;

  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return Error::kUnavailable;
  std::size_t host_stack = 0;
  if (pthread_attr_getstacksize(&attr, &host_stack) == 0 && stack_bytes > host_stack) {
    if (pthread_attr_setstacksize(&attr, stack_bytes) != 0) {
      pthread_attr_destroy(&attr);
      return Error::kUnavailable;
    }
  }

  StartBlock block{entry, argument, name, {}};
  posix::require_ok(sem_init(&block.copied, 0, 0), "sem_init");
  auto* self = posix::construct_native<NativeThread>(native_);
  const int created = pthread_create(&self->thread, &attr, &trampoline, &block);
  pthread_attr_destroy(&attr);
  if (created != 0) {
    sem_destroy(&block.copied);
    return Error::kUnavailable;
  }
  wait_copied(&block.copied);
  sem_destroy(&block.copied);
  running_ = true;
  return kOk;
}

Status Thread::join() {
  if (!running_) return Error::kInvalidState;
  auto& self = posix::native<NativeThread>(native_);
  if (pthread_equal(self.thread, pthread_self())) return Error::kInvalidState;
  posix::require_ok(pthread_join(self.thread, nullptr), "pthread_join");
  running_ = false;
  return kOk;
}

}  // namespace spindle::os
