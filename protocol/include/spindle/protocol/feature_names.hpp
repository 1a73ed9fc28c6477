// The names of the node's features ("x_rms" .. "z_band7"), shared by the firmware's
// feature extractor (firmware/src/features, which computes them in this order) and the
// gateway (capture exports), which does not link firmware code.
#pragma once

#include <cstddef>
#include <string_view>

namespace spindle::feature_names {

inline constexpr std::size_t kPerAxis = 15;  // 7 statistics, 8 band energies
inline constexpr std::size_t kMaxAxes = 3;
inline constexpr std::size_t kCount = kPerAxis * kMaxAxes;

// Stable name of feature `index`, axis-major ("x_rms", "y_dominant", "z_band3"); empty for
// index >= kCount. Null-terminated.
std::string_view name(std::size_t index);

}  // namespace spindle::feature_names
