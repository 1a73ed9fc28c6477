#include "spindle/protocol/feature_names.hpp"

#include <array>

namespace spindle::feature_names {
namespace {

constexpr std::size_t kMaxNameSize = 16;  // "x_kurtosis" is the longest

struct Name {
  std::array<char, kMaxNameSize> text{};
  std::size_t size = 0;
};

constexpr std::array<std::string_view, kPerAxis> kSuffixes = {
    "rms",   "peak",  "crest", "kurtosis", "skewness", "centroid", "dominant", "band0",
    "band1", "band2", "band3", "band4",    "band5",    "band6",    "band7",
};

constexpr std::array<Name, kCount> make_names() {
  constexpr std::array<char, kMaxAxes> kAxes = {'x', 'y', 'z'};
  std::array<Name, kCount> names{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    Name& name = names[i];
    name.text[name.size++] = kAxes[i / kPerAxis];
    name.text[name.size++] = '_';
    for (const char c : kSuffixes[i % kPerAxis])
      name.text[name.size++] = c;
  }
  return names;
}

constexpr auto kNames = make_names();

}  // namespace

std::string_view name(std::size_t index) {
  if (index >= kNames.size()) return {};
  return {kNames[index].text.data(), kNames[index].size};
}

}  // namespace spindle::feature_names
