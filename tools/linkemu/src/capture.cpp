#include "spindle/linkemu/capture.hpp"

namespace spindle::linkemu {

std::array<std::uint8_t, kCaptureHeaderBytes> capture_header(Direction direction,
                                                             std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  return {direction == Direction::kToUpstream ? kCaptureToUpstream : kCaptureToClient,
          static_cast<std::uint8_t>(n >> 24U), static_cast<std::uint8_t>(n >> 16U),
          static_cast<std::uint8_t>(n >> 8U), static_cast<std::uint8_t>(n)};
}

void write_capture_record(std::ostream& out, Direction direction,
                          std::span<const std::uint8_t> payload) {
  const auto header = capture_header(direction, payload.size());
  out.write(reinterpret_cast<const char*>(header.data()),
            static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(payload.data()),
            static_cast<std::streamsize>(payload.size()));
}

}  // namespace spindle::linkemu
