// protocol/status_report: update, attestation and calibration reports round trip; mixed or
// incomplete reports are refused, and so is every calibration report validate_calibration
// rules out, from the encoder and from the decoder alike; the attestation MAC binds every
// input.
#include "spindle/protocol/status_report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "spindle/protocol/cbor_writer.hpp"

#include "test_support.hpp"

namespace spindle::status_report {
namespace {

const std::array<std::uint8_t, 16> kNonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
const std::array<std::uint8_t, 32> kDigest = {0x42};
const std::array<std::uint8_t, 32> kKey = {0x99};

std::vector<std::uint8_t> encoded(const StatusReport& r) {
  std::vector<std::uint8_t> buffer(512);
  const auto out = encode(r, buffer);
  EXPECT_TRUE(out.ok()) << out.status().name();
  return {out->begin(), out->end()};
}

TEST(StatusReport, UpdateReportRoundTripsWithReason) {
  StatusReport r;
  r.update = {"fan-km", 9, InstallState::kRolledBack, Error::kDigestMismatch, "block 12"};
  const auto bytes = encoded(r);  // decoded views point into these bytes
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().name();
  EXPECT_EQ(d->kind, Kind::kUpdate);
  EXPECT_EQ(d->update.model_id, "fan-km");
  EXPECT_EQ(d->update.version, 9U);
  EXPECT_EQ(d->update.state, InstallState::kRolledBack);
  EXPECT_EQ(d->update.reason, Error::kDigestMismatch);
  EXPECT_EQ(d->update.detail, "block 12");
}

TEST(StatusReport, AttestationRoundTripsAndItsMacVerifies) {
  const auto mac = attestation_mac(kKey, "fan-3", kNonce, kDigest, "2.0.0");
  ASSERT_TRUE(mac.ok());
  StatusReport r;
  r.kind = Kind::kAttestation;
  r.attestation = {kNonce, kDigest, "2.0.0", *mac};
  const auto bytes = encoded(r);
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().name();
  const auto expected =
      attestation_mac(kKey, "fan-3", d->attestation.nonce, d->attestation.active_digest,
                      d->attestation.firmware_version);
  EXPECT_TRUE(crypto::equal_constant_time(*expected, d->attestation.mac));
}

TEST(StatusReport, AttestationMacChangesWithEveryInput) {
  const auto base = *attestation_mac(kKey, "fan-3", kNonce, kDigest, "2.0.0");
  auto other_nonce = kNonce;
  other_nonce[0] ^= 1;
  auto other_digest = kDigest;
  other_digest[31] ^= 1;
  EXPECT_NE(base, *attestation_mac(kKey, "fan-4", kNonce, kDigest, "2.0.0"));
  EXPECT_NE(base, *attestation_mac(kKey, "fan-3", other_nonce, kDigest, "2.0.0"));
  EXPECT_NE(base, *attestation_mac(kKey, "fan-3", kNonce, other_digest, "2.0.0"));
  EXPECT_NE(base, *attestation_mac(kKey, "fan-3", kNonce, kDigest, "2.0.1"));
}

TEST(StatusReport, ShortNonceIsRefused) {
  EXPECT_EQ(attestation_mac(kKey, "fan-3", {kNonce.data(), 4}, kDigest, "2.0.0").status(),
            Status(Error::kInvalidValue));
}

TEST(StatusReport, FieldsOfTheOtherKindAreRefused) {
  // {1: 0, 2: "m", 3: 1, 4: 0, 5: 0, 7: h'0102030405060708'}
  const auto bytes = test::from_hex("a6 0100 02616d 0301 0400 0500 07480102030405060708");
  EXPECT_EQ(decode(bytes).status(), Status(Error::kInvalidValue));
}

TEST(StatusReport, IncompleteAttestationIsMissingField) {
  const auto bytes = test::from_hex("a2 0101 07480102030405060708");
  EXPECT_EQ(decode(bytes).status(), Status(Error::kMissingField));
}

TEST(StatusReport, UnknownReasonCodeIsInvalid) {
  // {1: 0, 2: "m", 3: 1, 4: 0, 5: 200}
  const auto bytes = test::from_hex("a5 0100 02616d 0301 0400 0518c8");
  EXPECT_EQ(decode(bytes).status(), Status(Error::kInvalidValue));
}

// ---- Calibration reports ----

// Two features, (0.5, 0.25) and (-1.0, 2.0), float32 little-endian.
const std::array<std::uint8_t, 16> kNormalization = {
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};

StatusReport calibration_report(CalibrationState state = CalibrationState::kCalibrated) {
  StatusReport r;
  r.kind = Kind::kCalibration;
  r.calibration = {.model_id = "vib-ae",
                   .version = 4,
                   .state = state,
                   .generation = 2,
                   .windows_done = 600,
                   .windows_total = 600,
                   .threshold = 0.8125F,
                   .clamp = ThresholdClamp::kUpper,
                   .normalization = {}};
  if (state == CalibrationState::kThresholding || state == CalibrationState::kCalibrated) {
    r.calibration.normalization = kNormalization;
  }
  return r;
}

Status encode_status(const StatusReport& r) {
  std::vector<std::uint8_t> buffer(1024);
  return encode(r, buffer).status();
}

// A calibration report's CBOR written field by field, so that the decoder can be shown
// what the encoder refuses to produce. Each field is written when it has a value.
struct RawCalibration {
  std::optional<std::uint64_t> kind = 2;
  std::optional<std::string_view> model_id = "vib-ae";
  std::optional<std::uint64_t> version = 4;
  std::optional<std::uint64_t> state = 3;
  std::optional<std::uint64_t> generation = 1;
  std::optional<std::uint64_t> windows_done = 600;
  std::optional<std::uint64_t> windows_total = 600;
  std::optional<float> threshold = 0.8125F;
  std::optional<std::uint64_t> clamp = 0;
  std::optional<std::vector<std::uint8_t>> normalization =
      std::vector<std::uint8_t>(kNormalization.begin(), kNormalization.end());
  std::optional<std::uint64_t> install_state;  // key 4, an update report's
  std::optional<std::uint64_t> reason;         // key 5, an update report's

