// protocol/vectors: the committed golden bytes are exactly what the encoders produce from
// the fixed example inputs, and each decodes (and verifies) with protocol/.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "golden_examples.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"
#include "test_support.hpp"

namespace spindle {
namespace {

TEST(GoldenVectors, CommittedBytesEqualTheEncodersOutput) {
  for (const auto& v : examples::golden_vectors()) {
    const auto committed = test::read_file(test::vector_path(v.file));
    EXPECT_EQ(test::to_hex(committed), test::to_hex(v.bytes))
        << v.file << " differs from the encoder; if the change is intended, regenerate with "
        << "`spindle-proto vectors --out protocol/vectors` and say why in the commit";
    EXPECT_TRUE(std::filesystem::exists(test::vector_path(v.file + ".md")))
        << v.file << " has no description";
  }
}

TEST(GoldenVectors, EachDecodesWithItsDecoder) {
  EXPECT_TRUE(registration::decode(test::read_file(test::vector_path("registration.cbor"))).ok());
  EXPECT_TRUE(manifest::decode(test::read_file(test::vector_path("manifest.cbor"))).ok());
  EXPECT_TRUE(status_report::decode(test::read_file(test::vector_path("status_update.cbor"))).ok());
  EXPECT_TRUE(
      status_report::decode(test::read_file(test::vector_path("status_attestation.cbor"))).ok());
  EXPECT_TRUE(
      status_report::decode(test::read_file(test::vector_path("status_calibration.cbor"))).ok());
  EXPECT_TRUE(status_report::decode(test::read_file(test::vector_path("status_shadow.cbor"))).ok());
  EXPECT_TRUE(decision::decode(test::read_file(test::vector_path("decision.cbor"))).ok());
  std::array<senml::Record, 8> records{};
  const auto n = senml::decode(test::read_file(test::vector_path("telemetry.cbor")), records);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6U);
}

// The committed test public key under its kid (the kid's text lives in `kid`).
cose::TrustedKey committed_key(const std::string& kid) {
  const auto pub = test::read_file(test::vector_path("test_signing_key.pub"));
  EXPECT_EQ(pub.size(), crypto::kEcPublicKeySize);
  cose::TrustedKey trusted;
  trusted.kid = crypto::as_bytes(kid);
  std::copy_n(pub.begin(), std::min(pub.size(), trusted.public_key.size()),
              trusted.public_key.begin());
  return trusted;
}

TEST(GoldenVectors, SignedManifestVerifiesWithTheCommittedPublicKey) {
  const std::string kid = examples::test_signing_kid();
  const cose::TrustedKey trusted = committed_key(kid);
  const auto message = test::read_file(test::vector_path("manifest.cose"));
  const auto verified = cose::verify(message, {&trusted, 1});
  ASSERT_TRUE(verified.ok()) << verified.status().name();
  const auto m = manifest::decode(verified->payload);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->model_id, "vib-ae");
  EXPECT_EQ(m->version, 4U);
}

TEST(GoldenVectors, SignedDecisionVerifiesOnlyAsADecision) {
  const std::string kid = examples::test_signing_kid();
  const cose::TrustedKey trusted = committed_key(kid);
  const auto message = test::read_file(test::vector_path("decision.cose"));
  const auto d = decision::verify(message, {&trusted, 1});
  ASSERT_TRUE(d.ok()) << d.status().name();
  EXPECT_EQ(d->action, decision::Action::kPromote);
  EXPECT_EQ(d->device_id, "node-0001");
  // Without the decision's external AAD the signature does not hold: a decision can never
  // pass for a manifest, nor a manifest for a decision.
  EXPECT_EQ(cose::verify(message, {&trusted, 1}).status(), Status(Error::kBadSignature));
  EXPECT_FALSE(
      decision::verify(test::read_file(test::vector_path("manifest.cose")), {&trusted, 1}).ok());
}

}  // namespace
}  // namespace spindle
