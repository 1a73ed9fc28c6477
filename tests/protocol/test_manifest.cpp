// protocol/manifest: round trip, and each schema violation refused with its own error.
#include "spindle/protocol/manifest.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <vector>

#include "spindle/protocol/cbor_reader.hpp"
#include "spindle/protocol/cbor_writer.hpp"
#include "test_support.hpp"

namespace spindle::manifest {
namespace {

const std::array<std::uint8_t, 32> kDigest = {1, 2, 3};
const std::array<std::uint8_t, 7> kNonce = {9, 9, 9, 9, 9, 9, 9};
const std::array<std::uint8_t, 24> kWrapped = {7};
const std::array<std::uint8_t, 4> kIn = {1, 2, 3, 4};
const std::array<std::uint8_t, 1> kOut = {5};

Manifest valid() {
  Manifest m;
  m.model_id = "pump-ae";
  m.version = 12;
  m.device_id = "pump-17";
  m.payload_digest = kDigest;
  m.payload_size = 5000;
  m.encryption.nonce = kNonce;
  m.encryption.wrapped_key = kWrapped;
  m.requirements = {.arena_bytes = 2048, .flash_bytes = 6000, .op_set = 0x7};
  m.input = {.feature_count = 2, .sample_rate_hz = 1600, .window_length = 512, .axes = 1};
  m.threshold = 1.5F;
  m.baseline_count = 2;
  m.baseline[0] = {0.25F, 1.0F};
  m.baseline[1] = {-3.0F, 0.5F};
  m.self_test_count = 1;
  m.self_tests[0] = {kIn, kOut};
  return m;
}

std::vector<std::uint8_t> encoded(const Manifest& m) {
  std::vector<std::uint8_t> buffer(1024);
  const auto out = encode(m, buffer);
  EXPECT_TRUE(out.ok()) << out.status().name();
  return {out->begin(), out->end()};
}

TEST(Manifest, RoundTripsEveryField) {
  const auto bytes = encoded(valid());
  const auto m = decode(bytes);
  ASSERT_TRUE(m.ok()) << m.status().name();
  EXPECT_EQ(m->model_id, "pump-ae");
  EXPECT_EQ(m->version, 12U);
  EXPECT_EQ(m->device_id, "pump-17");
  EXPECT_TRUE(std::equal(m->payload_digest.begin(), m->payload_digest.end(), kDigest.begin()));
  EXPECT_EQ(m->payload_size, 5000U);
  EXPECT_EQ(m->encryption.alg, 33);
  EXPECT_EQ(m->encryption.nonce.size(), 7U);
  EXPECT_EQ(m->encryption.wrapped_key.size(), 24U);
  EXPECT_EQ(m->requirements.arena_bytes, 2048U);
  EXPECT_EQ(m->requirements.flash_bytes, 6000U);
  EXPECT_EQ(m->requirements.op_set, 0x7U);
  EXPECT_EQ(m->input.feature_count, 2U);
  EXPECT_EQ(m->input.sample_rate_hz, 1600U);
  EXPECT_EQ(m->input.window_length, 512U);
  EXPECT_EQ(m->input.axes, 1U);
  EXPECT_EQ(m->threshold, 1.5F);
  ASSERT_EQ(m->baseline_count, 2U);
  EXPECT_EQ(m->baseline[1].mean, -3.0F);
  EXPECT_EQ(m->baseline[1].stddev, 0.5F);
  ASSERT_EQ(m->self_test_count, 1U);
  EXPECT_EQ(m->self_tests[0].input.size(), 4U);
  EXPECT_EQ(m->self_tests[0].expected_output[0], 5U);
}

TEST(Manifest, TheShadowRoleRoundTripsAndTheActiveRoleIsNeverSent) {
  Manifest m = valid();
  const auto active = encoded(m);
  EXPECT_EQ(decode(active)->role, ManifestRole::kActive);
  m.role = ManifestRole::kShadow;
  const auto shadow = encoded(m);
  EXPECT_EQ(shadow.size(), active.size() + 2);  // key 13 and its value 1
  EXPECT_EQ(decode(shadow)->role, ManifestRole::kShadow);
  // An explicit 0 (the active role) is refused: one manifest, one encoding.
  std::vector<std::uint8_t> explicit_active = shadow;
  explicit_active.back() = 0x00;
  EXPECT_EQ(decode(explicit_active).status(), Status(Error::kInvalidValue));
}

TEST(Manifest, OptionalBaselineAndSelfTestsMayBeAbsent) {
  Manifest m = valid();
  m.baseline_count = 0;
  m.self_test_count = 0;
  const auto bytes = encoded(m);
  const auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->baseline_count, 0U);
}

// Re-encodes a valid manifest with one top-level entry replaced, added or dropped.
std::vector<std::uint8_t> with_entry(std::int64_t key,
                                     const std::function<void(cbor::Writer&)>& value,
                                     bool drop = false) {
  const auto base = encoded(valid());
  // Decode to a generic list of (key, raw value bytes) by walking with the reader.
  cbor::Reader r(base);
  const auto count = r.read_map(32);
  std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> entries;
  for (std::size_t i = 0; i < *count; ++i) {
    const auto k = r.read_int();
    const std::size_t start = r.offset();
    EXPECT_TRUE(r.skip().ok());
    entries.emplace_back(*k,
                         std::vector<std::uint8_t>(base.begin() + static_cast<long>(start),
                                                   base.begin() + static_cast<long>(r.offset())));
  }
  std::vector<std::uint8_t> out(2048);
  cbor::Writer w(out);
  std::size_t n = entries.size();
  bool replaced = false;
  for (const auto& e : entries)
    replaced |= e.first == key;
  if (drop) --n;
  if (!replaced && !drop) ++n;
  w.map(n);
  for (const auto& e : entries) {
    if (e.first == key) {
      if (drop) continue;
      w.integer(key);
      value(w);
    } else {
      w.integer(e.first).raw(e.second);
    }
  }
  if (!replaced && !drop) {
    w.integer(key);
    value(w);
  }
  out.resize(w.size());
  return out;
}

TEST(Manifest, AWindowActivationRoundTripsAndImmediateIsNeverSent) {
  Manifest m = valid();
  const auto immediate = encoded(m);
  EXPECT_EQ(decode(immediate)->activation.mode, ActivationMode::kImmediate);
  m.activation = {ActivationMode::kWindow, 1380, 180};  // 23:00 for 3 h, past midnight
  const auto window = encoded(m);
  // Key 14 and a map of three: {1: 1, 2: 1380, 3: 180}.
  EXPECT_EQ(window.size(), immediate.size() + 1 + 1 + 2 + 4 + 3);
  const auto back = decode(window);
  ASSERT_TRUE(back.ok()) << back.status().name();
  EXPECT_EQ(back->activation.mode, ActivationMode::kWindow);
  EXPECT_EQ(back->activation.window_start_min, 1380U);
  EXPECT_EQ(back->activation.window_length_min, 180U);
}

TEST(Manifest, AnIdleActivationRoundTripsWithoutAWindow) {
  Manifest m = valid();
  const auto immediate = encoded(m);
  m.activation.mode = ActivationMode::kIdle;
  const auto idle = encoded(m);
  EXPECT_EQ(idle.size(), immediate.size() + 4);  // 14, map(1), 1, 2
  const auto back = decode(idle);
  ASSERT_TRUE(back.ok()) << back.status().name();
  EXPECT_EQ(back->activation.mode, ActivationMode::kIdle);
}

TEST(Manifest, EveryMalformedActivationIsRefusedWithItsReason) {
  const auto activation = [](std::initializer_list<std::pair<std::int64_t, std::int64_t>> keys) {
    return with_entry(14, [keys](cbor::Writer& w) {
      w.map(keys.size());
      for (const auto& [key, value] : keys) {
        w.integer(key);
        w.integer(value);
      }
    });
  };
  const auto refused = [&](std::initializer_list<std::pair<std::int64_t, std::int64_t>> keys) {
    return decode(activation(keys)).status();
  };
  ASSERT_TRUE(decode(activation({{1, 1}, {2, 0}, {3, 1440}})).ok());
  ASSERT_TRUE(decode(activation({{1, 2}})).ok());
  // An explicit "at once" would be a second encoding of key 14's absence.
  EXPECT_EQ(refused({{1, 0}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 3}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{2, 60}, {3, 60}}), Status(Error::kMissingField));
  EXPECT_EQ(refused({{1, 1}}), Status(Error::kMissingField));
  EXPECT_EQ(refused({{1, 1}, {2, 60}}), Status(Error::kMissingField));
  EXPECT_EQ(refused({{1, 1}, {3, 60}}), Status(Error::kMissingField));
  EXPECT_EQ(refused({{1, 1}, {2, 1440}, {3, 60}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 1}, {2, 60}, {3, 0}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 1}, {2, 60}, {3, 1441}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 1}, {2, -1}, {3, 60}}), Status(Error::kWrongType));
  EXPECT_EQ(refused({{1, 2}, {2, 60}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 2}, {3, 60}}), Status(Error::kInvalidValue));
  EXPECT_EQ(refused({{1, 2}, {4, 1}}), Status(Error::kUnknownCriticalField));
  EXPECT_EQ(refused({{1, 2}, {1, 2}}), Status(Error::kDuplicateKey));
  EXPECT_EQ(decode(with_entry(14, [](cbor::Writer& w) { w.uint(1); })).status(),
            Status(Error::kWrongType));
}

