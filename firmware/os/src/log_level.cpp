// The log level, shared by every backend: the sinks differ, the filtering does not.
#include <atomic>
#include <cctype>

#include "spindle/os/log.hpp"

namespace spindle::os {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

bool equals_ignoring_case(std::string_view text, std::string_view word) {
  if (text.size() != word.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (std::tolower(c) != word[i]) return false;
  }
  return true;
}

}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(level, std::memory_order_relaxed);
}

LogLevel log_level() {
  return g_level.load(std::memory_order_relaxed);
}

bool parse_log_level(std::string_view text, LogLevel* level) {
  struct Name {
    std::string_view name;
    LogLevel level;
  };
  static constexpr Name kNames[] = {
      {"err", LogLevel::kError},    {"error", LogLevel::kError},     {"wrn", LogLevel::kWarning},
      {"warn", LogLevel::kWarning}, {"warning", LogLevel::kWarning}, {"inf", LogLevel::kInfo},
      {"info", LogLevel::kInfo},    {"dbg", LogLevel::kDebug},       {"debug", LogLevel::kDebug},
  };
  if (level == nullptr) return false;
  for (const Name& entry : kNames) {
    if (equals_ignoring_case(text, entry.name)) {
      *level = entry.level;
      return true;
    }
  }
  return false;
}

}  // namespace spindle::os
