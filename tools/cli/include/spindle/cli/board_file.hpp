// A board profile named on a host tool's command line (--board), as boards/'s one lookup
// rule (spindle/boards/board_lookup.hpp) with the tools' error reporting: a UsageError.
// Header-only; spindle::cli links spindle::boards.
#pragma once

#include <string>
#include <string_view>

#include "spindle/boards/board_lookup.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/protocol/board_profile.hpp"

namespace spindle::cli {

// Reads and parses the profile `board` names. Throws UsageError naming the file (and the
// line and key where parsing stopped) when it cannot be read or parsed.
inline board::BoardProfile load_board(std::string_view board) {
  std::string problem;
  const auto profile = boards::load_board(board, &problem);
  if (!profile.ok()) throw UsageError(problem);
  return *profile;
}

}  // namespace spindle::cli
