// protocol/status_report: update and attestation reports round trip; mixed or incomplete
// reports are refused; the attestation MAC binds every input.
#include "spindle/protocol/status_report.hpp"

#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace spindle::status_report
