// The log sink of the POSIX backend: one write(2) per line to stderr.
#include <unistd.h>
#include <array>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"

namespace spindle::os::detail {
namespace {

// Indexed by LogLevel.
constexpr std::array<const char*, 4> kLevelTags = {"err", "wrn", "inf", "dbg"};

const char* level_tag(LogLevel level) {
  const auto index = static_cast<std::size_t>(level);
  return index < kLevelTags.size() ? kLevelTags[index] : "???";
}

void write_all(const char* data, std::size_t length) {
  while (length > 0) {
    const ssize_t written = ::write(STDERR_FILENO, data, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report that logging failed
    }
    data += written;
    length -= static_cast<std::size_t>(written);
  }
}

}  // namespace

void log_write(LogLevel level, const char* module, const char* format, ...) {
  // Text fills at most kLogLineMax - 1 bytes; the terminator's byte then takes the newline.
  char line[kLogLineMax];
  const std::int64_t ms = uptime_ms();
  // Zephyr's layout, [hh:mm:ss.mmm] <lvl> module: text, so logs of both read alike.
  int used = std::snprintf(
      line, sizeof(line),
      "[%02lld:%02lld:%02lld.%03lld] <%s> %s: ", static_cast<long long>(ms / 3'600'000),
      static_cast<long long>(ms / 60'000 % 60), static_cast<long long>(ms / 1000 % 60),
      static_cast<long long>(ms % 1000), level_tag(level), module != nullptr ? module : "?");
  std::size_t length = used < 0 ? 0 : static_cast<std::size_t>(used);
  bool cut = length >= sizeof(line);
  if (!cut) {
    va_list arguments;
    va_start(arguments, format);
    used = std::vsnprintf(line + length, sizeof(line) - length, format, arguments);
    va_end(arguments);
    if (used > 0) {
      cut = static_cast<std::size_t>(used) >= sizeof(line) - length;
      length += static_cast<std::size_t>(used);
    }
  }
  if (cut) {
    length = sizeof(line) - 1;  // what (v)snprintf kept
    line[length - 3] = '.';
    line[length - 2] = '.';
    line[length - 1] = '.';
  }
  line[length++] = '\n';
  write_all(line, length);
}

}  // namespace spindle::os::detail
