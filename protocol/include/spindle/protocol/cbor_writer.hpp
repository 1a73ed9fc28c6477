// A CBOR (RFC 8949) encoder into a caller-owned buffer, on libcbor's encoding functions.
//
// Calls chain; the first overflow makes the writer sticky-failed with kBufferTooSmall and
// later calls do nothing, so a message is encoded with straight-line code and checked once.
// Integers use their shortest form and lengths are always definite, so output is
// deterministic for a given sequence of calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::cbor {

class Writer {
 public:
  explicit Writer(std::span<std::uint8_t> output) : output_(output) {}

  Writer& uint(std::uint64_t value);
  Writer& integer(std::int64_t value);
  Writer& bytes(std::span<const std::uint8_t> value);
  Writer& text(std::string_view value);
  // Only the head of a byte string; the caller appends `length` bytes with raw().
  Writer& bytes_head(std::size_t length);
  Writer& raw(std::span<const std::uint8_t> encoded);
  Writer& array(std::size_t count);
  Writer& map(std::size_t count);
  Writer& tag(std::uint64_t number);
  Writer& float32(float value);
  Writer& float64(double value);
  // The shortest exact encoding of a number: an integer when it is one (|x| < 2^53),
  // else float32 when that is exact, else float64. Keeps telemetry small on slow links.
  Writer& number(double value);
  Writer& boolean(bool value);
  Writer& null();

  Status status() const { return status_; }
  std::size_t size() const { return used_; }
  // The encoded bytes, or kBufferTooSmall.
  Result<std::span<const std::uint8_t>> finish() const;

 private:
  template <typename Encode>
  Writer& put(Encode&& encode);

  std::span<std::uint8_t> output_;
  std::size_t used_ = 0;
  Status status_;
};

}  // namespace spindle::cbor