  std::vector<std::uint8_t> encode() const {
    std::size_t count = 0;
    for (const bool present :
         {kind.has_value(), model_id.has_value(), version.has_value(), state.has_value(),
          generation.has_value(), windows_done.has_value(), windows_total.has_value(),
          threshold.has_value(), clamp.has_value(), normalization.has_value(),
          install_state.has_value(), reason.has_value()}) {
      count += present ? 1 : 0;
    }
    std::vector<std::uint8_t> buffer(1024);
    cbor::Writer w(buffer);
    w.map(count);
    if (kind) w.uint(1).uint(*kind);
    if (model_id) w.uint(2).text(*model_id);
    if (version) w.uint(3).uint(*version);
    if (install_state) w.uint(4).uint(*install_state);
    if (reason) w.uint(5).uint(*reason);
    if (state) w.uint(11).uint(*state);
    if (generation) w.uint(12).uint(*generation);
    if (windows_done) w.uint(13).uint(*windows_done);
    if (windows_total) w.uint(14).uint(*windows_total);
    if (threshold) w.uint(15).float32(*threshold);
    if (clamp) w.uint(16).uint(*clamp);
    if (normalization) w.uint(17).bytes(*normalization);
    const auto out = w.finish();
    EXPECT_TRUE(out.ok());
    return {out->begin(), out->end()};
  }
};

Status decode_status(const RawCalibration& raw) {
  const auto bytes = raw.encode();
  return decode(bytes).status();
}

TEST(StatusReport, CalibrationReportRoundTripsWithItsNormalization) {
  const auto bytes = encoded(calibration_report());
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().name();
  EXPECT_EQ(d->kind, Kind::kCalibration);
  const CalibrationReport& c = d->calibration;
  EXPECT_EQ(c.model_id, "vib-ae");
  EXPECT_EQ(c.version, 4U);
  EXPECT_EQ(c.state, CalibrationState::kCalibrated);
  EXPECT_EQ(c.generation, 2U);
  EXPECT_EQ(c.windows_done, 600U);
  EXPECT_EQ(c.windows_total, 600U);
  EXPECT_EQ(c.threshold, 0.8125F);
  EXPECT_EQ(c.clamp, ThresholdClamp::kUpper);
  EXPECT_TRUE(std::equal(c.normalization.begin(), c.normalization.end(), kNormalization.begin(),
                         kNormalization.end()));
  EXPECT_EQ(encoded(*d), bytes);  // decode then encode gives the same bytes
}

TEST(StatusReport, CalibrationReportWhileNormalizingRoundTripsWithoutNormalization) {
  StatusReport r = calibration_report(CalibrationState::kNormalizing);
  r.calibration.windows_done = 17;
  const auto bytes = encoded(r);
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().name();
  EXPECT_EQ(d->calibration.state, CalibrationState::kNormalizing);
  EXPECT_EQ(d->calibration.windows_done, 17U);
  EXPECT_TRUE(d->calibration.normalization.empty());
}

TEST(StatusReport, CalibrationStateAndClampNamesAreStable) {
  EXPECT_STREQ(calibration_state_name(CalibrationState::kNone), "none");
  EXPECT_STREQ(calibration_state_name(CalibrationState::kNormalizing), "normalizing");
  EXPECT_STREQ(calibration_state_name(CalibrationState::kThresholding), "thresholding");
  EXPECT_STREQ(calibration_state_name(CalibrationState::kCalibrated), "calibrated");
  EXPECT_STREQ(calibration_state_name(static_cast<CalibrationState>(9)), "unknown");
  EXPECT_STREQ(threshold_clamp_name(ThresholdClamp::kNone), "none");
  EXPECT_STREQ(threshold_clamp_name(ThresholdClamp::kLower), "lower");
  EXPECT_STREQ(threshold_clamp_name(ThresholdClamp::kUpper), "upper");
  EXPECT_STREQ(threshold_clamp_name(static_cast<ThresholdClamp>(3)), "unknown");
}

// Every rule of validate_calibration, as the encoder applies it.
TEST(StatusReport, EncoderRefusesEveryInvalidCalibrationReport) {
  const auto refused = [](const std::function<void(CalibrationReport&)>& edit,
                          CalibrationState state = CalibrationState::kCalibrated) {
    StatusReport r = calibration_report(state);
    edit(r.calibration);
    return encode_status(r);
  };
  const Status invalid(Error::kInvalidValue);
  EXPECT_EQ(refused([](auto& c) { c.model_id = ""; }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.model_id = "has space"; }), invalid);
  EXPECT_EQ(
      refused([](auto& c) { c.model_id = std::string_view("m123456789012345678901234567890123"); }),
      Status(Error::kOversize));
  EXPECT_EQ(refused([](auto& c) { c.state = static_cast<CalibrationState>(4); }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.clamp = static_cast<ThresholdClamp>(3); }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.windows_done = c.windows_total + 1; }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.threshold = 0.0F; }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.threshold = -1.0F; }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.threshold = std::numeric_limits<float>::quiet_NaN(); }),
            invalid);
  EXPECT_EQ(refused([](auto& c) { c.threshold = std::numeric_limits<float>::infinity(); }),
            invalid);
  EXPECT_EQ(refused([](auto& c) { c.threshold = std::numeric_limits<float>::max(); }), invalid);
  static const std::vector<std::uint8_t> kTooMany(8 * kMaxFeatures + 8, 0);
  EXPECT_EQ(refused([](auto& c) { c.normalization = kTooMany; }), Status(Error::kOversize));
  EXPECT_EQ(refused([](auto& c) { c.normalization = std::span(kNormalization).first(12); }),
            invalid);
  // Normalization exactly while thresholding or calibrated.
  EXPECT_EQ(refused([](auto& c) { c.normalization = {}; }), invalid);
  EXPECT_EQ(refused([](auto& c) { c.normalization = {}; }, CalibrationState::kThresholding),
            invalid);
  EXPECT_EQ(refused([](auto& c) { c.normalization = kNormalization; }, CalibrationState::kNone),
            invalid);
  EXPECT_EQ(
      refused([](auto& c) { c.normalization = kNormalization; }, CalibrationState::kNormalizing),
      invalid);
  // The limits themselves are accepted.
  EXPECT_TRUE(refused([](auto& c) { c.windows_done = c.windows_total; }).ok());
  static const std::vector<std::uint8_t> kMost(8 * kMaxFeatures, 0);
  EXPECT_TRUE(refused([](auto& c) { c.normalization = kMost; }).ok());
  EXPECT_TRUE(refused([](auto&) {}, CalibrationState::kNone).ok());
}

