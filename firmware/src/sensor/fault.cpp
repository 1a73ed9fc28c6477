#include "spindle/sensor/fault.hpp"

#include <array>

namespace spindle::sensor {
namespace {

constexpr std::array<std::string_view, kFaultCount> kNames = {
    "none", "imbalance", "misalignment", "looseness", "bearing-outer", "bearing-inner",
};

}  // namespace

Result<Fault> parse_fault(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Fault>(i);
  }
  return Error::kInvalidValue;
}

std::string_view fault_name(Fault fault) {
  const auto index = static_cast<std::size_t>(fault);
  return index < kNames.size() ? kNames[index] : std::string_view{};
}

}  // namespace spindle::sensor
