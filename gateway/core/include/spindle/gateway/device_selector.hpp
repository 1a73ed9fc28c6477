// Device groups (docs/gateway/rollouts.md "Groups"): a selector is a comma-separated list of
// terms that must all hold for a device's tags:
//   key=value   the tag is set to that value
//   key!=value  the tag is not set to that value (absent counts)
//   key         the tag is set (to any value)
//   !key        the tag is not set
// e.g. "site=hall-2,line=3,!spare". The operator API adds the board a device registered
// with as the tag "board" unless the operator set one.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/status.hpp"

namespace spindle::gateway {

struct SelectorTerm {
  enum class Op { kEquals, kNotEquals, kHas, kLacks };
  std::string key;
  Op op = Op::kHas;
  std::string value;
};

// Errors: kInvalidValue, with `why` naming the term and the rule (an empty selector or term,
// a key or value check_tag refuses).
Result<std::vector<SelectorTerm>> parse_selector(std::string_view text, std::string* why);

bool selector_matches(std::span<const SelectorTerm> terms,
                      const std::map<std::string, std::string>& tags);

}  // namespace spindle::gateway
