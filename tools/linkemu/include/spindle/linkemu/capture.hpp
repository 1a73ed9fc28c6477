// The --capture file of spindle-linkemu: every datagram the relay sends, after every
// impairment (corruption included), as one record each, in the order they were sent:
//
//   offset 0  1 byte   direction: 'u' (0x75) sent to the upstream, 'd' (0x64) to a client
//   offset 1  4 bytes  payload length, unsigned big-endian
//   offset 5  length   the UDP payload
//
// No file header and no padding, so a file is a plain concatenation of records.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>

#include "spindle/linkemu/link.hpp"

namespace spindle::linkemu {

inline constexpr std::size_t kCaptureHeaderBytes = 5;
inline constexpr std::uint8_t kCaptureToUpstream = 'u';
inline constexpr std::uint8_t kCaptureToClient = 'd';

// The 5-byte record header of a `length`-byte payload (a UDP payload: below 2^32).
std::array<std::uint8_t, kCaptureHeaderBytes> capture_header(Direction direction,
                                                             std::size_t length);

// Writes one record to `out`; a failed write shows in out's state (it does not throw
// unless `out` was told to).
void write_capture_record(std::ostream& out, Direction direction,
                          std::span<const std::uint8_t> payload);

}  // namespace spindle::linkemu
