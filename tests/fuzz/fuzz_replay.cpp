// libFuzzer target: the recording parsers of the node's replay source (CSV and WAV) refuse
// or accept any bytes without a fault, and what they accept reads back without a fault.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "spindle/sensor/replay_source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::array<float, 3 * 4096> storage;
  spindle::sensor::ReplayOptions options;
  options.loop = false;
  spindle::sensor::ReplayError error;
  auto source = spindle::sensor::ReplaySource::open_memory(
      {reinterpret_cast<const std::byte*>(data), size}, storage, options, &error);
  if (!source.ok()) {
    if (error.reason == nullptr) std::abort();  // every refusal names its reason
    return 0;
  }
  std::array<float, 64> x{};
  std::array<float, 64> y{};
  std::array<float, 64> z{};
  for (int i = 0; i < 256; ++i) {
    if (!source.value().read(x, y, z).ok()) break;
  }
  return 0;
}
