// The main() of Spindle's host command-line tools: a usage error (a bad flag or value)
// exits 2, any other failure exits 1, each printed as "<program>: <message>".
#pragma once

#include <boost/program_options/errors.hpp>
#include <exception>
#include <iostream>
#include <stdexcept>

namespace spindle::cli {

// Thrown for a bad flag or value; the message names it.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs `run` (returning the exit code) and maps what it throws: UsageError,
// std::invalid_argument and Boost.Program_options errors to 2, anything else to 1.
template <typename Run>
int guarded_main(const char* program, Run&& run) {
  try {
    return run();
  } catch (const UsageError& e) {
    std::cerr << program << ": " << e.what() << "\n";
  } catch (const std::invalid_argument& e) {
    std::cerr << program << ": " << e.what() << "\n";
  } catch (const boost::program_options::error& e) {
    std::cerr << program << ": " << e.what() << " (see --help)\n";
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << "\n";
    return 1;
  }
  return 2;
}

}  // namespace spindle::cli
