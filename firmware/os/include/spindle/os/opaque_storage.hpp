// Room inside facade objects for the backend's native kernel object.
//
// The facade headers must not name pthread (or Zephyr) types, yet the node allocates every
// kernel object statically, with no heap after start-up. So each facade class reserves
// opaque, suitably aligned bytes; the backend constructs its native object there and
// static_asserts that it fits. The sizes fit glibc and musl on x86-64 and AArch64 and
// Zephyr's k_mutex / k_sem / k_msgq / k_thread handle with room to spare; a backend that
// needs more fails to compile rather than corrupting memory.
#pragma once

#include <cstddef>

namespace spindle::os {

inline constexpr std::size_t kOpaqueAlignment = alignof(std::max_align_t);

template <std::size_t Bytes>
struct OpaqueStorage {
  static constexpr std::size_t kSize = Bytes;
  alignas(kOpaqueAlignment) std::byte bytes[Bytes];
};

inline constexpr std::size_t kMutexStorageBytes = 64;
inline constexpr std::size_t kSemaphoreStorageBytes = 128;
inline constexpr std::size_t kMessageQueueStorageBytes = 192;
inline constexpr std::size_t kThreadStorageBytes = 16;

}  // namespace spindle::os
