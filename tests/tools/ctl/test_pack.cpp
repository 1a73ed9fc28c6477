// tools/ctl pack: a model checked against boards/nrf52840dk (16 KiB arena, 128 KiB slots),
// each budget refused with its numbers, and self-test vectors the runtime reproduces.
#include "spindle/ctl/pack.hpp"

#include <gtest/gtest.h>

#include <string>

#include "spindle/boards/board_lookup.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/inference/arena.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "test_support.hpp"

namespace spindle::ctl {
namespace {

using crypto::as_bytes;

board::BoardProfile nrf52840dk() {
  std::string problem;
  const auto profile = boards::load_board("nrf52840dk", &problem);
  EXPECT_TRUE(profile.ok()) << problem;
  return *profile;
}

ByteVector model(std::vector<std::size_t> widths) {
  const auto random = modelkit::random_autoencoder(widths, 1);
  EXPECT_TRUE(random.ok()) << random.status().name();
  const auto packed = modelkit::pack_autoencoder(random->model, random->calibration);
  EXPECT_TRUE(packed.ok()) << packed.status().name();
  return packed->container;
}

PackRequest request(ByteVector container) {
  PackRequest r;
  r.container = std::move(container);
  r.model_id = "vib-ae";
  r.version = 3;
  r.board = nrf52840dk();
  r.threshold = 0.5F;
  return r;
}

struct Signer {
  crypto::EcPrivateKey priv = crypto::Sha256::of(as_bytes("operator"));
  crypto::EcPublicKey pub{};
  Signer() { EXPECT_TRUE(crypto::ec_public_from_private(priv, &pub).ok()); }
};

// The message pack refuses `r` with ("" when it does not).
std::string refusal(const PackRequest& r) {
  std::vector<std::string> notes;
  try {
    (void)describe_model(r, &notes);
  } catch (const PackRefused& e) {
    return e.what();
  }
  return "";
}

TEST(Pack, PackageReadsBackEveryField) {
  const Signer s;
  PackRequest r = request(model({45, 16, 8, 16, 45}));
  r.baseline.assign(45, {0.25F, 1.5F});
  std::vector<std::string> notes;
  const ByteVector file = pack(r, s.priv, "op-1", &notes);
  EXPECT_TRUE(notes.empty());
  const cose::TrustedKey trusted{as_bytes("op-1"), s.pub};
  const auto package = verify_package(file, {&trusted, 1});
  ASSERT_TRUE(package.ok()) << package.status().name();
  const PackageInfo& info = package->info;
  const board::BoardProfile board = nrf52840dk();
  EXPECT_EQ(info.model_id, "vib-ae");
  EXPECT_EQ(info.version, 3U);
  EXPECT_EQ(info.board, "nrf52840dk");
  EXPECT_EQ(info.payload_size, r.container.size() + crypto::kCcmTagSize);
  EXPECT_EQ(info.payload_digest, crypto::Sha256::of(package->ciphertext));
  EXPECT_EQ(info.requirements.arena_bytes, *inference::required_arena_bytes(r.container));
  EXPECT_EQ(info.requirements.flash_bytes, info.payload_size);
  EXPECT_EQ(info.requirements.op_set, container::parse_container(r.container)->op_set());
  EXPECT_EQ(info.input.feature_count, 45);
  EXPECT_EQ(info.input.sample_rate_hz, board.sensor_rate_hz);
  EXPECT_EQ(info.input.window_length, board.window_length);
  EXPECT_EQ(info.input.axes, board.sensor_axes);
  EXPECT_EQ(info.threshold, 0.5F);
  ASSERT_EQ(info.baseline.size(), 45U);
  EXPECT_EQ(info.baseline[44].mean, 0.25F);
  EXPECT_EQ(info.baseline[44].stddev, 1.5F);
  ASSERT_EQ(info.self_tests.size(), kMaxSelfTests);
  const auto key = unwrap_content_key(info, s.priv, "op-1");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*decrypt_payload(*package, *key), r.container);
}

TEST(Pack, SelfTestVectorsReproduceWithTheInterpreter) {
  const Signer s;
  const PackRequest r = request(model({45, 16, 8, 16, 45}));
  std::vector<std::string> notes;
  const auto package = read_package(pack(r, s.priv, "op-1", &notes));
  ASSERT_TRUE(package.ok());
  // What the node does: decrypt, load, run every vector from its int8 entry.
  const ByteVector container =
      *decrypt_payload(*package, *unwrap_content_key(package->info, s.priv, "op-1"));
  std::vector<std::uint8_t> arena(package->info.requirements.arena_bytes +
                                  inference::Arena::kAlignment);
  inference::Interpreter interpreter;
  ASSERT_TRUE(interpreter.load(container, arena).ok());
  ASSERT_EQ(package->info.self_tests.size(), 4U);
  for (const SelfTestVector& test : package->info.self_tests) {
    ASSERT_EQ(test.input.size(), 45U);
    const std::span<const std::int8_t> input(
        reinterpret_cast<const std::int8_t*>(test.input.data()), test.input.size());
    ASSERT_TRUE(interpreter.invoke_int8(input).ok());
    const auto output = interpreter.int8_output();
    EXPECT_EQ(ByteVector(reinterpret_cast<const std::uint8_t*>(output.data()),
                         reinterpret_cast<const std::uint8_t*>(output.data()) + output.size()),
              test.expected_output);
  }
  // Distinct inputs, and the same ones for the same seed.
  EXPECT_NE(package->info.self_tests[0].input, package->info.self_tests[1].input);
  const auto again = describe_model(r, &notes);
  EXPECT_EQ(again.self_tests, package->info.self_tests);
}

TEST(Pack, SelfTestCountAndSeedAreHonoured) {
  PackRequest r = request(model({45, 16, 45}));
  std::vector<std::string> notes;
  r.self_tests = 0;
  EXPECT_TRUE(describe_model(r, &notes).self_tests.empty());
  r.self_tests = 2;
  const auto two = describe_model(r, &notes).self_tests;
  EXPECT_EQ(two.size(), 2U);
  r.seed = 2;
  EXPECT_NE(describe_model(r, &notes).self_tests, two);
  EXPECT_TRUE(notes.empty());
}

TEST(Pack, RefusesAModelWhoseArenaExceedsTheBoards) {
  // 17,712 arena bytes: over CONFIG_MODEL_ARENA_SIZE=16384, while the payload fits a slot.
  const std::string why = refusal(request(model({45, 1200, 45})));
  EXPECT_NE(why.find("needs 17712 arena bytes"), std::string::npos) << why;
  EXPECT_NE(why.find("CONFIG_MODEL_ARENA_SIZE=16384"), std::string::npos) << why;
}

TEST(Pack, RefusesAPayloadLargerThanASlot) {
  // 154,776 container bytes; a slot of nrf52840dk holds 131072 - 4096 = 126976.
  const PackRequest r = request(model({45, 250, 250, 250, 45}));
  const std::string why = refusal(r);
  EXPECT_NE(why.find("payload is " + std::to_string(r.container.size() + 16) + " bytes"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("holds 126976"), std::string::npos) << why;
}

TEST(Pack, RefusesAPayloadLargerThanTheModelRam) {
  // About 90 KB: fits a 124 KiB slot of nrf52840dk, not its 48 KiB of model RAM.
  const PackRequest r = request(model({45, 1000, 45}));
  const std::string why = refusal(r);
  EXPECT_NE(why.find("CONFIG_MODEL_RAM_SIZE"), std::string::npos) << why;
  EXPECT_NE(why.find("49152 bytes of model RAM"), std::string::npos) << why;
}

// The message check_shadow_fit refuses the described model with ("" when it fits).
std::string shadow_refusal(const PackRequest& r) {
  std::vector<std::string> notes;
  PackageInfo info = describe_model(r, &notes);
  info.payload_size = static_cast<std::uint32_t>(r.container.size() + crypto::kCcmTagSize);
  try {
    check_shadow_fit(info, r.board);
  } catch (const PackRefused& e) {
    return e.what();
  }
  return "";
}

TEST(Pack, AShadowMustFitTheBoardsShadowMemoryNamingTheNumbers) {
  // nrf52840dk gives a shadow 8 KiB of arena and 24 KiB of model RAM.
  EXPECT_EQ(shadow_refusal(request(model({45, 16, 8, 16, 45}))), "");
  // About 36 KB: fits the active model's 48 KiB of model RAM, not the shadow's 24 KiB.
  const PackRequest wide = request(model({45, 400, 45}));
  ASSERT_EQ(refusal(wide), "");
  std::string why = shadow_refusal(wide);
  EXPECT_NE(why.find("CONFIG_SHADOW_MODEL_RAM_SIZE=24576"), std::string::npos) << why;
  EXPECT_NE(why.find("roll it out as the active model"), std::string::npos) << why;
  // An arena over the shadow's, the rest fitting.
  PackRequest small_arena = request(model({45, 16, 8, 16, 45}));
  small_arena.board.shadow_arena_bytes = 512;
  why = shadow_refusal(small_arena);
  EXPECT_NE(why.find("CONFIG_SHADOW_ARENA_SIZE=512"), std::string::npos) << why;
  // A board without room for a shadow refuses every one.
  PackRequest none = request(model({45, 16, 8, 16, 45}));
  none.board.shadow_arena_bytes = 0;
  none.board.shadow_model_ram_bytes = 0;
  why = shadow_refusal(none);
  EXPECT_NE(why.find("no room for a model in shadow"), std::string::npos) << why;
}

TEST(Pack, RefusesAnInputThatIsNotTheBoardsFeatureVector) {
  const std::string why = refusal(request(model({30, 8, 30})));
  EXPECT_NE(why.find("reads 30 inputs"), std::string::npos) << why;
  EXPECT_NE(why.find("computes 45 features"), std::string::npos) << why;
}

TEST(Pack, OpSetIsTheRuntimesKernels) {
  // Every opcode the container format defines has a kernel (bits 1..7), so no container
  // that parses can exceed the op set; the check guards a format that grows first.
  EXPECT_EQ(inference::runtime_op_set(), 0xFEU);
}

TEST(Pack, RefusesWhatIsNotAModelOrNotAValidRequest) {
  EXPECT_NE(refusal(request(ByteVector(100, 0))).find("not a valid model container"),
            std::string::npos);
  PackRequest r = request(model({45, 16, 45}));
  r.model_id = "no spaces";
  EXPECT_NE(refusal(r).find("model id 'no spaces'"), std::string::npos);
  r = request(model({45, 16, 45}));
  r.version = 0;
  EXPECT_NE(refusal(r).find("version 0"), std::string::npos);
  r = request(model({45, 16, 45}));
  r.baseline.assign(44, {0.0F, 1.0F});
  EXPECT_NE(refusal(r).find("baseline has 44 rows"), std::string::npos);
}

TEST(Pack, RefusesWithoutAValidSigningKey) {
  const PackRequest r = request(model({45, 16, 45}));
  std::vector<std::string> notes;
  const crypto::EcPrivateKey zero{};  // not a P-256 scalar
  EXPECT_THROW((void)pack(r, zero, "op-1", &notes), PackRefused);
  EXPECT_THROW((void)pack(r, Signer().priv, "", &notes), PackRefused);
}

TEST(Pack, BaselineCsvIsOneMeanStddevRowPerFeature) {
  const auto rows = parse_baseline_csv("# mean,stddev\n0.5,0.25\n\n-1e-3, 2\r\n", "b.csv");
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].mean, 0.5F);
  EXPECT_EQ(rows[1].mean, -1e-3F);
  EXPECT_EQ(rows[1].stddev, 2.0F);
  EXPECT_THROW((void)parse_baseline_csv("1\n", "b.csv"), std::invalid_argument);
  EXPECT_THROW((void)parse_baseline_csv("1,2,3\n", "b.csv"), std::invalid_argument);
  EXPECT_THROW((void)parse_baseline_csv("1,-2\n", "b.csv"), std::invalid_argument);
  EXPECT_THROW((void)parse_baseline_csv("nan,2\n", "b.csv"), std::invalid_argument);
  try {
    (void)parse_baseline_csv("1,1\n1,x\n", "b.csv");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("b.csv:2:"), std::string::npos) << e.what();
  }
}

