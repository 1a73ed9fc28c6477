// Field readers shared by the message codecs (private to protocol/src).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string_view>

#include "spindle/protocol/cbor_reader.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::codec {

// An unsigned integer in [min, max]; kInvalidValue outside.
inline Result<std::uint64_t> read_uint_in(cbor::Reader& reader, std::uint64_t min,
                                          std::uint64_t max) {
  SPINDLE_TRY_ASSIGN(const std::uint64_t value, reader.read_uint());
  if (value < min || value > max) return Error::kInvalidValue;
  return value;
}

template <typename T>
Status read_uint_into(cbor::Reader& reader, T* out, std::uint64_t min = 0,
                      std::uint64_t max = std::numeric_limits<T>::max()) {
  SPINDLE_TRY_ASSIGN(const std::uint64_t value, read_uint_in(reader, min, max));
  *out = static_cast<T>(value);
  return kOk;
}

// A device or model id (see check_id).
inline Status read_id(cbor::Reader& reader, std::string_view* out) {
  SPINDLE_TRY_ASSIGN(*out, reader.read_text(kMaxIdSize));
  return check_id(*out);
}

// A finite number representable as float; NaN and infinities are kInvalidValue.
inline Status read_float(cbor::Reader& reader, float* out) {
  SPINDLE_TRY_ASSIGN(const double value, reader.read_number());
  if (!std::isfinite(value) ||
      std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max())) {
    return Error::kInvalidValue;
  }
  *out = static_cast<float>(value);
  return kOk;
}

// A byte string of exactly `size` bytes: longer is kOversize, shorter kInvalidValue.
inline Status read_fixed_bytes(cbor::Reader& reader, std::size_t size,
                               std::span<const std::uint8_t>* out) {
  SPINDLE_TRY_ASSIGN(*out, reader.read_bytes(size));
  return out->size() == size ? kOk : Status(Error::kInvalidValue);
}

// Checks that every key in `required` was seen.
inline Status require(const cbor::KeySet& seen, std::initializer_list<std::int64_t> required) {
  for (const std::int64_t key : required) {
    if (!seen.has(key)) return Error::kMissingField;
  }
  return kOk;
}

// Reads a nested integer-keyed map under the shared extension rule.
template <typename Visitor>
Status read_struct(cbor::Reader& reader, std::size_t max_entries, cbor::KeySet& seen,
                   Visitor&& field) {
  return cbor::read_int_map(reader, max_entries, seen, [&](std::int64_t key) -> Status {
    const Status status = field(key);
    if (status == Status(Error::kUnknownCriticalField))
      return cbor::skip_unknown_field(reader, key);
    return status;
  });
}

}  // namespace spindle::codec
