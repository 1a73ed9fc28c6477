// Finding and reading a board profile by name on the host (--board of spindle-node,
// spindlectl pack, spindle-train, the benchmarks): a name under this build's boards/
// folder (boards/<name>/board.conf) or a path to a board.conf. One rule for every program
// that takes --board, so "nrf52840dk" means the same file to all of them.
//
// Host-only (files, std::string); a microcontroller build gets its board at compile time
// (spindle/board_config.h). No exceptions: programs wrap the error text as they report.
#pragma once

#include <string>
#include <string_view>

#include "spindle/protocol/board_profile.hpp"
#include "spindle/status.hpp"

namespace spindle::boards {

// The folder that holds this build's board profiles (boards/ of the source tree).
std::string_view boards_dir();

// The board.conf that `board` names: a path when it contains a '/', else
// boards_dir()/<board>/board.conf.
std::string board_conf_path(std::string_view board);

// Reads and parses the profile `board` names. On failure `error` (when given) says what
// went wrong: the file that cannot be read and where names are looked up, or
// <file>:<line>: <reason> [<key>] for a profile that does not parse.
// Errors: kNotFound (the file cannot be read), the parser's (board::parse).
Result<board::BoardProfile> load_board(std::string_view board, std::string* error);

}  // namespace spindle::boards
