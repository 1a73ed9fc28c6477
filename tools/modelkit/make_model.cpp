// spindle-make-model: writes a model container holding an MLP autoencoder with seeded random
// weights, quantized and packed by spindle::modelkit exactly as a trained model will be.
// A development and test tool (integration tests, benchmarks, demos) until the trainer
// exists; its models score noise, not anomalies.
#include <boost/program_options.hpp>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>
#include "spindle/cli/command_line.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"

#include "spindle/modelkit/autoencoder.hpp"

namespace po = boost::program_options;
using namespace spindle;

namespace {

using spindle::cli::UsageError;

constexpr const char* kExample = "45,16,8,16,45";

// A command line the user must fix: "spindle-make-model: <message>", exit status 2.
// Parses a whole decimal number into T, or nothing: from_chars alone would accept "16x"
// (and boost's lexical_cast would turn "-1" into a huge unsigned value).
template <typename T>
bool parse_number(const std::string& text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

std::vector<std::size_t> parse_layers(const std::string& text) {
  std::vector<std::size_t> widths;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma - start);
    std::size_t width = 0;
    if (!parse_number(item, width))
      throw UsageError("--layers: '" + item +
                       "' is not a width (expected comma-separated positive integers, e.g. " +
                       kExample + ")");
    widths.push_back(width);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (const std::string_view problem = modelkit::shape_problem(widths); !problem.empty())
    throw UsageError("--layers " + text + ": " + std::string(problem));
  return widths;
}

void check(Status status, const std::string& what) {
  if (!status.ok()) throw std::runtime_error(what + ": " + status.name());
}

int run(int argc, char** argv) {
  std::string layers;
  std::string seed_text;
  std::string out_path;
  po::options_description options(
      std::string("usage: spindle-make-model --layers ") + kExample +
      " --seed 1 --out model.bin\n\n"
      "Writes a model container (SPMC) holding an MLP autoencoder with seeded random\n"
      "weights, calibrated on standard-normal noise and quantized to int8 by\n"
      "spindle::modelkit, and prints its size and the arena bytes the node must reserve\n"
      "(also in its header). A development and test tool until the trainer exists: the\n"
      "model is untrained, so its scores measure noise, not anomalies. Equal arguments\n"
      "give equal bytes (with the same standard library).\n\noptions");
  options.add_options()("help,h", "print this help")(
      "layers", po::value(&layers)->required(),
      "layer widths, input first, comma-separated; the last equals the first (at most 7 "
      "layers, widths 1..65535)")("seed", po::value(&seed_text)->default_value("1"),
                                  "random seed, 0..4294967295")(
      "out,o", po::value(&out_path)->required(), "container file to write");
  po::variables_map vm;
  if (!spindle::cli::parse_or_help(po::command_line_parser(argc, argv), options, &vm)) return 0;

  const std::vector<std::size_t> widths = parse_layers(layers);
  std::uint32_t seed = 0;
  if (!parse_number(seed_text, seed))
    throw UsageError("--seed: '" + seed_text + "' is not a number in 0..4294967295");

  const auto random = modelkit::random_autoencoder(widths, seed);
  check(random.status(), "random model");
  const auto packed = modelkit::pack_autoencoder(random->model, random->calibration);
  check(packed.status(), "packing");
  cli::write_file(out_path, packed->container);
  std::cout << out_path << ": " << packed->container.size() << " bytes, arena_bytes "
            << packed->arena_bytes << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return spindle::cli::guarded_main("spindle-make-model", [&] { return run(argc, argv); });
}
