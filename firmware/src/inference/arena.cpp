#include "spindle/inference/arena.hpp"

#include <algorithm>

namespace spindle::inference {
namespace {

constexpr std::size_t kSizeMax = static_cast<std::size_t>(-1);

std::size_t padding_before(const void* start) {
  const auto address = reinterpret_cast<std::uintptr_t>(start);
  return static_cast<std::size_t>((Arena::kAlignment - address % Arena::kAlignment) %
                                  Arena::kAlignment);
}

}  // namespace

Arena::Arena(std::span<std::uint8_t> buffer) {
  const std::size_t padding = padding_before(buffer.data());
  if (buffer.data() == nullptr || buffer.size() < padding) return;
  front_padding_ = padding;
  base_ = buffer.data() + padding;
  capacity_ = (buffer.size() - padding) & ~(kAlignment - 1);
}

std::size_t Arena::required_bytes(const void* start, std::size_t aligned_bytes) {
  const std::size_t padding = padding_before(start);
  return aligned_bytes > kSizeMax - padding ? kSizeMax : aligned_bytes + padding;
}

Result<std::span<std::uint8_t>> Arena::allocate_persistent(std::size_t bytes) {
  const std::size_t size = aligned_size(bytes);
  if (size > capacity_ - head_ - tail_) return Error::kDoesNotFit;
  tail_ += size;
  note_usage();
  return std::span<std::uint8_t>(base_ + (capacity_ - tail_), size);
}

Result<std::span<std::uint8_t>> Arena::allocate_scratch(std::size_t bytes) {
  const std::size_t size = aligned_size(bytes);
  if (size > capacity_ - head_ - tail_) return Error::kDoesNotFit;
  std::uint8_t* block = base_ + head_;
  head_ += size;
  note_usage();
  return std::span<std::uint8_t>(block, size);
}

void Arena::note_usage() {
  high_water_mark_ = std::max(high_water_mark_, front_padding_ + head_ + tail_);
}

}  // namespace spindle::inference
