#include "spindle/boards/board_lookup.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace spindle::boards {

std::string_view boards_dir() {
  return SPINDLE_BOARDS_DIR;
}

std::string board_conf_path(std::string_view board) {
  if (board.find('/') != std::string_view::npos) return std::string(board);
  return std::string(boards_dir()) + "/" + std::string(board) + "/board.conf";
}

Result<board::BoardProfile> load_board(std::string_view board, std::string* error) {
  const std::string path = board_conf_path(board);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error != nullptr) {
      *error = "cannot read " + path + ": " + std::strerror(errno);
      error->append(" (--board takes a name under ")
          .append(boards_dir())
          .append(" or a path to a board.conf)");
    }
    return Error::kNotFound;
  }
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  board::ParseError where;
  auto profile = board::parse(text, &where);
  if (!profile.ok() && error != nullptr) {
    *error = path + ":" + std::to_string(where.line) + ": " + profile.status().name();
    if (!where.key.empty()) error->append(" ").append(where.key);
  }
  return profile;
}

}  // namespace spindle::boards
