#include "spindle/protocol/feature_pairs.hpp"

#include <algorithm>
#include <cstring>

namespace spindle::feature_pairs {
namespace {

void put_float(std::uint8_t* p, float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  for (std::size_t b = 0; b < 4; ++b)
    p[b] = static_cast<std::uint8_t>(bits >> (8 * b));
}

float get_float(const std::uint8_t* p) {
  std::uint32_t bits = 0;
  for (std::size_t b = 0; b < 4; ++b)
    bits |= static_cast<std::uint32_t>(p[b]) << (8 * b);
  float value = 0.0F;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

Result<std::span<const std::uint8_t>> pack(std::span<const float> mean,
                                           std::span<const float> stddev,
                                           std::span<std::uint8_t> out) {
  if (mean.size() != stddev.size()) return Error::kSizeMismatch;
  const std::size_t bytes = mean.size() * kPairBytes;
  if (out.size() < bytes) return Error::kBufferTooSmall;
  for (std::size_t i = 0; i < mean.size(); ++i) {
    put_float(out.data() + i * kPairBytes, mean[i]);
    put_float(out.data() + i * kPairBytes + 4, stddev[i]);
  }
  return std::span<const std::uint8_t>(out.first(bytes));
}

Result<std::size_t> unpack(std::span<const std::uint8_t> bytes, std::span<float> mean,
                           std::span<float> stddev) {
  if (bytes.size() % kPairBytes != 0) return Error::kInvalidValue;
  const std::size_t count = bytes.size() / kPairBytes;
  if (count > std::min(mean.size(), stddev.size())) return Error::kOversize;
  for (std::size_t i = 0; i < count; ++i) {
    mean[i] = get_float(bytes.data() + i * kPairBytes);
    stddev[i] = get_float(bytes.data() + i * kPairBytes + 4);
  }
  return count;
}

}  // namespace spindle::feature_pairs
