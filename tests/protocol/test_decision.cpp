// protocol/decision: a signed decision round-trips, is bound to its device, model and
// purpose, and every malformed or foreign message is refused with its own error.
#include "spindle/protocol/decision.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test_support.hpp"

namespace spindle::decision {
namespace {

using crypto::as_bytes;

struct Signer {
  crypto::EcPrivateKey priv{};
  cose::TrustedKey trusted;
};

Signer signer(std::string_view seed, std::string_view kid) {
  Signer s;
  s.priv = crypto::Sha256::of(as_bytes(seed));
  s.trusted.kid = as_bytes(kid);
  EXPECT_TRUE(crypto::ec_public_from_private(s.priv, &s.trusted.public_key).ok());
  return s;
}

const crypto::Digest kDigest = crypto::Sha256::of(as_bytes("ciphertext of vib-ae v5"));

Decision example(Action action = Action::kPromote) {
  Decision d;
  d.device_id = "pump-7";
  d.action = action;
  d.model_id = "vib-ae";
  d.version = 5;
  d.payload_digest = kDigest;
  return d;
}

std::vector<std::uint8_t> signed_bytes(const Decision& d, const Signer& s, std::string_view kid) {
  std::array<std::uint8_t, kMaxSignedSize> buffer{};
  const auto out = sign(d, s.priv, as_bytes(kid), buffer);
  EXPECT_TRUE(out.ok()) << out.status().name();
  return out.ok() ? std::vector<std::uint8_t>(out->begin(), out->end())
                  : std::vector<std::uint8_t>{};
}

TEST(Decision, EachActionSignsAndVerifiesWithItsFields) {
  const Signer s = signer("operator", "site-1");
  for (const Action action : {Action::kPromote, Action::kDiscard, Action::kRevert}) {
    const auto message = signed_bytes(example(action), s, "site-1");
    const auto d = verify(message, {&s.trusted, 1});
    ASSERT_TRUE(d.ok()) << d.status().name();
    EXPECT_EQ(d->action, action);
    EXPECT_EQ(d->device_id, "pump-7");
    EXPECT_EQ(d->model_id, "vib-ae");
    EXPECT_EQ(d->version, 5U);
    EXPECT_EQ(test::to_hex(d->payload_digest), test::to_hex(kDigest));
  }
  EXPECT_STREQ(action_name(Action::kPromote), "promote");
  EXPECT_STREQ(action_name(Action::kDiscard), "discard");
  EXPECT_STREQ(action_name(Action::kRevert), "revert");
}

TEST(Decision, TheLargestDecisionFitsKMaxSignedSize) {
  const Signer s = signer("operator", "k");
  const std::string long_id(kMaxIdSize, 'x');
  Decision d = example();
  d.device_id = long_id;
  d.model_id = long_id;
  d.version = ~std::uint64_t{0};
  const std::string kid(cose::kMaxKidSize, 'k');
  std::array<std::uint8_t, kMaxSignedSize> buffer{};
  EXPECT_TRUE(sign(d, s.priv, as_bytes(kid), buffer).ok());
}

TEST(Decision, AnUntrustedKeyOrAlteredMessageIsRefused) {
  const Signer s = signer("operator", "site-1");
  const Signer other = signer("someone else", "site-1");
  auto message = signed_bytes(example(), s, "site-1");
  EXPECT_EQ(verify(message, {&other.trusted, 1}).status(), Status(Error::kBadSignature));
  const Signer renamed = signer("operator", "site-2");
  EXPECT_EQ(verify(message, {&renamed.trusted, 1}).status(), Status(Error::kUnknownKey));
  message[message.size() - 70] ^= 0x01;  // inside the payload
  EXPECT_FALSE(verify(message, {&s.trusted, 1}).ok());
}

TEST(Decision, AManifestSignatureNeverPassesForADecision) {
  // The same payload signed without the decision's external AAD, as a manifest would be.
  const Signer s = signer("operator", "site-1");
  std::array<std::uint8_t, kMaxEncodedSize> payload{};
  const auto encoded = encode(example(), payload);
  ASSERT_TRUE(encoded.ok());
  std::array<std::uint8_t, kMaxSignedSize> buffer{};
  const auto as_manifest = cose::sign(s.priv, as_bytes("site-1"), *encoded, buffer);
  ASSERT_TRUE(as_manifest.ok());
  EXPECT_EQ(verify(*as_manifest, {&s.trusted, 1}).status(), Status(Error::kBadSignature));
}

TEST(Decision, AnOversizeMessageIsRefusedBeforeItIsParsed) {
  const Signer s = signer("operator", "site-1");
  std::vector<std::uint8_t> big(kMaxSignedSize + 1, 0);
  EXPECT_EQ(verify(big, {&s.trusted, 1}).status(), Status(Error::kOversize));
}

TEST(Decision, EncoderRefusesWhatTheDecoderWould) {
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  Decision d = example();
  d.device_id = "";
  EXPECT_EQ(encode(d, buffer).status(), Status(Error::kInvalidValue));
  d = example();
  d.action = static_cast<Action>(3);
  EXPECT_EQ(encode(d, buffer).status(), Status(Error::kInvalidValue));
  d = example();
  d.payload_digest = std::span(kDigest).first(31);
  EXPECT_EQ(encode(d, buffer).status(), Status(Error::kInvalidValue));
  std::array<std::uint8_t, 8> small{};
  EXPECT_EQ(encode(example(), small).status(), Status(Error::kBufferTooSmall));
}

TEST(Decision, DecoderRefusesMissingUnknownAndOutOfRangeFields) {
  const auto status_of = [](std::string_view hex) { return decode(test::from_hex(hex)).status(); };
  // {1: "d", 2: 0, 3: "m", 4: 1} without the digest.
  EXPECT_EQ(status_of("a4 0161 64 0200 0361 6d 0401"), Status(Error::kMissingField));
  // An action of 3.
  const std::string digest = "5820" + std::string(64, '0');
  EXPECT_EQ(status_of("a5 0161 64 0203 0361 6d 0401 05" + digest), Status(Error::kInvalidValue));
  // An unknown key 6.
  EXPECT_EQ(status_of("a6 0161 64 0200 0361 6d 0401 05" + digest + " 0600"),
            Status(Error::kUnknownCriticalField));
  // A digest of 31 bytes.
  EXPECT_EQ(status_of("a5 0161 64 0200 0361 6d 0401 05 581f" + std::string(62, '0')),
            Status(Error::kInvalidValue));
  EXPECT_TRUE(decode(test::from_hex("a5 0161 64 0200 0361 6d 0401 05" + digest)).ok());
}

}  // namespace
}  // namespace spindle::decision
