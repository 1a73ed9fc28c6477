// `spindlectl pack`: checks a model container against a board's budgets, computes its
// self-test vectors with the node's int8 runtime, and seals it into a package
// (package.hpp). docs/delivery.md "Package" is the flow; docs/tools/spindlectl.md the
// command.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/ctl/package.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/manifest.hpp"

namespace spindle::ctl {

// What pack refuses a model for; the message names the check, the budget and the numbers.
struct PackRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct PackRequest {
  ByteVector container;  // the plaintext model container (SPMC)
  std::string model_id;
  std::uint64_t version = 0;  // >= 1
  board::BoardProfile board;
  float threshold = 1.0F;
  std::vector<manifest::FeatureBaseline> baseline;  // empty, or one per feature
  std::size_t self_tests = kMaxSelfTests;           // vectors wanted, 0..kMaxSelfTests
  std::uint64_t seed = 1;                           // of the self-test inputs
  bool has_calibration = false;                     // per-machine calibration; needs the baseline
  manifest::Calibration calibration;
};

// Checks the request and describes the model: every PackageInfo field except those
// seal_package() fills (digest, size, nonce, wrapped key). Throws PackRefused when the
// model id, version or threshold is invalid, the container does not parse, its arena
// exceeds the board's CONFIG_MODEL_ARENA_SIZE, it uses an opcode the runtime lacks, the
// payload (container + 16-byte tag) exceeds the board's model_payload_capacity(), the
// runtime refuses to load it, its input is not the board's feature vector, or the baseline
// has the wrong number of rows, or a calibration is given without a baseline or with values
// the manifest refuses (naming the rule). Appends to `notes` what the operator should know (fewer
// self-tests than asked for, and why).
PackageInfo describe_model(const PackRequest& request, std::vector<std::string>* notes);

// Whether a packaged model can also run in shadow on `board`, beside its active model, in
// the memory the board gives a shadow (CONFIG_SHADOW_ARENA_SIZE, CONFIG_SHADOW_MODEL_RAM_SIZE,
// docs/firmware/shadow.md). Throws PackRefused naming the numbers: the board has no room
// for a shadow, the arena or the payload is over the shadow's.
void check_shadow_fit(const PackageInfo& info, const board::BoardProfile& board);

// describe_model(), then seals the package under a fresh random content key and nonce.
// Throws PackRefused (as describe_model, or a signing key that is not a P-256 scalar),
// std::runtime_error when the system has no random bytes.
ByteVector pack(const PackRequest& request, const crypto::EcPrivateKey& signing_key,
                std::string_view kid, std::vector<std::string>* notes);

// A baseline file: one "mean,stddev" line per feature, in feature order; blank lines and
// lines starting with '#' are skipped. Throws std::invalid_argument naming `source` and
// the line (not two numbers, not finite, stddev < 0).
std::vector<manifest::FeatureBaseline> parse_baseline_csv(std::string_view text,
                                                          const std::string& source);

// A calibration file as spindle-train writes it (trained_model.hpp): key=value lines,
// normalization_windows, threshold_windows, threshold_quantile, threshold_margin,
// threshold_min, threshold_max, each once; blank lines and '#' comments skipped. Throws
// std::invalid_argument naming `source` and the line (an unknown or repeated key, a value
// that is not a number) or the missing key.
manifest::Calibration parse_calibration(std::string_view text, const std::string& source);

}  // namespace spindle::ctl
