// libFuzzer target: the SenML-CBOR decoder must refuse or accept any input without a fault,
// and what it accepts must re-encode into a pack that decodes to the same resolved values.
#include <array>
#include <cstdint>
#include <cstdlib>

#include "spindle/protocol/senml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::array<spindle::senml::Record, 32> records{};
  const auto count = spindle::senml::decode({data, size}, records);
  if (!count.ok()) return 0;
  std::array<std::uint8_t, 8192> buffer{};
  const auto encoded = spindle::senml::encode({records.data(), *count}, buffer);
  if (!encoded.ok()) std::abort();
  std::array<spindle::senml::Record, 32> again{};
  const auto count_again = spindle::senml::decode(*encoded, again);
  if (!count_again.ok() || *count_again != *count) std::abort();
  for (std::size_t i = 0; i < *count; ++i) {
    if (again[i].resolved_time() != records[i].resolved_time() && records[i].has_time) {
      // Times compare exactly: the encoder writes the shortest exact form.
      std::abort();
    }
    if (again[i].kind != records[i].kind || again[i].seq != records[i].seq) std::abort();
  }
  return 0;
}
