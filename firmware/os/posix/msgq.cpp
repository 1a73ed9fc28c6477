// MessageQueueCore on a pthread mutex and two condition variables.
#include <cstring>

#include "native_private.hpp"
#include "spindle/os/msgq.hpp"

namespace spindle::os {
namespace {

struct NativeQueue {
  pthread_mutex_t mutex;
  pthread_cond_t not_empty;
  pthread_cond_t not_full;
};

}  // namespace

MessageQueueCore::MessageQueueCore(std::byte* buffer, std::size_t item_size, std::size_t capacity)
    : buffer_(buffer), item_size_(item_size), capacity_(capacity) {
  auto* self = posix::construct_native<NativeQueue>(native_);
  posix::init_mutex(&self->mutex);
  posix::init_monotonic_cond(&self->not_empty);
  posix::init_monotonic_cond(&self->not_full);
}

// Never torn down, for the reasons given at ~Mutex (sync.cpp).
MessageQueueCore::~MessageQueueCore() = default;

Status MessageQueueCore::put(const void* item, Timeout timeout) {
  auto& self = posix::native<NativeQueue>(native_);
  const posix::NativeLock lock(&self.mutex);
  if (used_ == capacity_ && timeout.is_no_wait()) return Error::kFull;
  if (!posix::wait_for(&self.not_full, &self.mutex, timeout, [&] { return used_ < capacity_; })) {
    return Error::kTimeout;
  }
  const std::size_t tail = (head_ + used_) % capacity_;
  std::memcpy(buffer_ + tail * item_size_, item, item_size_);
  ++used_;
  posix::require_ok(pthread_cond_signal(&self.not_empty), "pthread_cond_signal");
  return kOk;
}

Status MessageQueueCore::get(void* item, Timeout timeout) {
  auto& self = posix::native<NativeQueue>(native_);
  const posix::NativeLock lock(&self.mutex);
  if (!posix::wait_for(&self.not_empty, &self.mutex, timeout, [&] { return used_ > 0; })) {
    return Error::kTimeout;
  }
  std::memcpy(item, buffer_ + head_ * item_size_, item_size_);
  head_ = (head_ + 1) % capacity_;
  --used_;
  posix::require_ok(pthread_cond_signal(&self.not_full), "pthread_cond_signal");
  return kOk;
}

std::size_t MessageQueueCore::count() {
  auto& self = posix::native<NativeQueue>(native_);
  const posix::NativeLock lock(&self.mutex);
  return used_;
}

void MessageQueueCore::purge() {
  auto& self = posix::native<NativeQueue>(native_);
  const posix::NativeLock lock(&self.mutex);
  head_ = 0;
  used_ = 0;
  posix::require_ok(pthread_cond_broadcast(&self.not_full), "pthread_cond_broadcast");
}

}  // namespace spindle::os