// The same rules, and the field rules of the kind, as the decoder applies them.
TEST(StatusReport, DecoderRefusesEveryInvalidCalibrationReport) {
  const auto decoded = [](const std::function<void(RawCalibration&)>& edit) {
    RawCalibration raw;
    edit(raw);
    return decode_status(raw);
  };
  const Status invalid(Error::kInvalidValue);
  EXPECT_TRUE(decoded([](auto&) {}).ok());
  EXPECT_EQ(decoded([](auto& r) { r.model_id = "has space"; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.state = 4; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.clamp = 3; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.windows_done = 601; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.generation = std::uint64_t{1} << 32; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.threshold = 0.0F; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.threshold = -0.5F; }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.threshold = std::numeric_limits<float>::infinity(); }),
            invalid);
  EXPECT_EQ(decoded([](auto& r) { r.threshold = std::numeric_limits<float>::quiet_NaN(); }),
            invalid);
  EXPECT_EQ(decoded([](auto& r) { r.normalization->resize(12); }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.normalization->resize(8 * kMaxFeatures + 8); }),
            Status(Error::kOversize));
  EXPECT_EQ(decoded([](auto& r) { r.normalization.reset(); }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.normalization = std::vector<std::uint8_t>(); }), invalid);
  EXPECT_EQ(decoded([](auto& r) { r.state = 1; }), invalid);  // normalizing, with normalization
  EXPECT_TRUE(decoded([](auto& r) {
                r.state = 1;
                r.normalization.reset();
              }).ok());
  // Every required field.
  EXPECT_EQ(decoded([](auto& r) { r.model_id.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.version.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.state.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.generation.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.windows_done.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.windows_total.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.threshold.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.clamp.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.kind.reset(); }), Status(Error::kMissingField));
  EXPECT_EQ(decoded([](auto& r) { r.kind = 3; }), Status(Error::kMissingField));  // a shadow report
  EXPECT_EQ(decoded([](auto& r) { r.kind = 4; }), invalid);
}

