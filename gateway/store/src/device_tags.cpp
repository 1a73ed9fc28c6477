// The rule for device tags, shared by every Store backend and the operator API.
#include <string>
#include <string_view>

#include "spindle/gateway/store.hpp"

namespace spindle::gateway {
namespace {

constexpr std::size_t kMaxTagKey = 32;
constexpr std::size_t kMaxTagValue = 64;

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool value_char(char c) {
  return key_char(c) || (c >= 'A' && c <= 'Z') || c == ':' || c == '/';
}

}  // namespace

Status check_tag(std::string_view key, std::string_view value, std::string* why) {
  const auto refuse = [&](std::string text) {
    if (why != nullptr) *why = std::move(text);
    return Status(Error::kInvalidValue);
  };
  if (key.empty() || key.size() > kMaxTagKey || key[0] < 'a' || key[0] > 'z') {
    return refuse("tag key \"" + std::string(key.substr(0, kMaxTagKey + 1)) +
                  "\" must be 1 to 32 characters and start with a lower-case letter");
  }
  for (const char c : key) {
    if (!key_char(c)) {
      return refuse("tag key \"" + std::string(key) +
                    "\" may hold only a-z, 0-9, '_', '.' and '-'");
    }
  }
  if (value.size() > kMaxTagValue) {
    return refuse("the value of tag \"" + std::string(key) + "\" is longer than 64 characters");
  }
  for (const char c : value) {
    if (!value_char(c)) {
      return refuse("the value of tag \"" + std::string(key) +
                    "\" may hold only letters, digits and '_', '.', '-', ':', '/'");
    }
  }
  return kOk;
}

}  // namespace spindle::gateway
