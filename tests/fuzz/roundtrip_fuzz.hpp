// The property shared by the fuzz targets of Spindle's own CBOR messages: any input is
// refused or accepted without a fault, and whatever is accepted re-encodes into bytes that
// decode again (an encoder that refuses what its decoder accepted is a bug).
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>

template <typename DecodeFn, typename EncodeFn>
int fuzz_round_trip(const std::uint8_t* data, std::size_t size, DecodeFn decode, EncodeFn encode) {
  const auto decoded = decode(std::span<const std::uint8_t>(data, size));
  if (!decoded.ok()) return 0;
  std::array<std::uint8_t, 4096> buffer{};
  const auto encoded = encode(*decoded, std::span<std::uint8_t>(buffer));
  if (!encoded.ok()) std::abort();
  if (!decode(*encoded).ok()) std::abort();
  return 0;
}
