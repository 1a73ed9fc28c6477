// libFuzzer target: provisioning text is refused or accepted without a fault; a refusal
// says where (a line inside the text, or 0 for a missing key) and describe() words it; an
// accepted record formats into kMaxFormattedSize, and that text parses into a record that
// formats into the same text (parse -> format -> parse is stable).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "spindle/protocol/provisioning.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace spindle::provisioning;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseError where;
  const auto record = parse(text, &where);
  if (!record.ok()) {
    if (where.reason == Reason::kNone) std::abort();
    if ((where.line == 0) != (where.reason == Reason::kMissingKey)) std::abort();
    if (where.line > size + 1) std::abort();
    std::array<char, 256> message{};
    if (describe(where, message) == 0) std::abort();
    return 0;
  }
  std::array<char, kMaxFormattedSize> first{};
  const auto first_size = format(*record, first);
  if (!first_size.ok()) std::abort();
  const std::string_view first_text(first.data(), *first_size);
  const auto again = parse(first_text);
  if (!again.ok()) std::abort();
  std::array<char, kMaxFormattedSize> second{};
  const auto second_size = format(*again, second);
  if (!second_size.ok() || std::string_view(second.data(), *second_size) != first_text) {
    std::abort();
  }
  return 0;
}