TEST(Pack, CalibrationFileIsTheTrainersKeyValueLines) {
  const auto c = parse_calibration(
      "# the node's calibration\nnormalization_windows=300\nthreshold_windows = 600\n\n"
      "threshold_quantile=0.995\nthreshold_margin=1.5\nthreshold_min=0.03\n"
      "threshold_max=110\r\n",
      "cal");
  EXPECT_EQ(c.normalization_windows, 300U);
  EXPECT_EQ(c.threshold_windows, 600U);
  EXPECT_FLOAT_EQ(c.threshold_quantile, 0.995F);
  EXPECT_FLOAT_EQ(c.threshold_max, 110.0F);
  const std::string full =
      "normalization_windows=300\nthreshold_windows=600\nthreshold_quantile=0.995\n"
      "threshold_margin=1.5\nthreshold_min=0.03\nthreshold_max=110\n";
  const auto refusal_of = [](const std::string& text) -> std::string {
    try {
      (void)parse_calibration(text, "cal");
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(refusal_of(full + "threshold_max=5\n").find("cal:7: threshold_max given twice"),
            std::string::npos);
  EXPECT_NE(refusal_of(full + "colour=red\n").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(refusal_of("threshold_windows=600\n").find("cal: no normalization_windows"),
            std::string::npos);
  EXPECT_NE(refusal_of("normalization_windows=-3\n").find("is not a whole number"),
            std::string::npos);
  EXPECT_NE(refusal_of("threshold_min=nan\n").find("is not a finite number"), std::string::npos);
}

TEST(Pack, RefusesACalibrationTheManifestWouldRefuseNamingTheRule) {
  PackRequest r = request(model({45, 16, 8, 16, 45}));
  r.has_calibration = true;
  r.calibration = {.normalization_windows = 300,
                   .threshold_windows = 600,
                   .threshold_quantile = 0.995F,
                   .threshold_margin = 1.5F,
                   .threshold_min = 0.1F,
                   .threshold_max = 10.0F};
  EXPECT_NE(refusal(r).find("a calibration needs the training baseline"), std::string::npos);
  r.baseline.assign(45, {1.0F, 0.5F});
  EXPECT_EQ(refusal(r), "");
  PackRequest outside = r;
  outside.threshold = 20.0F;
  EXPECT_NE(refusal(outside).find("outside the calibration bounds"), std::string::npos);
  PackRequest short_period = r;
  short_period.calibration.normalization_windows = 8;
  EXPECT_NE(refusal(short_period).find("normalization_windows 8"), std::string::npos);
  PackRequest long_tail = r;
  long_tail.calibration.threshold_quantile = 0.5F;
  EXPECT_NE(refusal(long_tail).find("highest scores kept"), std::string::npos);
}

}  // namespace
}  // namespace spindle::ctl