TEST(Manifest, TheEncoderRefusesAnActivationTheDecoderWould) {
  std::array<std::uint8_t, 1024> out{};
  Manifest m = valid();
  m.activation = {ActivationMode::kWindow, 1440, 60};
  EXPECT_EQ(encode(m, out).status(), Status(Error::kInvalidValue));
  m.activation = {ActivationMode::kWindow, 0, 0};
  EXPECT_EQ(encode(m, out).status(), Status(Error::kInvalidValue));
  m.activation = {ActivationMode::kIdle, 10, 0};
  EXPECT_EQ(encode(m, out).status(), Status(Error::kInvalidValue));
  m.activation = {ActivationMode::kImmediate, 0, 30};
  EXPECT_EQ(encode(m, out).status(), Status(Error::kInvalidValue));
  m.activation = {static_cast<ActivationMode>(3), 0, 0};
  EXPECT_EQ(encode(m, out).status(), Status(Error::kInvalidValue));
}

TEST(Manifest, AWindowContainsItsStartNotItsEndAndMayWrapPastMidnight) {
  const Activation day{ActivationMode::kWindow, 120, 60};  // 02:00-03:00
  EXPECT_FALSE(window_contains(day, 119));
  EXPECT_TRUE(window_contains(day, 120));
  EXPECT_TRUE(window_contains(day, 179));
  EXPECT_FALSE(window_contains(day, 180));
  const Activation night{ActivationMode::kWindow, 1380, 180};  // 23:00-02:00
  EXPECT_FALSE(window_contains(night, 1379));
  EXPECT_TRUE(window_contains(night, 1380));
  EXPECT_TRUE(window_contains(night, 1439));
  EXPECT_TRUE(window_contains(night, 0));
  EXPECT_TRUE(window_contains(night, 119));
  EXPECT_FALSE(window_contains(night, 120));
  const Activation always{ActivationMode::kWindow, 700, 1440};
  for (std::uint32_t minute = 0; minute < kMinutesPerDay; minute += 7) {
    EXPECT_TRUE(window_contains(always, minute)) << minute;
  }
  EXPECT_FALSE(window_contains(always, kMinutesPerDay));  // not a minute of the day
  EXPECT_FALSE(window_contains(Activation{ActivationMode::kIdle, 0, 0}, 0));
  EXPECT_FALSE(window_contains(Activation{}, 0));
}

