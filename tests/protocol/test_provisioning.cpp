// protocol/provisioning: the file spindlectl wrote before this module existed still parses
// and formats back byte for byte; every malformed record is refused with its line and a
// reason an operator can act on.
#include "spindle/protocol/provisioning.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace spindle::provisioning {
namespace {

// Written by `spindlectl provision --device pump-2 --coap-uri coaps://gateway.example:5684
// --trust-key op-1=... --trust-key op-2=...` before provisioning.cpp existed (throwaway keys).
std::string golden_text() {
  const auto bytes = test::read_file(std::string(SPINDLE_VECTORS_DIR) +
                                     "/../../tests/protocol/golden/spindlectl_pump-2.provision");
  return {bytes.begin(), bytes.end()};
}

std::string format_text(const Provisioning& record) {
  std::string out(kMaxFormattedSize, '\0');
  const auto used = format(record, {out.data(), out.size()});
  EXPECT_TRUE(used.ok()) << used.status().name();
  out.resize(used.ok() ? *used : 0);
  return out;
}

std::string describe_text(const ParseError& error) {
  std::string out(200, '\0');
  out.resize(describe(error, {out.data(), out.size()}));
  return out;
}

std::vector<std::uint8_t> bytes_of(std::size_t size, std::uint8_t first) {
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

crypto::EcPublicKey public_key_of(std::uint8_t first) {
  crypto::EcPublicKey key{};
  const auto bytes = bytes_of(key.size(), first);
  std::copy(bytes.begin(), bytes.end(), key.begin());
  key[0] = 0x04;
  return key;
}

void expect_same(const Provisioning& a, const Provisioning& b) {
  EXPECT_EQ(a.device_id(), b.device_id());
  EXPECT_EQ(a.gateway(), b.gateway());
  EXPECT_TRUE(std::ranges::equal(a.psk(), b.psk()));
  EXPECT_TRUE(std::ranges::equal(a.model_kek(), b.model_kek()));
  EXPECT_TRUE(std::ranges::equal(a.attestation_key(), b.attestation_key()));
  ASSERT_EQ(a.trust_keys().size(), b.trust_keys().size());
  for (std::size_t i = 0; i < a.trust_keys().size(); ++i) {
    EXPECT_EQ(a.trust_keys()[i].kid(), b.trust_keys()[i].kid());
    EXPECT_EQ(a.trust_keys()[i].public_key, b.trust_keys()[i].public_key);
  }
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The smallest valid record: the required keys on lines 1-3.
const std::string kMinimal =
    "device_id=pump-2\n"
    "psk=00112233445566778899aabbccddeeff\n"
    "attestation_key=" +
    std::string(64, 'a') + "\n";
const std::string kTrustKey = "trust_key=op-1:04" + std::string(128, '5') + "\n";

TEST(Provisioning, ParsesTheFileSpindlectlWrote) {
  ParseError where;
  const auto record = parse(golden_text(), &where);
  ASSERT_TRUE(record.ok()) << describe_text(where);
  EXPECT_EQ(record->device_id(), "pump-2");
  EXPECT_EQ(record->gateway(), "coaps://gateway.example:5684");
  EXPECT_EQ(record->psk().size(), 16U);
  EXPECT_EQ(record->psk()[0], 0x21);
  EXPECT_EQ(record->model_kek().size(), kModelKekSize);
  EXPECT_EQ(record->model_kek()[0], 0x01);
  EXPECT_EQ(record->attestation_key().size(), kAttestationKeySize);
  EXPECT_EQ(record->attestation_key()[31], 0xa4);
  ASSERT_EQ(record->trust_keys().size(), 2U);
  EXPECT_EQ(record->trust_keys()[0].kid(), "op-1");
  EXPECT_EQ(record->trust_keys()[1].kid(), "op-2");
  EXPECT_EQ(record->trust_keys()[1].public_key[0], 0x04);
  EXPECT_EQ(record->trust_keys()[1].public_key[64], 0xb5);
}

TEST(Provisioning, FormatsTheSpindlectlFileByteForByte) {
  const std::string golden = golden_text();
  const auto record = parse(golden);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(format_text(*record), golden);
}

TEST(Provisioning, RoundTripsEveryFieldAtItsLargest) {
  Provisioning record;
  ASSERT_TRUE(record.set_device_id(std::string(kMaxIdSize, 'd')).ok());
  ASSERT_TRUE(record.set_gateway("coaps://" + std::string(kMaxGatewayUriSize - 8, 'g')).ok());
  ASSERT_TRUE(record.set_psk(bytes_of(kMaxPskSize, 1)).ok());
  ASSERT_TRUE(record.set_model_kek(bytes_of(kModelKekSize, 2)).ok());
  ASSERT_TRUE(record.set_attestation_key(bytes_of(kAttestationKeySize, 3)).ok());
  for (std::size_t i = 0; i < kMaxTrustKeys; ++i) {
    const std::string kid = std::string(kMaxKidSize - 1, 'k') + std::to_string(i);
    ASSERT_TRUE(record.add_trust_key(kid, public_key_of(static_cast<std::uint8_t>(i))).ok());
  }
  const std::string text = format_text(record);
  EXPECT_EQ(text.size(), kMaxFormattedSize);  // the stated bound is tight
  ParseError where;
  const auto parsed = parse(text, &where);
  ASSERT_TRUE(parsed.ok()) << describe_text(where);
  expect_same(*parsed, record);
  EXPECT_EQ(format_text(*parsed), text);
}

TEST(Provisioning, OptionalKeysMayBeLeftOut) {
  const auto record = parse(kMinimal);
  ASSERT_TRUE(record.ok());
  EXPECT_TRUE(record->gateway().empty());
  EXPECT_TRUE(record->model_kek().empty());
  EXPECT_TRUE(record->trust_keys().empty());
  const std::string text = format_text(*record);
  EXPECT_EQ(text, std::string(kHeaderComment) + "\n" + kMinimal);
}

TEST(Provisioning, CrlfCommentsBlankLinesAndTrailingSpacesAreIgnored) {
  const std::string golden = golden_text();
  const auto expected = parse(golden);
  ASSERT_TRUE(expected.ok());
  std::string text = replace_all(golden, "\n", " \t\r\n");
  text = "\r\n# written by hand\r\n\r\n   \r\n" + text + "# the end";
  ParseError where;
  const auto record = parse(text, &where);
  ASSERT_TRUE(record.ok()) << describe_text(where);
  expect_same(*record, *expected);
}

TEST(Provisioning, LastLineNeedsNoLineEnd) {
  std::string text = kMinimal;
  text.pop_back();
  EXPECT_TRUE(parse(text).ok());
}

TEST(Provisioning, UppercaseHexIsAccepted) {
  const auto record = parse(replace_all(kMinimal, "aabbccddeeff", "AABBCCDDEEFF"));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->psk()[15], 0xff);
}

struct Rejection {
  const char* name;
  std::string text;
  Error error;
  Reason reason;
  std::size_t line;
  std::string_view key;
  const char* message;  // describe()'s words
};

TEST(Provisioning, RefusesEveryKindOfDamageWithItsLine) {
  const std::string kek = "model_kek=" + std::string(32, '0') + "\n";
  const std::vector<Rejection> cases = {
      {"line too long",
       kMinimal + "# " + std::string(kMaxLineSize, 'x') + "\n",
       Error::kOversize,
       Reason::kLineTooLong,
       4,
       {},
       "line 4: longer than 256 characters"},
      {"not key=value",
       "device_id pump-2\n" + kMinimal,
       Error::kMalformed,
       Reason::kNotKeyValue,
       1,
       {},
       "line 1: not key=value"},
      {"unknown key", kMinimal + "pks=00\n", Error::kUnknownCriticalField, Reason::kUnknownKey, 4,
       "pks", "line 4: unknown key 'pks'"},
      {"leading space in a key", " " + kMinimal, Error::kUnknownCriticalField, Reason::kUnknownKey,
       1, " device_id", "line 1: unknown key ' device_id'"},
      {"duplicate device_id", kMinimal + "device_id=pump-3\n", Error::kDuplicateKey,
       Reason::kDuplicateKey, 4, "device_id", "line 4: duplicate key 'device_id'"},
      {"duplicate gateway", "gateway=coap://a:1\n" + kMinimal + "gateway=coap://a:1\n",
       Error::kDuplicateKey, Reason::kDuplicateKey, 5, "gateway",
       "line 5: duplicate key 'gateway'"},
      {"duplicate model_kek", kMinimal + kek + kek, Error::kDuplicateKey, Reason::kDuplicateKey, 5,
       "model_kek", "line 5: duplicate key 'model_kek'"},
      {"bad device id",
       replace_all(kMinimal, "pump-2", "pump 2"),
       Error::kInvalidValue,
       Reason::kBadDeviceId,
       1,
       {},
       "line 1: device_id is not 1-32 of A-Z a-z 0-9 . _ -"},
      {"empty device id",
       replace_all(kMinimal, "pump-2", ""),
       Error::kInvalidValue,
       Reason::kBadDeviceId,
       1,
       {},
       nullptr},
      {"long device id",
       replace_all(kMinimal, "pump-2", std::string(kMaxIdSize + 1, 'p')),
       Error::kInvalidValue,
       Reason::kBadDeviceId,
       1,
       {},
       nullptr},
      {"gateway scheme",
       kMinimal + "gateway=http://127.0.0.1:5684\n",
       Error::kInvalidValue,
       Reason::kBadGateway,
       4,
       {},
       "line 4: gateway is not a coap:// or coaps:// URI of at most 128 characters"},
      {"gateway with a space",
       kMinimal + "gateway=coaps://a b:1\n",
       Error::kInvalidValue,
       Reason::kBadGateway,
       4,
       {},
       nullptr},
      {"gateway with nothing after the scheme",
       kMinimal + "gateway=coaps://\n",
       Error::kInvalidValue,
       Reason::kBadGateway,
       4,
       {},
       nullptr},
      {"long gateway",
       kMinimal + "gateway=coap://" + std::string(kMaxGatewayUriSize - 6, 'g') + "\n",
       Error::kInvalidValue,
       Reason::kBadGateway,
       4,
       {},
       nullptr},
      {"psk not hex",
       replace_all(kMinimal, "psk=0011", "psk=0x11"),
       Error::kInvalidValue,
       Reason::kBadPsk,
       2,
       {},
       "line 2: psk is not 1-64 hex bytes"},
      {"psk with a space inside",
       replace_all(kMinimal, "psk=0011", "psk=00 11"),
       Error::kInvalidValue,
       Reason::kBadPsk,
       2,
       {},
       nullptr},
      {"psk odd digits",
       replace_all(kMinimal, "psk=0011", "psk=011"),
       Error::kInvalidValue,
       Reason::kBadPsk,
       2,
       {},
       nullptr},
      {"empty psk",
       replace_all(kMinimal, "psk=00112233445566778899aabbccddeeff", "psk="),
       Error::kInvalidValue,
       Reason::kBadPsk,
       2,
       {},
       nullptr},
      {"long psk",
       replace_all(kMinimal, "psk=00112233445566778899aabbccddeeff",
                   "psk=" + std::string(2 * kMaxPskSize + 2, '1')),
       Error::kInvalidValue,
       Reason::kBadPsk,
       2,
       {},
       nullptr},
      {"short model_kek",
       kMinimal + "model_kek=" + std::string(30, '0') + "\n",
       Error::kInvalidValue,
       Reason::kBadModelKek,
       4,
       {},
       "line 4: model_kek is not 16 hex bytes"},
      {"long model_kek",
       kMinimal + "model_kek=" + std::string(34, '0') + "\n",
       Error::kInvalidValue,
       Reason::kBadModelKek,
       4,
       {},
       nullptr},
      {"short attestation_key",
       replace_all(kMinimal, std::string(64, 'a'), std::string(62, 'a')),
       Error::kInvalidValue,
       Reason::kBadAttestationKey,
       3,
       {},
       "line 3: attestation_key is not 32 hex bytes"},
      {"trust_key without a colon",
       kMinimal + "trust_key=op-1\n",
       Error::kInvalidValue,
       Reason::kBadTrustKey,
       4,
       {},
       "line 4: trust_key is not <kid>:<130 hex digits> with a kid of 1-32 of A-Z a-z 0-9 . _ -"},
      {"trust_key without a kid",
       kMinimal + replace_all(kTrustKey, "op-1:", ":"),
       Error::kInvalidValue,
       Reason::kBadTrustKey,
       4,
       {},
       nullptr},
      {"trust_key kid not an id",
       kMinimal + replace_all(kTrustKey, "op-1:", "op/1:"),
       Error::kInvalidValue,
       Reason::kBadTrustKey,
       4,
       {},
       nullptr},
      {"trust_key kid too long",
       kMinimal + replace_all(kTrustKey, "op-1:", std::string(kMaxKidSize + 1, 'k') + ":"),
       Error::kInvalidValue,
       Reason::kBadTrustKey,
       4,
       {},
       nullptr},
      {"trust_key short",
       kMinimal + replace_all(kTrustKey, "55\n", "\n"),
       Error::kInvalidValue,
       Reason::kBadTrustKey,
       4,
       {},
       nullptr},
      {"trust_key duplicate kid", kMinimal + kTrustKey + kTrustKey, Error::kDuplicateKey,
       Reason::kDuplicateTrustKid, 5, "op-1", "line 5: a second trust_key with kid 'op-1'"},
      {"too many trust keys",
       kMinimal + replace_all(kTrustKey, "op-1", "k1") + replace_all(kTrustKey, "op-1", "k2") +
           replace_all(kTrustKey, "op-1", "k3") + replace_all(kTrustKey, "op-1", "k4") +
           replace_all(kTrustKey, "op-1", "k5"),
       Error::kOversize,
       Reason::kTooManyTrustKeys,
       8,
       {},
       "line 8: more than 4 trust_key lines"},
      {"no device_id", replace_all(kMinimal, "device_id=pump-2\n", "# none\n"),
       Error::kMissingField, Reason::kMissingKey, 0, "device_id",
       "no device_id line (it is required)"},
      {"no psk", replace_all(kMinimal, "psk=", "#psk="), Error::kMissingField, Reason::kMissingKey,
       0, "psk", "no psk line (it is required)"},
      {"no attestation_key", replace_all(kMinimal, "attestation_key=", "#"), Error::kMissingField,
       Reason::kMissingKey, 0, "attestation_key", nullptr},
      {"empty text", "", Error::kMissingField, Reason::kMissingKey, 0, "device_id", nullptr},
  };
  for (const Rejection& c : cases) {
    SCOPED_TRACE(c.name);
    ParseError where;
    EXPECT_EQ(parse(c.text, &where).status(), Status(c.error));
    EXPECT_EQ(where.reason, c.reason);
    EXPECT_EQ(where.line, c.line);
    EXPECT_EQ(where.key, c.key);
    if (c.message != nullptr) {
      EXPECT_EQ(describe_text(where), c.message);
    }
  }
}

TEST(Provisioning, FormatRefusesARecordWithoutItsRequiredKeys) {
  Provisioning record;
  std::array<char, kMaxFormattedSize> out{};
  EXPECT_EQ(format(record, out).status(), Status(Error::kMissingField));
  ASSERT_TRUE(record.set_device_id("pump-2").ok());
  ASSERT_TRUE(record.set_psk(bytes_of(16, 0)).ok());
  EXPECT_EQ(format(record, out).status(), Status(Error::kMissingField));
  ASSERT_TRUE(record.set_attestation_key(bytes_of(32, 0)).ok());
  EXPECT_TRUE(format(record, out).ok());
}

TEST(Provisioning, FormatIntoTooSmallABufferIsBufferTooSmall) {
  const auto record = parse(golden_text());
  ASSERT_TRUE(record.ok());
  const std::size_t needed = golden_text().size();
  std::vector<char> out(needed);
  EXPECT_TRUE(format(*record, out).ok());
  for (std::size_t size = 0; size < needed; ++size) {
    EXPECT_EQ(format(*record, std::span<char>(out.data(), size)).status(),
              Status(Error::kBufferTooSmall));
  }
}

TEST(Provisioning, SettersCheckWhatTheParserChecks) {
  Provisioning record;
  EXPECT_EQ(record.set_device_id("a/b"), Status(Error::kInvalidValue));
  EXPECT_EQ(record.set_gateway("udp://x"), Status(Error::kInvalidValue));
  EXPECT_EQ(record.set_gateway("coap://" + std::string(kMaxGatewayUriSize, 'g')),
            Status(Error::kOversize));
  EXPECT_EQ(record.set_psk({}), Status(Error::kInvalidValue));
  EXPECT_EQ(record.set_psk(bytes_of(kMaxPskSize + 1, 0)), Status(Error::kOversize));
  EXPECT_EQ(record.set_model_kek(bytes_of(15, 0)), Status(Error::kInvalidValue));
  EXPECT_EQ(record.set_attestation_key(bytes_of(33, 0)), Status(Error::kInvalidValue));
  EXPECT_EQ(record.add_trust_key("", public_key_of(0)), Status(Error::kInvalidValue));
  EXPECT_EQ(record.add_trust_key(std::string(kMaxKidSize + 1, 'k'), public_key_of(0)),
            Status(Error::kOversize));
  for (std::size_t i = 0; i < kMaxTrustKeys; ++i) {
    ASSERT_TRUE(record.add_trust_key("k" + std::to_string(i), public_key_of(0)).ok());
  }
  EXPECT_EQ(record.add_trust_key("k0", public_key_of(0)), Status(Error::kDuplicateKey));
  EXPECT_EQ(record.add_trust_key("k9", public_key_of(0)), Status(Error::kFull));
  EXPECT_EQ(record.trust_keys().size(), kMaxTrustKeys);
  // A refused value leaves the record as it was.
  EXPECT_TRUE(record.device_id().empty());
  EXPECT_TRUE(record.gateway().empty());
  EXPECT_TRUE(record.psk().empty());
}

TEST(Provisioning, DescribeCutsShortIntoASmallBuffer) {
  const ParseError error{3, Reason::kBadModelKek, {}};
  std::array<char, 8> out{};
  EXPECT_EQ(describe(error, out), out.size());
  EXPECT_EQ(std::string_view(out.data(), out.size()), "line 3: ");
}

}  // namespace
}  // namespace spindle::provisioning
