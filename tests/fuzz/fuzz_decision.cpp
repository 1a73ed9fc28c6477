// libFuzzer target: the decision payload decoder, with the round-trip property of
// roundtrip_fuzz.hpp (the signature layer is fuzz_cose_sign1's).
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/decision.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::decision::decode(in); },
      [](const auto& d, auto out) { return spindle::decision::encode(d, out); });
}