TEST(StatusReport, FieldsOfAnotherKindInACalibrationReportAreRefused) {
  RawCalibration with_install_state;
  with_install_state.install_state = 0;
  EXPECT_EQ(decode_status(with_install_state), Status(Error::kInvalidValue));
  RawCalibration with_reason;
  with_reason.reason = 0;
  EXPECT_EQ(decode_status(with_reason), Status(Error::kInvalidValue));
  // {1: 2, ..., 7: nonce}: an attestation field.
  const auto base = RawCalibration{}.encode();
  std::vector<std::uint8_t> with_nonce = base;
  with_nonce[0] = static_cast<std::uint8_t>(with_nonce[0] + 1);  // a map of 10 -> 11 entries
  for (const std::uint8_t b : test::from_hex("07480102030405060708"))
    with_nonce.push_back(b);
  EXPECT_EQ(decode(with_nonce).status(), Status(Error::kInvalidValue));
}

TEST(StatusReport, CalibrationFieldsInAnUpdateReportAreRefused) {
  // {1: 0, 2: "m", 3: 1, 4: 0, 5: 0, 11: 3}
  const auto bytes = test::from_hex("a6 0100 02616d 0301 0400 0500 0b03");
  EXPECT_EQ(decode(bytes).status(), Status(Error::kInvalidValue));
}

StatusReport shadow_report() {
  StatusReport r;
  r.kind = Kind::kShadow;
  ShadowReport& s = r.shadow;
  s.model_id = "vib-ae";
  s.version = 6;
  s.scored = 10;
  s.compared = 8;
  s.agreed = 7;
  s.active_anomalies = 1;
  s.shadow_anomalies = 2;
  s.active_histogram[0] = 6;
  s.active_histogram[9] = 4;
  s.shadow_histogram[3] = 9;
  s.shadow_histogram[15] = 1;
  s.latency_mean_us = 700;
  s.latency_max_us = 900;
  s.calibration = CalibrationState::kThresholding;
  s.arena_high_water = 4096;
  return r;
}

