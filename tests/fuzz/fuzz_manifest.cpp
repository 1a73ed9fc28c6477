// libFuzzer target: the manifest decoder must refuse or accept any input without a fault, and
// whatever it accepts must re-encode and decode to the same message.
#include <array>
#include <cstdint>
#include <cstdlib>

#include "spindle/protocol/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto decoded = spindle::manifest::decode({data, size});
  if (!decoded.ok()) return 0;
  std::array<std::uint8_t, 4096> buffer{};
  const auto encoded = spindle::manifest::encode(*decoded, buffer);
  if (!encoded.ok()) std::abort();  // accepted input must be representable
  const auto again = spindle::manifest::decode(*encoded);
  if (!again.ok()) std::abort();
  return 0;
}
