#include <array>

#include "spindle/features/feature_extractor.hpp"

namespace spindle::features {
namespace {

constexpr std::size_t kMaxNameSize = 16;  // "x_kurtosis" is the longest

struct Name {
  std::array<char, kMaxNameSize> text{};
  std::size_t size = 0;
};

constexpr std::array<std::string_view, kFeaturesPerAxis> kSuffixes = {
    "rms",   "peak",  "crest", "kurtosis", "skewness", "centroid", "dominant", "band0",
    "band1", "band2", "band3", "band4",    "band5",    "band6",    "band7",
};
static_assert(kBands == 8, "kSuffixes names eight bands");

constexpr std::array<Name, feature_count(kMaxAxes)> make_names() {
  constexpr std::array<char, kMaxAxes> kAxes = {'x', 'y', 'z'};
  std::array<Name, feature_count(kMaxAxes)> names{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    Name& name = names[i];
    name.text[name.size++] = kAxes[i / kFeaturesPerAxis];
    name.text[name.size++] = '_';
    for (const char c : kSuffixes[i % kFeaturesPerAxis])
      name.text[name.size++] = c;
  }
  return names;
}

constexpr auto kNames = make_names();

}  // namespace

std::string_view feature_name(std::size_t index) {
  if (index >= kNames.size()) return {};
  return {kNames[index].text.data(), kNames[index].size};
}

}  // namespace spindle::features
