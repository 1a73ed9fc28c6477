// Helpers shared by the inference tests: little-endian constant bytes, hand-made tensor
// descriptions for driving kernels directly, containers built with ContainerBuilder, and
// aligned (or deliberately misaligned) arena buffers.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "spindle/inference/arena.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::inference::test {

using Bytes = std::vector<std::uint8_t>;

inline Bytes int8_bytes(std::span<const std::int8_t> values) {
  Bytes out;
  for (const std::int8_t v : values)
    out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// Little-endian, the container's byte order.
inline Bytes int32_bytes(std::span<const std::int32_t> values) {
  Bytes out;
  for (const std::int32_t v : values) {
    const auto u = static_cast<std::uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8)
      out.push_back(static_cast<std::uint8_t>(u >> shift));
  }
  return out;
}

inline Bytes float_bytes(std::span<const float> values) {
  std::vector<std::int32_t> bits;
  for (const float v : values)
    bits.push_back(std::bit_cast<std::int32_t>(v));
  return int32_bytes(bits);
}

// A container::Tensor description with storage for its constant data and channel scales,
// for calling kernels without a container. Not copyable: the spans point into the vectors.
struct TestTensor {
  TestTensor(container::ElementType type, std::vector<std::uint16_t> dims, float scale = 0.0f,
             std::int32_t zero_point = 0) {
    tensor.type = type;
    tensor.rank = static_cast<std::uint8_t>(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i)
      tensor.dims[i] = dims[i];
    tensor.scale = scale;
    tensor.zero_point = zero_point;
  }
  TestTensor(const TestTensor&) = delete;
  TestTensor& operator=(const TestTensor&) = delete;

  TestTensor& constant(Bytes bytes) {
    data = std::move(bytes);
    tensor.constant = true;
    tensor.data = data;
    return *this;
  }
  TestTensor& per_channel(std::vector<float> scales) {
    scale_bytes = float_bytes(scales);
    tensor.scale = 0.0f;
    tensor.channel_count = static_cast<std::uint16_t>(scales.size());
    tensor.channel_scales = scale_bytes;
    return *this;
  }
  operator const container::Tensor&() const { return tensor; }  // NOLINT: implicit by design

  container::Tensor tensor;
  Bytes data;
  Bytes scale_bytes;
};

// Builds a container; fails the test (and returns empty bytes) when the builder refuses.
inline Bytes build_container(std::span<const container::TensorSpec> tensors,
                             std::span<const container::Op> ops,
                             const container::GraphInfo& graph) {
  Bytes out(1 << 16);
  container::ContainerBuilder builder(out);
  for (const container::TensorSpec& t : tensors)
    EXPECT_TRUE(builder.add_tensor(t).ok());
  for (const container::Op& op : ops)
    EXPECT_TRUE(builder.add_op(op).ok());
  const auto bytes = builder.finish(graph);
  EXPECT_TRUE(bytes.ok()) << bytes.status().name();
  return bytes.ok() ? Bytes(bytes->begin(), bytes->end()) : Bytes{};
}

// `size` bytes starting `misalignment` bytes past an Arena::kAlignment boundary, with
// guard bytes around them so an arena overrun shows up in guards_intact().
class ArenaBuffer {
 public:
  static constexpr std::uint8_t kGuard = 0xa5;

  explicit ArenaBuffer(std::size_t size, std::size_t misalignment = 0)
      : storage_(size + 3 * Arena::kAlignment, kGuard), size_(size) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    const std::size_t to_aligned =
        (Arena::kAlignment - address % Arena::kAlignment) % Arena::kAlignment;
    offset_ = to_aligned + Arena::kAlignment + misalignment;
  }
  std::span<std::uint8_t> span() { return {storage_.data() + offset_, size_}; }
  bool guards_intact() const {
    for (std::size_t i = 0; i < storage_.size(); ++i) {
      if ((i < offset_ || i >= offset_ + size_) && storage_[i] != kGuard) return false;
    }
    return true;
  }

 private:
  std::vector<std::uint8_t> storage_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

// round(real / scale) + zero_point saturated to int8, in double: "float, then quantize".
inline int quantize_reference(double real, double scale, int zero_point, int min = -128,
                              int max = 127) {
  const double q = std::round(real / scale) + zero_point;
  return q < min ? min : (q > max ? max : static_cast<int>(q));
}

}  // namespace spindle::inference::test
