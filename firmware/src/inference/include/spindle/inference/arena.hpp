// The tensor arena: one caller-provided byte buffer that holds everything the runtime needs
// beyond its fixed-size tables (TensorFlow Lite Micro's SingleArenaBufferAllocator).
//
//   buffer start  [pad][ scratch (head) ---->          <---- persistent (tail) ]  buffer end
//
// Persistent allocations (kernel data: requantization multipliers, folded biases) are
// taken from the tail and live until reset(). Scratch allocations (activation
// buffers and anything whose content only matters during one invoke) are taken from the
// head and released together by reset_scratch(). Both ends hand out kAlignment-aligned
// blocks whose sizes are rounded up to kAlignment, so the bytes a set of allocations needs
// depends only on their sizes and on where the buffer starts (required_bytes()).
//
// Running out is an error (kDoesNotFit), never a crash and never an overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

#include "spindle/status.hpp"

namespace spindle::inference {

class Arena {
 public:
  // Every block starts on this boundary (TFLite Micro's MicroArenaBufferAlignment), which
  // covers int32 and float32 elements and 128-bit SIMD loads.
  static constexpr std::size_t kAlignment = 16;

  // An arena over no memory: every allocation fails with kDoesNotFit.
  Arena() = default;
  // The arena uses `buffer` from its first kAlignment-aligned byte to its last
  // kAlignment-aligned end; the caller keeps the buffer alive and untouched meanwhile.
  explicit Arena(std::span<std::uint8_t> buffer);

  // `bytes` rounded up to a multiple of kAlignment: what one allocation of that size takes.
  // Saturates instead of wrapping.
  static constexpr std::size_t aligned_size(std::size_t bytes) {
    const std::size_t rounded = bytes + (kAlignment - 1);
    return rounded < bytes ? static_cast<std::size_t>(-1) & ~(kAlignment - 1)
                           : rounded & ~(kAlignment - 1);
  }

  // The buffer size that holds `aligned_bytes` (a sum of aligned_size() values) when the
  // buffer starts at `start`: the alignment padding in front plus the blocks. With a
  // kAlignment-aligned start this is `aligned_bytes` itself. Saturates instead of wrapping.
  static std::size_t required_bytes(const void* start, std::size_t aligned_bytes);

  // A block of aligned_size(bytes) bytes from the tail, kept until reset().
  // Errors: kDoesNotFit when the free space between head and tail is smaller.
  Result<std::span<std::uint8_t>> allocate_persistent(std::size_t bytes);
  // A block of aligned_size(bytes) bytes from the head, kept until reset_scratch().
  // Errors: kDoesNotFit when the free space between head and tail is smaller.
  Result<std::span<std::uint8_t>> allocate_scratch(std::size_t bytes);

  // A value-initialised T in a persistent block. Nothing in the arena is ever destroyed, so
  // T must be trivially destructible. Errors: kDoesNotFit.
  template <typename T>
  Result<T*> create_persistent() {
    static_assert(std::is_trivially_destructible_v<T> && alignof(T) <= kAlignment);
    SPINDLE_TRY_ASSIGN(const std::span<std::uint8_t> block, allocate_persistent(sizeof(T)));
    return ::new (static_cast<void*>(block.data())) T{};
  }
  // `count` value-initialised Ts in one persistent block. Errors: kDoesNotFit (also when
  // count · sizeof(T) does not fit a size_t).
  template <typename T>
  Result<std::span<T>> create_persistent_array(std::size_t count) {
    static_assert(std::is_trivially_destructible_v<T> && alignof(T) <= kAlignment);
    if (count > static_cast<std::size_t>(-1) / sizeof(T)) return Error::kDoesNotFit;
    SPINDLE_TRY_ASSIGN(const std::span<std::uint8_t> block, allocate_persistent(count * sizeof(T)));
    if (count == 0) return std::span<T>{};
    // Non-allocating array new has no size overhead (C++20, CWG 2382).
    return std::span<T>(::new (static_cast<void*>(block.data())) T[count]{}, count);
  }

  // Releases every scratch block.
  void reset_scratch() { head_ = 0; }
  // Releases every block; the high-water mark is kept.
  void reset() {
    head_ = 0;
    tail_ = 0;
  }

  // Usable bytes: the buffer without the alignment padding at either end.
  std::size_t capacity() const { return capacity_; }
  // Bytes now taken by both ends together.
  std::size_t used_bytes() const { return head_ + tail_; }
  // The most bytes of the caller's buffer ever in use at once, the padding in front of the
  // first aligned byte included: the figure to compare with a board's arena budget.
  std::size_t high_water_mark() const { return high_water_mark_; }

 private:
  void note_usage();

  std::uint8_t* base_ = nullptr;  // first aligned byte of the buffer
  std::size_t front_padding_ = 0;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;  // bytes taken from the front of [base_, base_ + capacity_)
  std::size_t tail_ = 0;  // bytes taken from the back
  std::size_t high_water_mark_ = 0;
};

}  // namespace spindle::inference
