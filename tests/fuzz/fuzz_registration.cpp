// libFuzzer target: the registration decoder, with the round-trip property of roundtrip_fuzz.hpp.
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/registration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::registration::decode(in); },
      [](const auto& message, auto out) { return spindle::registration::encode(message, out); });
}
