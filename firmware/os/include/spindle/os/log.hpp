// Logging (Zephyr: LOG_ERR / LOG_WRN / LOG_INF / LOG_DBG).
//
//   SPINDLE_LOG_INF("net", "registered as %s after %u tries", id, tries);
//
// writes one line to stderr, `[00:00:12.345] <inf> net: registered as ...`, with the
// uptime, the level and the module. A line is formatted into a stack buffer and written
// with one write(2), so lines from different threads never interleave and logging uses no
// heap. Lines longer than kLogLineMax are cut and end in "...". Arguments of a message
// below the current level are not evaluated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace spindle::os {

// Lower is more severe; a message is written when its level <= log_level().
enum class LogLevel : std::uint8_t { kError, kWarning, kInfo, kDebug };

inline constexpr std::size_t kLogLineMax = 256;  // bytes per line, newline included

// Sets the most verbose level written (kInfo at start-up). Thread-safe; never fails.
void set_log_level(LogLevel level);
LogLevel log_level();

// Parses "err"/"error", "wrn"/"warn"/"warning", "inf"/"info", "dbg"/"debug" (any case) into
// `*level`. Returns false, leaving `*level` alone, for anything else or a null `level`.
bool parse_log_level(std::string_view text, LogLevel* level);

namespace detail {
// Formats and writes one line; use the macros, which check the level first.
void log_write(LogLevel level, const char* module, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
}  // namespace detail

}  // namespace spindle::os

#define SPINDLE_LOG_AT(level, module, format, ...)                                             \
  do {                                                                                         \
    if ((level) <= ::spindle::os::log_level()) {                                               \
      ::spindle::os::detail::log_write((level), (module), (format)__VA_OPT__(, ) __VA_ARGS__); \
    }                                                                                          \
  } while (false)

#define SPINDLE_LOG_ERR(module, format, ...) \
  SPINDLE_LOG_AT(::spindle::os::LogLevel::kError, module, format __VA_OPT__(, ) __VA_ARGS__)
#define SPINDLE_LOG_WRN(module, format, ...) \
  SPINDLE_LOG_AT(::spindle::os::LogLevel::kWarning, module, format __VA_OPT__(, ) __VA_ARGS__)
#define SPINDLE_LOG_INF(module, format, ...) \
  SPINDLE_LOG_AT(::spindle::os::LogLevel::kInfo, module, format __VA_OPT__(, ) __VA_ARGS__)
#define SPINDLE_LOG_DBG(module, format, ...) \
  SPINDLE_LOG_AT(::spindle::os::LogLevel::kDebug, module, format __VA_OPT__(, ) __VA_ARGS__)
