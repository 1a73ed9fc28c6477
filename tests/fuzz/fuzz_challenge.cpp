// libFuzzer target: the challenge decoder, with the round-trip property of roundtrip_fuzz.hpp.
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/challenge.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::challenge::decode(in); },
      [](const auto& nonce, auto out) { return spindle::challenge::encode(nonce, out); });
}
