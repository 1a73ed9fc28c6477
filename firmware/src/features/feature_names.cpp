#include "spindle/protocol/feature_names.hpp"
#include "spindle/features/feature_extractor.hpp"

namespace spindle::features {

// The table lives in protocol/ so that the gateway names captured features the same way.
static_assert(kFeaturesPerAxis == feature_names::kPerAxis && kBands == 8,
              "protocol/feature_names.cpp names 7 statistics and 8 bands per axis");
static_assert(kMaxAxes == feature_names::kMaxAxes);

std::string_view feature_name(std::size_t index) {
  return feature_names::name(index);
}

}  // namespace spindle::features
