// The libcbor encoding adapter: libcbor's "0 bytes written" becomes kBufferTooSmall.
#include "spindle/protocol/cbor_writer.hpp"

#include <cbor.h>

#include <cmath>
#include <cstring>

namespace spindle::cbor {

template <typename Encode>
Writer& Writer::put(Encode&& encode) {
  if (!status_.ok()) return *this;
  const std::size_t written = encode(output_.data() + used_, output_.size() - used_);
  if (written == 0) {
    status_ = Error::kBufferTooSmall;
  } else {
    used_ += written;
  }
  return *this;
}

Writer& Writer::uint(std::uint64_t value) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_uint(value, p, n); });
}

Writer& Writer::integer(std::int64_t value) {
  if (value >= 0) return uint(static_cast<std::uint64_t>(value));
  const auto magnitude = static_cast<std::uint64_t>(-(value + 1));
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_negint(magnitude, p, n); });
}

Writer& Writer::bytes_head(std::size_t length) {
  return put(
      [&](unsigned char* p, std::size_t n) { return cbor_encode_bytestring_start(length, p, n); });
}

Writer& Writer::raw(std::span<const std::uint8_t> encoded) {
  if (encoded.empty()) return *this;  // nothing to write is not an overflow
  return put([&](unsigned char* p, std::size_t n) -> std::size_t {
    if (encoded.size() > n) return 0;
    std::memcpy(p, encoded.data(), encoded.size());
    return encoded.size();
  });
}

Writer& Writer::bytes(std::span<const std::uint8_t> value) {
  return bytes_head(value.size()).raw(value);
}

Writer& Writer::text(std::string_view value) {
  put([&](unsigned char* p, std::size_t n) {
    return cbor_encode_string_start(value.size(), p, n);
  });
  return raw({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
}

Writer& Writer::array(std::size_t count) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_array_start(count, p, n); });
}

Writer& Writer::map(std::size_t count) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_map_start(count, p, n); });
}

Writer& Writer::tag(std::uint64_t number) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_tag(number, p, n); });
}

Writer& Writer::float32(float value) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_single(value, p, n); });
}

Writer& Writer::float64(double value) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_double(value, p, n); });
}

Writer& Writer::number(double value) {
  constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
  if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) < kExactIntegerLimit) {
    return integer(static_cast<std::int64_t>(value));
  }
  const auto narrow = static_cast<float>(value);
  if (static_cast<double>(narrow) == value || std::isnan(value)) return float32(narrow);
  return float64(value);
}

Writer& Writer::boolean(bool value) {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_bool(value, p, n); });
}

Writer& Writer::null() {
  return put([&](unsigned char* p, std::size_t n) { return cbor_encode_null(p, n); });
}

Result<std::span<const std::uint8_t>> Writer::finish() const {
  if (!status_.ok()) return status_;
  return std::span<const std::uint8_t>(output_.data(), used_);
}

}  // namespace spindle::cbor
