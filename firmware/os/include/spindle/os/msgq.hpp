// Fixed-capacity message queues of fixed-size items (Zephyr: k_msgq).
//
// Receive paths enqueue and a thread does the work (DESIGN.md §4); a MessageQueue is how
// they hand items over. Items are copied in and out, so they must be trivially copyable,
// and the ring lives inside the object: a static MessageQueue needs no heap at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "spindle/os/kernel.hpp"
#include "spindle/os/opaque_storage.hpp"
#include "spindle/status.hpp"

namespace spindle::os {

// The untyped ring behind every MessageQueue, so that the backend is compiled once rather
// than per item type. Use MessageQueue<T, N>.
class MessageQueueCore {
 public:
  // `buffer` holds `capacity` items of `item_size` bytes and must outlive the core.
  MessageQueueCore(std::byte* buffer, std::size_t item_size, std::size_t capacity);
  ~MessageQueueCore();
  MessageQueueCore(const MessageQueueCore&) = delete;
  MessageQueueCore& operator=(const MessageQueueCore&) = delete;

  // See MessageQueue for the contracts.
  Status put(const void* item, Timeout timeout);
  Status get(void* item, Timeout timeout);
  std::size_t count();
  void purge();

 private:
  OpaqueStorage<kMessageQueueStorageBytes> native_;
  std::byte* buffer_;
  std::size_t item_size_;
  std::size_t capacity_;
  std::size_t head_ = 0;  // index of the oldest item
  std::size_t used_ = 0;
};

template <typename T, std::size_t N>
class MessageQueue {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied byte-wise, as in k_msgq");
  static_assert(N > 0, "a queue needs room for at least one item");

 public:
  static constexpr std::size_t kCapacity = N;

  MessageQueue() : core_(storage_, sizeof(T), N) {}
  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;

  // Appends a copy of `item`, waiting up to `timeout` for room. Safe from timer expiry
  // functions with kNoWait.
  // Errors: kFull if the queue is full and `timeout` is kNoWait; kTimeout if it stayed
  // full for the whole timeout.
  Status put(const T& item, Timeout timeout) { return core_.put(&item, timeout); }

  // Moves the oldest item into `*item`, waiting up to `timeout` for one.
  // Errors: kInvalidValue if `item` is null; kTimeout if the queue stayed empty for the
  // whole timeout (at once for kNoWait).
  Status get(T* item, Timeout timeout) {
    if (item == nullptr) return Error::kInvalidValue;
    return core_.get(item, timeout);
  }

  // Items queued now; by the time the caller looks it may have changed.
  std::size_t count() { return core_.count(); }

  // Drops every queued item; blocked writers then find room.
  void purge() { core_.purge(); }

 private:
  alignas(T) std::byte storage_[sizeof(T) * N];
  MessageQueueCore core_;
};

}  // namespace spindle::os
