// libFuzzer target: the manifest decoder, with the round-trip property of roundtrip_fuzz.hpp.
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::manifest::decode(in); },
      [](const auto& message, auto out) { return spindle::manifest::encode(message, out); });
}
