#include "spindle/gateway/device_selector.hpp"

#include "spindle/gateway/store.hpp"

namespace spindle::gateway {

Result<std::vector<SelectorTerm>> parse_selector(std::string_view text, std::string* why) {
  const auto refuse = [&](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return Error::kInvalidValue;
  };
  if (text.empty()) return refuse("the selector is empty");
  std::vector<SelectorTerm> terms;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string_view term = text.substr(start, end - start);
    start = end + 1;
    if (term.empty()) return refuse("the selector \"" + std::string(text) + "\" has an empty term");
    SelectorTerm parsed;
    std::string_view key = term;
    if (const std::size_t ne = term.find("!="); ne != std::string_view::npos) {
      parsed.op = SelectorTerm::Op::kNotEquals;
      key = term.substr(0, ne);
      parsed.value = std::string(term.substr(ne + 2));
    } else if (const std::size_t eq = term.find('='); eq != std::string_view::npos) {
      parsed.op = SelectorTerm::Op::kEquals;
      key = term.substr(0, eq);
      parsed.value = std::string(term.substr(eq + 1));
    } else if (term.front() == '!') {
      parsed.op = SelectorTerm::Op::kLacks;
      key = term.substr(1);
    }
    parsed.key = std::string(key);
    std::string rule;
    if (!check_tag(parsed.key, parsed.value, &rule).ok()) {
      return refuse("selector term \"" + std::string(term) + "\": " + rule);
    }
    terms.push_back(std::move(parsed));
  }
  return terms;
}

bool selector_matches(std::span<const SelectorTerm> terms,
                      const std::map<std::string, std::string>& tags) {
  for (const SelectorTerm& term : terms) {
    const auto it = tags.find(term.key);
    const bool has = it != tags.end();
    switch (term.op) {
      case SelectorTerm::Op::kEquals:
        if (!has || it->second != term.value) return false;
        break;
      case SelectorTerm::Op::kNotEquals:
        if (has && it->second == term.value) return false;
        break;
      case SelectorTerm::Op::kHas:
        if (!has) return false;
        break;
      case SelectorTerm::Op::kLacks:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace spindle::gateway
