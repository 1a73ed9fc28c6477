// Parsing a host tool's command line: one rule for --help and for when notifiers run.
// Header-only; callers link Boost.Program_options (spindle::cli does).
#pragma once

#include <boost/program_options.hpp>
#include <iostream>
#include <string_view>

namespace spindle::cli {

// Stores what `parser` parses into `vm` and runs the notifiers (required options, value
// checks). With --help it prints `usage` (when given), then the options, and returns false
// without running the notifiers, so --help works without the required options.
inline bool parse_or_help(boost::program_options::command_line_parser parser,
                          const boost::program_options::options_description& options,
                          boost::program_options::variables_map* vm, std::string_view usage = {}) {
  boost::program_options::store(parser.options(options).run(), *vm);
  if (vm->count("help") != 0) {
    if (!usage.empty()) std::cout << usage << "\n\n";
    std::cout << options << "\n";
    return false;
  }
  boost::program_options::notify(*vm);
  return true;
}

}  // namespace spindle::cli