TEST(StatusReport, ShadowReportRoundTripsEveryCounterAndHistogram) {
  const auto bytes = encoded(shadow_report());
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok()) << d.status().name();
  ASSERT_EQ(d->kind, Kind::kShadow);
  const ShadowReport& s = d->shadow;
  EXPECT_EQ(s.model_id, "vib-ae");
  EXPECT_EQ(s.version, 6U);
  EXPECT_EQ(s.scored, 10U);
  EXPECT_EQ(s.compared, 8U);
  EXPECT_EQ(s.agreed, 7U);
  EXPECT_EQ(s.active_anomalies, 1U);
  EXPECT_EQ(s.shadow_anomalies, 2U);
  EXPECT_EQ(s.active_histogram, shadow_report().shadow.active_histogram);
  EXPECT_EQ(s.shadow_histogram, shadow_report().shadow.shadow_histogram);
  EXPECT_EQ(s.latency_mean_us, 700U);
  EXPECT_EQ(s.latency_max_us, 900U);
  EXPECT_EQ(s.calibration, CalibrationState::kThresholding);
  EXPECT_EQ(s.arena_high_water, 4096U);
}

TEST(StatusReport, InconsistentShadowCountersAreRefusedBothWays) {
  std::array<std::uint8_t, 512> buffer{};
  const auto refused = [&](auto change) {
    StatusReport r = shadow_report();
    change(r.shadow);
    return encode(r, buffer).status();
  };
  const Status invalid(Error::kInvalidValue);
  EXPECT_EQ(refused([](ShadowReport& s) { s.compared = 11; }), invalid);  // > scored
  EXPECT_EQ(refused([](ShadowReport& s) { s.agreed = 9; }), invalid);     // > compared
  EXPECT_EQ(refused([](ShadowReport& s) { s.shadow_anomalies = 9; }), invalid);
  EXPECT_EQ(refused([](ShadowReport& s) { s.active_histogram[1] = 1; }), invalid);  // 11 != 10
  EXPECT_EQ(refused([](ShadowReport& s) { s.latency_mean_us = 901; }), invalid);
  // The decoder: a histogram of 15 bins, and an update report's state among shadow fields.
  auto bytes = encoded(shadow_report());
  const auto d = decode(bytes);
  ASSERT_TRUE(d.ok());
  // Key 23's array head (0x90, 16 items) follows the key byte 0x17.
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (bytes[i] == 0x17 && bytes[i + 1] == 0x90) {
      std::vector<std::uint8_t> short_histogram = bytes;
      short_histogram[i + 1] = 0x8f;
      short_histogram.erase(short_histogram.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      EXPECT_FALSE(decode(short_histogram).ok());
      break;
    }
  }
}

TEST(StatusReport, HistogramBinsAreEighthsOfTheThresholdWithAnOpenTopBin) {
  EXPECT_EQ(histogram_bin(0.0F, 1.0F), 0U);
  EXPECT_EQ(histogram_bin(0.124F, 1.0F), 0U);
  EXPECT_EQ(histogram_bin(0.125F, 1.0F), 1U);
  EXPECT_EQ(histogram_bin(1.0F, 1.0F), 8U);  // at the threshold: the first bin above it
  EXPECT_EQ(histogram_bin(1.0F, 2.0F), 4U);
  EXPECT_EQ(histogram_bin(100.0F, 1.0F), kHistogramBins - 1);
  EXPECT_EQ(histogram_bin(-1.0F, 1.0F), 0U);
  EXPECT_EQ(histogram_bin(std::numeric_limits<float>::quiet_NaN(), 1.0F), kHistogramBins - 1);
}

TEST(StatusReport, NewInstallStatesHaveStableNames) {
  EXPECT_STREQ(install_state_name(InstallState::kShadowing), "shadowing");
  EXPECT_STREQ(install_state_name(InstallState::kDiscarded), "discarded");
  EXPECT_STREQ(install_state_name(InstallState::kDecisionRejected), "decision-rejected");
}

}  // namespace
}  // namespace spindle::status_report
