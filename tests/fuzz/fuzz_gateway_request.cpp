// libFuzzer target: the gateway request decoder (challenge and/or capture request), with
// the round-trip property of roundtrip_fuzz.hpp.
#include "roundtrip_fuzz.hpp"
#include "spindle/protocol/gateway_request.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_round_trip(
      data, size, [](auto in) { return spindle::gateway_request::decode(in); },
      [](const auto& request, auto out) { return spindle::gateway_request::encode(request, out); });
}
