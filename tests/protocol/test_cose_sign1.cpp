// protocol/cose_sign1: sign/verify round trip, the exact Sig_structure of RFC 9052, and each
// way a message can be untrustworthy refused with its own error.
#include "spindle/protocol/cose_sign1.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "spindle/protocol/cbor_writer.hpp"
#include "test_support.hpp"

namespace spindle::cose {
namespace {

using crypto::as_bytes;

struct Keys {
  crypto::EcPrivateKey priv{};
  crypto::EcPublicKey pub{};
};

Keys keys(std::string_view seed) {
  Keys k;
  k.priv = crypto::Sha256::of(as_bytes(seed));
  EXPECT_TRUE(crypto::ec_public_from_private(k.priv, &k.pub).ok());
  return k;
}

std::vector<std::uint8_t> signed_message(const Keys& k, std::string_view kid,
                                         std::string_view payload) {
  std::vector<std::uint8_t> buffer(payload.size() + kSign1Overhead);
  const auto out = sign(k.priv, as_bytes(kid), as_bytes(payload), buffer);
  EXPECT_TRUE(out.ok()) << out.status().name();
  return {out->begin(), out->end()};
}

TEST(CoseSign1, SignedMessageVerifiesAndYieldsThePayload) {
  const Keys k = keys("site key");
  const auto msg = signed_message(k, "site-1", "hello manifest");
  const TrustedKey trusted{as_bytes("site-1"), k.pub};
  const auto v = verify(msg, {&trusted, 1});
  ASSERT_TRUE(v.ok()) << v.status().name();
  EXPECT_EQ(std::string(v->payload.begin(), v->payload.end()), "hello manifest");
  EXPECT_EQ(v->alg, -7);
}

TEST(CoseSign1, SigStructureDigestIsTheRfc9052Encoding) {
  // ["Signature1", h'A10126', h'', h'ABCD'] encoded independently, then hashed.
  const auto protected_header = test::from_hex("a10126");
  const auto payload = test::from_hex("abcd");
  const auto expected_encoding = test::from_hex("84 6a5369676e617475726531 43a10126 40 42abcd");
  EXPECT_EQ(sig_structure_digest(protected_header, {}, payload),
            crypto::Sha256::of(expected_encoding));
}

TEST(CoseSign1, EncodingIsTaggedArrayWithAlgAndKidProtected) {
  const Keys k = keys("site key");
  const auto msg = signed_message(k, "k1", "p");
  // d2 (tag 18), 84 (array 4), 47 (bstr 7) a2 01 26 04 42 6b 31 (alg -7, kid "k1"), a0 ({}),
  // 41 70 (payload "p")
  EXPECT_EQ(test::to_hex({msg.data(), 13}), "d28447a2012604426b31a04170");
}

TEST(CoseSign1, AlteredPayloadIsABadSignature) {
  const Keys k = keys("site key");
  auto msg = signed_message(k, "site-1", "hello manifest");
  msg[msg.size() - 64 - 3] ^= 0x01;  // a payload byte
  const TrustedKey trusted{as_bytes("site-1"), k.pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kBadSignature));
}

TEST(CoseSign1, AlteredSignatureIsABadSignature) {
  const Keys k = keys("site key");
  auto msg = signed_message(k, "site-1", "hello manifest");
  msg.back() ^= 0x80;
  const TrustedKey trusted{as_bytes("site-1"), k.pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kBadSignature));
}

TEST(CoseSign1, SignedByAnotherKeyUnderATrustedKidIsABadSignature) {
  const auto msg = signed_message(keys("attacker"), "site-1", "evil");
  const TrustedKey trusted{as_bytes("site-1"), keys("site key").pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kBadSignature));
}

TEST(CoseSign1, UnknownKidIsAnUnknownKey) {
  const Keys k = keys("site key");
  const auto msg = signed_message(k, "site-2", "payload");
  const TrustedKey trusted{as_bytes("site-1"), k.pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kUnknownKey));
}

TEST(CoseSign1, SecondTrustedKeyIsFoundByKid) {
  const Keys a = keys("a");
  const Keys b = keys("b");
  const auto msg = signed_message(b, "b", "payload");
  const TrustedKey trusted[] = {{as_bytes("a"), a.pub}, {as_bytes("b"), b.pub}};
  EXPECT_TRUE(verify(msg, trusted).ok());
}

