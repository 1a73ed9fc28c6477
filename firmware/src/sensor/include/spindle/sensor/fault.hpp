// The machine faults the simulator can produce, named as on the node's command line.
#pragma once

#include <cstdint>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::sensor {

enum class Fault : std::uint8_t {
  kNone,
  kImbalance,     // 1x radial, x and y in quadrature
  kMisalignment,  // 2x and 1x, strongest axially (z)
  kLooseness,     // many 1x harmonics, 0.5x sub-harmonics, truncated waveform
  kBearingOuter,  // impacts at BPFO ringing the structural resonance
  kBearingInner,  // impacts at BPFI, amplitude-modulated at 1x
};

inline constexpr std::size_t kFaultCount = 6;

// "none", "imbalance", "misalignment", "looseness", "bearing-outer", "bearing-inner".
// Errors: kInvalidValue for any other text (matching is exact and case-sensitive).
Result<Fault> parse_fault(std::string_view name);

// The name parse_fault() accepts for `fault`.
std::string_view fault_name(Fault fault);

}  // namespace spindle::sensor
