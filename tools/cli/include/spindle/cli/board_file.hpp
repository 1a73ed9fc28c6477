// Finding and reading a board profile named on a command line (--board): a name under the
// boards/ folder (boards/<name>/board.conf) or a path to a board.conf. One rule for every
// program that takes --board, so "nrf52840dk" means the same file to all of them.
// Header-only; callers link spindle::protocol (board_profile.hpp).
#pragma once

#include <string>
#include <string_view>

#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/protocol/board_profile.hpp"

namespace spindle::cli {

// The board.conf that `board` names: a path when it contains a '/', else
// `boards_dir`/<board>/board.conf (boards_dir: the build's SPINDLE_BOARDS_DIR).
inline std::string board_conf_path(std::string_view board, std::string_view boards_dir) {
  if (board.find('/') != std::string_view::npos) return std::string(board);
  return std::string(boards_dir) + "/" + std::string(board) + "/board.conf";
}

// Reads and parses the profile `board` names. Throws UsageError naming the file (and the
// line and key where parsing stopped) when it cannot be read or parsed.
inline board::BoardProfile load_board(std::string_view board, std::string_view boards_dir) {
  const std::string path = board_conf_path(board, boards_dir);
  ByteVector text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& e) {
    throw UsageError(std::string(e.what()) + " (--board takes a name under " +
                     std::string(boards_dir) + " or a path to a board.conf)");
  }
  board::ParseError where;
  const auto profile =
      board::parse({reinterpret_cast<const char*>(text.data()), text.size()}, &where);
  if (!profile.ok()) {
    throw UsageError(path + ":" + std::to_string(where.line) + ": " + profile.status().name() +
                     (where.key.empty() ? "" : " " + std::string(where.key)));
  }
  return *profile;
}

}  // namespace spindle::cli