TEST(Manifest, MissingRequiredFieldIsMissingField) {
  for (std::int64_t key = 1; key <= 9; ++key) {
    EXPECT_EQ(decode(with_entry(key, nullptr, true)).status(), Status(Error::kMissingField))
        << "key " << key;
  }
}

TEST(Manifest, UnknownNonNegativeKeyIsAnUnknownCriticalField) {
  EXPECT_EQ(decode(with_entry(40, [](cbor::Writer& w) { w.uint(1); })).status(),
            Status(Error::kUnknownCriticalField));
}

TEST(Manifest, UnknownNegativeKeyIsAnIgnoredExtension) {
  const auto m = decode(with_entry(-7, [](cbor::Writer& w) { w.text("vendor note"); }));
  EXPECT_TRUE(m.ok()) << m.status().name();
}

TEST(Manifest, WrongTypeIsWrongType) {
  EXPECT_EQ(decode(with_entry(2, [](cbor::Writer& w) { w.text("12"); })).status(),
            Status(Error::kWrongType));
}

TEST(Manifest, DuplicateKeyIsDuplicateKey) {
  auto bytes = encoded(valid());
  // Append a second version entry and bump the map count (first byte 0xab = map(11)).
  ASSERT_EQ(bytes[0], 0xab);
  bytes[0] = 0xac;
  bytes.push_back(0x02);
  bytes.push_back(0x0d);
  EXPECT_EQ(decode(bytes).status(), Status(Error::kDuplicateKey));
}