TEST(CoseSign1, ExternalAadBindsTheSignatureToItsContext) {
  const Keys k = keys("site key");
  std::vector<std::uint8_t> buffer(64 + kSign1Overhead);
  const auto msg = sign(k.priv, as_bytes("site-1"), as_bytes("package description"), buffer,
                        as_bytes("spindle-package-v1"));
  ASSERT_TRUE(msg.ok()) << msg.status().name();
  const TrustedKey trusted{as_bytes("site-1"), k.pub};
  EXPECT_TRUE(verify(*msg, {&trusted, 1}, as_bytes("spindle-package-v1")).ok());
  EXPECT_EQ(verify(*msg, {&trusted, 1}, as_bytes("spindle-package-v2")).status(),
            Status(Error::kBadSignature));
  // Verified as a manifest (no external AAD) it is refused, and the other way round.
  EXPECT_EQ(verify(*msg, {&trusted, 1}).status(), Status(Error::kBadSignature));
  const auto manifest = signed_message(k, "site-1", "package description");
  EXPECT_EQ(verify(manifest, {&trusted, 1}, as_bytes("spindle-package-v1")).status(),
            Status(Error::kBadSignature));
}

TEST(CoseSign1, ExternalAadIsHashedAsABstrInTheSigStructure) {
  // ["Signature1", h'A10126', h'0102', h'ABCD'] encoded independently, then hashed.
  const auto expected_encoding = test::from_hex("84 6a5369676e617475726531 43a10126 420102 42abcd");
  EXPECT_EQ(sig_structure_digest(test::from_hex("a10126"), test::from_hex("0102"),
                                 test::from_hex("abcd")),
            crypto::Sha256::of(expected_encoding));
}

std::vector<std::uint8_t> build(std::span<const std::uint8_t> protected_header, std::uint64_t tag,
                                std::size_t signature_size = 64) {
  std::vector<std::uint8_t> out(512);
  cbor::Writer w(out);
  const std::vector<std::uint8_t> signature(signature_size, 0x11);
  w.tag(tag).array(4).bytes(protected_header).map(0).bytes(as_bytes("payload")).bytes(signature);
  out.resize(w.size());
  return out;
}

TEST(CoseSign1, OtherAlgorithmIsUnsupported) {
  const auto msg = build(test::from_hex("a2 0127 04 41 6b"), kTagSign1);  // alg -8 (EdDSA)
  const TrustedKey trusted{as_bytes("k"), keys("k").pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kUnsupportedAlgorithm));
}

TEST(CoseSign1, CritHeaderIsAnUnknownCriticalField) {
  const auto msg = build(test::from_hex("a3 0126 0281 18ff 04416b"), kTagSign1);
  EXPECT_EQ(decode(msg).status(), Status(Error::kUnknownCriticalField));
}

TEST(CoseSign1, MissingKidIsAMissingField) {
  EXPECT_EQ(decode(build(test::from_hex("a10126"), kTagSign1)).status(),
            Status(Error::kMissingField));
}

TEST(CoseSign1, OtherTagIsInvalid) {
  EXPECT_EQ(decode(build(test::from_hex("a2 0126 04416b"), 98)).status(),
            Status(Error::kInvalidValue));
}

TEST(CoseSign1, UntaggedMessageIsWrongType) {
  auto msg = build(test::from_hex("a2 0126 04416b"), kTagSign1);
  msg.erase(msg.begin());
  EXPECT_EQ(decode(msg).status(), Status(Error::kWrongType));
}

TEST(CoseSign1, ShortSignatureIsInvalid) {
  const auto msg = build(test::from_hex("a2 0126 04416b"), kTagSign1, 63);
  const TrustedKey trusted{as_bytes("k"), keys("k").pub};
  EXPECT_EQ(verify(msg, {&trusted, 1}).status(), Status(Error::kInvalidValue));
}

TEST(CoseSign1, TrailingBytesAreRefused) {
  const Keys k = keys("site key");
  auto msg = signed_message(k, "site-1", "x");
  msg.push_back(0);
  EXPECT_EQ(decode(msg).status(), Status(Error::kTrailingBytes));
}

TEST(CoseSign1, EveryTruncationIsRefused) {
  const Keys k = keys("site key");
  const auto msg = signed_message(k, "site-1", "hello");
  for (std::size_t n = 0; n < msg.size(); ++n)
    EXPECT_FALSE(decode({msg.data(), n}).ok()) << n;
}

}  // namespace
}  // namespace spindle::cose
