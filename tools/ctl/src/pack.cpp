#include "spindle/ctl/pack.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <random>
#include <sstream>

#include "spindle/cli/random.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/host/text.hpp"
#include "spindle/inference/arena.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/inference/kernel.hpp"
#include "spindle/protocol/container.hpp"

namespace spindle::ctl {
namespace {

constexpr std::uint32_t kMaxOpCode = 31;

[[noreturn]] void refuse(const std::string& message) {
  throw PackRefused(message);
}

std::string hex32(std::uint32_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

std::string opcode_list(std::uint32_t op_set) {
  std::string out;
  for (std::uint32_t code = 0; code <= kMaxOpCode; ++code) {
    if ((op_set & (1U << code)) == 0) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(code);
  }
  return out;
}

// The model's budgets against the board's, in the order the node checks them.
void check_budgets(const PackRequest& request, const container::ContainerView& view,
                   std::uint32_t arena_bytes) {
  const board::BoardProfile& board = request.board;
  const std::string name(board.name());
  if (arena_bytes > board.model_arena_bytes) {
    refuse("the model needs " + std::to_string(arena_bytes) + " arena bytes; board " + name +
           " has CONFIG_MODEL_ARENA_SIZE=" + std::to_string(board.model_arena_bytes) + " (" +
           std::to_string(arena_bytes - board.model_arena_bytes) +
           " bytes over): make the model smaller or pick a board with a larger arena");
  }
  const std::uint32_t unsupported = view.op_set() & ~inference::runtime_op_set();
  if (unsupported != 0) {
    refuse("the model uses opcode(s) " + opcode_list(unsupported) +
           ", which the node's runtime does not implement (model op set " + hex32(view.op_set()) +
           ", runtime op set " + hex32(inference::runtime_op_set()) + ")");
  }
  const std::size_t payload = request.container.size() + crypto::kCcmTagSize;
  if (payload > board.model_payload_capacity()) {
    refuse("the payload is " + std::to_string(payload) + " bytes (container " +
           std::to_string(request.container.size()) + " + 16-byte tag); a model slot of board " +
           name + " holds " + std::to_string(board.model_payload_capacity()) +
           " (the smaller slot less its " + std::to_string(board.flash_sector_bytes) +
           "-byte header sector): make the model smaller");
  }
  if (payload > board.model_ram_bytes) {
    refuse("the payload is " + std::to_string(payload) + " bytes; board " + name +
           " decrypts a model into " + std::to_string(board.model_ram_bytes) +
           " bytes of model RAM (CONFIG_MODEL_RAM_SIZE): make the model smaller");
  }
}

std::vector<SelfTestVector> self_tests(const PackRequest& request,
                                       inference::Interpreter& interpreter,
                                       std::vector<std::string>* notes) {
  std::vector<SelfTestVector> tests;
  if (request.self_tests == 0) return tests;
  const std::size_t in = interpreter.int8_input_size();
  const std::size_t out = interpreter.int8_output_size();
  if (in == 0 || out == 0) {
    notes->push_back("no self-tests: the model has no int8 entry or output to compare");
    return tests;
  }
  if (in > kMaxSelfTestBytes || out > kMaxSelfTestBytes) {
    notes->push_back("no self-tests: the model's int8 input (" + std::to_string(in) +
                     " bytes) or output (" + std::to_string(out) + " bytes) exceeds the " +
                     std::to_string(kMaxSelfTestBytes) + " bytes a manifest vector holds");
    return tests;
  }
  // mt19937_64's output sequence is fixed by the standard (distributions are not), so a
  // seed gives the same inputs with every standard library.
  std::mt19937_64 random(request.seed);
  for (std::size_t t = 0; t < request.self_tests; ++t) {
    std::vector<std::int8_t> input(in);
    for (std::int8_t& value : input)
      value = static_cast<std::int8_t>(random() & 0xff);
    if (const Status s = interpreter.invoke_int8(input); !s.ok()) {
      refuse(std::string("the runtime failed a self-test invoke: ") + s.name());
    }
    const auto output = interpreter.int8_output();
    SelfTestVector test;
    test.input.assign(reinterpret_cast<const std::uint8_t*>(input.data()),
                      reinterpret_cast<const std::uint8_t*>(input.data()) + input.size());
    test.expected_output.assign(
        reinterpret_cast<const std::uint8_t*>(output.data()),
        reinterpret_cast<const std::uint8_t*>(output.data()) + output.size());
    tests.push_back(std::move(test));
  }
  return tests;
}

}  // namespace

namespace {

// The manifest decoder's rules for a calibration, as messages an operator can act on.
void check_calibration(const PackRequest& request, std::size_t features) {
  const manifest::Calibration& c = request.calibration;
  if (request.baseline.size() != features) {
    refuse(
        "a calibration needs the training baseline (--baseline): the node normalizes with it "
        "until it has learned its machine's");
  }
  for (const auto& [name, windows] : {std::pair{"normalization_windows", c.normalization_windows},
                                      std::pair{"threshold_windows", c.threshold_windows}}) {
    if (windows < manifest::kMinCalibrationWindows || windows > manifest::kMaxCalibrationWindows) {
      refuse(std::string("calibration ") + name + " " + std::to_string(windows) + ": use " +
             std::to_string(manifest::kMinCalibrationWindows) + ".." +
             std::to_string(manifest::kMaxCalibrationWindows));
    }
  }
  if (!(c.threshold_quantile >= 0.5F && c.threshold_quantile <= 1.0F)) {
    refuse("calibration threshold_quantile must be within 0.5..1");
  }
  if (!(c.threshold_margin >= 1.0F && c.threshold_margin <= 1000.0F)) {
    refuse("calibration threshold_margin must be within 1..1000");
  }
  if (!(c.threshold_min > 0.0F) || !(c.threshold_max >= c.threshold_min) ||
      !std::isfinite(c.threshold_max)) {
    refuse("calibration bounds: 0 < threshold_min <= threshold_max, finite");
  }
  if (!(request.threshold >= c.threshold_min && request.threshold <= c.threshold_max)) {
    refuse("the threshold " + std::to_string(request.threshold) +
           " lies outside the calibration bounds " + std::to_string(c.threshold_min) + ".." +
           std::to_string(c.threshold_max));
  }
  const std::size_t tail = manifest::calibration_tail(c.threshold_windows, c.threshold_quantile);
  if (tail > manifest::kMaxCalibrationTail) {
    refuse("calibration threshold_quantile " + std::to_string(c.threshold_quantile) + " over " +
           std::to_string(c.threshold_windows) + " windows needs the " + std::to_string(tail) +
           " highest scores kept; a node keeps " + std::to_string(manifest::kMaxCalibrationTail));
  }
}

}  // namespace

void check_shadow_fit(const PackageInfo& info, const board::BoardProfile& board) {
  const std::string name(board.name());
  if (board.shadow_arena_bytes == 0 || board.shadow_model_capacity() == 0) {
    refuse("board " + name +
           " has no room for a model in shadow (CONFIG_SHADOW_ARENA_SIZE and "
           "CONFIG_SHADOW_MODEL_RAM_SIZE are 0): roll it out as the active model");
  }
  if (info.requirements.arena_bytes > board.shadow_arena_bytes) {
    refuse("in shadow the model needs " + std::to_string(info.requirements.arena_bytes) +
           " arena bytes; board " + name +
           " gives a shadow CONFIG_SHADOW_ARENA_SIZE=" + std::to_string(board.shadow_arena_bytes) +
           " beside the active model's " + std::to_string(board.model_arena_bytes) +
           ": roll it out as the active model, or make it smaller");
  }
  if (info.payload_size > board.shadow_model_capacity()) {
    refuse("in shadow the payload of " + std::to_string(info.payload_size) + " bytes must fit " +
           "the shadow's model RAM, CONFIG_SHADOW_MODEL_RAM_SIZE=" +
           std::to_string(board.shadow_model_ram_bytes) + " on board " + name +
           ": roll it out as the active model, or make it smaller");
  }
}

PackageInfo describe_model(const PackRequest& request, std::vector<std::string>* notes) {
  const board::BoardProfile& board = request.board;
  const std::string name(board.name());
  if (const Status s = check_id(request.model_id); !s.ok()) {
    refuse("model id '" + request.model_id + "' is not valid (" + s.name() + "): use 1.." +
           std::to_string(kMaxIdSize) + " characters of A-Z a-z 0-9 . _ -");
  }
  if (request.version == 0) refuse("version 0 is below every installable version: use 1 or more");
  if (!std::isfinite(request.threshold)) refuse("the threshold must be a finite number");
  if (request.self_tests > kMaxSelfTests) {
    refuse("at most " + std::to_string(kMaxSelfTests) + " self-tests fit a manifest");
  }

  const auto view = container::parse_container(request.container);
  if (!view.ok()) {
    refuse(std::string("the model is not a valid model container (") + view.status().name() +
           "): give the SPMC file spindle-make-model or the trainer wrote");
  }
  const auto arena_bytes = inference::required_arena_bytes(request.container);
  if (!arena_bytes.ok()) {
    refuse(std::string("the runtime cannot plan the model's arena: ") +
           arena_bytes.status().name());
  }
  check_budgets(request, *view, static_cast<std::uint32_t>(*arena_bytes));

  // Load it as the node will, in an arena of exactly the size it needs.
  std::vector<std::uint8_t> arena(*arena_bytes + inference::Arena::kAlignment);
  inference::Interpreter interpreter;
  if (const Status s = interpreter.load(request.container, arena); !s.ok()) {
    refuse(std::string("the node's runtime refuses the model: ") + s.name());
  }
  const std::size_t features = features::feature_count(board.sensor_axes);
  if (interpreter.input_size() != features) {
    refuse("the model reads " + std::to_string(interpreter.input_size()) + " inputs; board " +
           name + " computes " + std::to_string(features) + " features (" +
           std::to_string(board.sensor_axes) + " axes x " +
           std::to_string(features::kFeaturesPerAxis) + ")");
  }
  if (!request.baseline.empty() && request.baseline.size() != features) {
    refuse("the baseline has " + std::to_string(request.baseline.size()) + " rows; the model has " +
           std::to_string(features) + " features (one mean,stddev row each)");
  }
  if (request.has_calibration) check_calibration(request, features);
  if (board.window_length > UINT16_MAX) {
    refuse("board " + name + "'s window length " + std::to_string(board.window_length) +
           " exceeds what a manifest carries (65535)");
  }

  PackageInfo info;
  info.model_id = request.model_id;
  info.version = request.version;
  info.board = name;
  info.requirements = {
      .arena_bytes = static_cast<std::uint32_t>(*arena_bytes),
      .flash_bytes = static_cast<std::uint32_t>(request.container.size() + crypto::kCcmTagSize),
      .op_set = view->op_set()};
  info.input = {.feature_count = static_cast<std::uint16_t>(features),
                .sample_rate_hz = board.sensor_rate_hz,
                .window_length = static_cast<std::uint16_t>(board.window_length),
                .axes = board.sensor_axes};
  info.threshold = request.threshold;
  info.baseline = request.baseline;
  info.self_tests = self_tests(request, interpreter, notes);
  info.has_calibration = request.has_calibration;
  info.calibration = request.calibration;
  return info;
}

ByteVector pack(const PackRequest& request, const crypto::EcPrivateKey& signing_key,
                std::string_view kid, std::vector<std::string>* notes) {
  crypto::EcPublicKey public_key{};
  if (!crypto::ec_public_from_private(signing_key, &public_key).ok()) {
    refuse("the signing key is not a valid P-256 private key: make one with spindlectl keygen");
  }
  if (kid.empty() || kid.size() > cose::kMaxKidSize) {
    refuse("the key id must be 1.." + std::to_string(cose::kMaxKidSize) + " bytes");
  }
  const PackageInfo info = describe_model(request, notes);
  const auto file =
      seal_package(info, request.container, cli::random_bytes<crypto::kContentKeySize>(),
                   cli::random_bytes<crypto::kCcmNonceSize>(), signing_key, kid);
  if (!file.ok()) refuse(std::string("sealing the package failed: ") + file.status().name());
  return *file;
}

std::vector<manifest::FeatureBaseline> parse_baseline_csv(std::string_view text,
                                                          const std::string& source) {
  std::vector<manifest::FeatureBaseline> rows;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string line(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.pop_back();
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string where = source + ":" + std::to_string(line_number) + ": ";
    const std::size_t comma = line.find(',');
    float values[2] = {0.0F, 0.0F};
    const std::string fields[2] = {line.substr(first, comma - first),
                                   comma == std::string::npos ? "" : line.substr(comma + 1)};
    for (int i = 0; i < 2; ++i) {
      const std::string& field = fields[i];
      const std::size_t start = field.find_first_not_of(" \t");
      const char* begin = field.data() + (start == std::string::npos ? field.size() : start);
      const char* stop = field.data() + field.size();
      const auto [ptr, ec] = std::from_chars(begin, stop, values[i]);
      if (ec != std::errc() || ptr != stop || begin == stop || !std::isfinite(values[i])) {
        throw std::invalid_argument(where + "'" + line + "' is not \"mean,stddev\" (two numbers)");
      }
    }
    if (values[1] < 0.0F) throw std::invalid_argument(where + "stddev is negative");
    rows.push_back({values[0], values[1]});
  }
  return rows;
}

manifest::Calibration parse_calibration(std::string_view text, const std::string& source) {
  manifest::Calibration c;
  constexpr std::array<std::string_view, 6> kKeys = {"normalization_windows", "threshold_windows",
                                                     "threshold_quantile",    "threshold_margin",
                                                     "threshold_min",         "threshold_max"};
  std::array<bool, kKeys.size()> seen{};
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string line(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    const std::string trimmed(spindle::host::trim(line));
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const std::string where = source + ":" + std::to_string(line_number) + ": ";
    const std::size_t eq = trimmed.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument(where + "'" + trimmed + "' is not key=value");
    const std::string key(spindle::host::trim(std::string_view(trimmed).substr(0, eq)));
    const std::string value(spindle::host::trim(std::string_view(trimmed).substr(eq + 1)));
    const auto found = std::find(kKeys.begin(), kKeys.end(), key);
    if (found == kKeys.end()) throw std::invalid_argument(where + "unknown key '" + key + "'");
    const auto index = static_cast<std::size_t>(found - kKeys.begin());
    if (seen[index]) throw std::invalid_argument(where + key + " given twice");
    seen[index] = true;
    const char* stop = value.data() + value.size();
    if (index < 2) {
      std::uint32_t n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), stop, n);
      if (ec != std::errc() || ptr != stop || value.empty()) {
        throw std::invalid_argument(where + key + " '" + value + "' is not a whole number");
      }
      (index == 0 ? c.normalization_windows : c.threshold_windows) = n;
      continue;
    }
    float v = 0.0F;
    const auto [ptr, ec] = std::from_chars(value.data(), stop, v);
    if (ec != std::errc() || ptr != stop || value.empty() || !std::isfinite(v)) {
      throw std::invalid_argument(where + key + " '" + value + "' is not a finite number");
    }
    float* fields[] = {&c.threshold_quantile, &c.threshold_margin, &c.threshold_min,
                       &c.threshold_max};
    *fields[index - 2] = v;
  }
  for (std::size_t i = 0; i < kKeys.size(); ++i) {
    if (!seen[i]) throw std::invalid_argument(source + ": no " + std::string(kKeys[i]));
  }
  return c;
}

}  // namespace spindle::ctl
