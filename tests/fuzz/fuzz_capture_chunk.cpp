// libFuzzer target: the capture chunk decoder, with the round-trip property of
// roundtrip_fuzz.hpp.
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/capture.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::capture::decode(in); },
      [](const auto& chunk, auto out) { return spindle::capture::encode(chunk, out); });
}