TEST(Manifest, TrailingBytesAreRefused) {
  auto bytes = encoded(valid());
  bytes.push_back(0x00);
  EXPECT_EQ(decode(bytes).status(), Status(Error::kTrailingBytes));
}

TEST(Manifest, IndefiniteLengthIsRefused) {
  EXPECT_EQ(decode(with_entry(1,
                              [](cbor::Writer& w) {
                                const std::uint8_t indefinite_text[] = {0x7f, 0x61, 'a', 0xff};
                                w.raw(indefinite_text);
                              }))
                .status(),
            Status(Error::kIndefiniteLength));
}

TEST(Manifest, OversizeIdAndTooManySelfTestsAreOversize) {
  EXPECT_EQ(
      decode(with_entry(
                 1, [](cbor::Writer& w) { w.text("a-model-id-that-is-far-longer-than-32-chars"); }))
          .status(),
      Status(Error::kOversize));
  EXPECT_EQ(decode(with_entry(11,
                              [](cbor::Writer& w) {
                                w.array(5);
                                for (int i = 0; i < 5; ++i)
                                  w.array(2).bytes(kIn).bytes(kOut);
                              }))
                .status(),
            Status(Error::kOversize));
}

TEST(Manifest, DigestOfWrongLengthIsInvalid) {
  EXPECT_EQ(decode(with_entry(4, [](cbor::Writer& w) { w.bytes(kNonce); })).status(),
            Status(Error::kInvalidValue));
}

TEST(Manifest, BaselineCountMustMatchFeatureCount) {
  EXPECT_EQ(
      decode(
          with_entry(10, [](cbor::Writer& w) { w.array(1).array(2).float32(0.0F).float32(1.0F); }))
          .status(),
      Status(Error::kInvalidValue));
}

TEST(Manifest, OtherEncryptionAlgorithmIsUnsupported) {
  EXPECT_EQ(
      decode(with_entry(6,
                        [](cbor::Writer& w) {
                          w.map(3).uint(1).integer(3).uint(2).bytes(kNonce).uint(3).bytes(kWrapped);
                        }))
          .status(),
      Status(Error::kUnsupportedAlgorithm));
}

TEST(Manifest, NonFiniteThresholdIsInvalid) {
  EXPECT_EQ(
      decode(with_entry(
                 9, [](cbor::Writer& w) { w.float64(std::numeric_limits<double>::infinity()); }))
          .status(),
      Status(Error::kInvalidValue));
}

TEST(Manifest, IdWithPathCharactersIsInvalid) {
  EXPECT_EQ(decode(with_entry(3, [](cbor::Writer& w) { w.text("../etc"); })).status(),
            Status(Error::kInvalidValue));
}

TEST(Manifest, EncoderRefusesWhatTheDecoderWouldRefuse) {
  Manifest m = valid();
  m.device_id = "";
  std::array<std::uint8_t, 1024> buffer{};
  EXPECT_EQ(encode(m, buffer).status(), Status(Error::kInvalidValue));
  m = valid();
  std::array<std::uint8_t, 16> small{};
  EXPECT_EQ(encode(m, small).status(), Status(Error::kBufferTooSmall));
}

TEST(Manifest, EveryTruncationIsRefusedWithoutFault) {
  const auto bytes = encoded(valid());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decode({bytes.data(), n}).ok()) << n;
  }
}

}  // namespace
}  // namespace spindle::manifest
