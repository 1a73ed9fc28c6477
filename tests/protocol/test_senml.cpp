// protocol/senml: RFC 8428's own CBOR example resolves as the RFC says; Spindle packs round
// trip with their sequence numbers; RFC 8428's must-understand and validity rules hold.
#include "spindle/protocol/senml.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "test_support.hpp"

namespace spindle::senml {
namespace {

// RFC 8428 section 6: the CBOR representation of the section 5.1.2 example (voltage and
// six current readings with bn, bt, bu, bver).
constexpr std::string_view kRfc8428Section6 =
    "87a721781b75726e3a6465763a6f773a3130653230373361303130383030363a22fb41d303a15b001062236141"
    "20050067766f6c7461676501615602fb405e066666666666a3006763757272656e74062402fb3ff33333333333"
    "33a3006763757272656e74062302fb3ff4cccccccccccda3006763757272656e74062202fb3ff6666666666666"
    "a3006763757272656e74062102fb3ff8000000000000a3006763757272656e74062002fb3ff999999999999aa3"
    "006763757272656e74060002fb3ffb333333333333";

TEST(Senml, Rfc8428Section6ExampleResolvesAsTheRfcSays) {
  const auto bytes = test::from_hex(kRfc8428Section6);
  std::array<Record, 8> records{};
  const auto n = decode(bytes, records);
  ASSERT_TRUE(n.ok()) << n.status().name();
  ASSERT_EQ(*n, 7U);
  EXPECT_EQ(records[0].base_name, "urn:dev:ow:10e2073a0108006:");
  EXPECT_EQ(records[0].name, "voltage");
  EXPECT_EQ(records[0].resolved_unit(), "V");
  EXPECT_DOUBLE_EQ(records[0].resolved_number(), 120.1);
  EXPECT_DOUBLE_EQ(records[0].resolved_time(), 1276020076.001);
  // Base name, base time and base unit carry to later records.
  EXPECT_EQ(records[1].base_name, "urn:dev:ow:10e2073a0108006:");
  EXPECT_EQ(records[1].name, "current");
  EXPECT_EQ(records[1].resolved_unit(), "A");
  EXPECT_DOUBLE_EQ(records[1].resolved_time(), 1276020071.001);
  EXPECT_DOUBLE_EQ(records[1].resolved_number(), 1.2);
  EXPECT_DOUBLE_EQ(records[6].resolved_time(), 1276020076.001);
  EXPECT_DOUBLE_EQ(records[6].resolved_number(), 1.7);
}

Record metric(std::string_view name, double value, std::uint64_t seq) {
  Record r;
  r.name = name;
  r.kind = ValueKind::kNumber;
  r.number = value;
  r.has_seq = true;
  r.seq = seq;
  return r;
}

TEST(Senml, SpindlePackRoundTripsWithSequenceNumbers) {
  std::array<Record, 3> in = {metric("score", 0.5, 100), metric("latency", 0.002, 100),
                              metric("score", 0.25, 101)};
  in[0].base_name = "urn:dev:spindle:n1:";
  in[0].has_base_time = true;
  in[0].base_time = 1763800000.0;
  in[2].has_time = true;
  in[2].time = 2.0;
  std::array<std::uint8_t, 256> buffer{};
  const auto bytes = encode(in, buffer);
  ASSERT_TRUE(bytes.ok());
  std::array<Record, 3> out{};
  const auto n = decode(*bytes, out);
  ASSERT_TRUE(n.ok()) << n.status().name();
  ASSERT_EQ(*n, 3U);
  EXPECT_EQ(out[2].base_name, "urn:dev:spindle:n1:");
  EXPECT_EQ(out[2].seq, 101U);
  EXPECT_EQ(out[2].resolved_time(), 1763800002.0);
  EXPECT_EQ(out[1].resolved_number(), 0.002);
}

std::vector<std::uint8_t> pack_of(std::string_view record_hex) {
  return test::from_hex("81" + std::string(record_hex));
}

Status decode_one(std::string_view record_hex) {
  std::array<Record, 4> out{};
  return decode(pack_of(record_hex), out).status();
}

TEST(Senml, MustUnderstandLabelIsAnUnknownCriticalField) {
  // {0: "x", 2: 1, "foo_": 1}
  EXPECT_EQ(decode_one("a3 006178 0201 64666f6f5f01"), Status(Error::kUnknownCriticalField));
}

TEST(Senml, OtherUnknownLabelsAreIgnored) {
  // {0: "x", 2: 1, "foo": 1, 42: 7}
  EXPECT_TRUE(decode_one("a4 006178 0201 63666f6f01 182a07").ok());
}

TEST(Senml, RecordWithoutValueOrSumIsInvalid) {
  EXPECT_EQ(decode_one("a1 006178"), Status(Error::kInvalidValue));
}

TEST(Senml, RecordWithTwoValuesIsInvalid) {
  EXPECT_EQ(decode_one("a3 006178 0201 03616b"), Status(Error::kInvalidValue));
}

TEST(Senml, NameWithForbiddenCharactersIsInvalid) {
  EXPECT_EQ(decode_one("a2 0062782a 0201"), Status(Error::kInvalidValue));  // "x*"
  EXPECT_EQ(decode_one("a2 00622d78 0201"), Status(Error::kInvalidValue));  // "-x": bad first
  EXPECT_EQ(decode_one("a1 0201"), Status(Error::kInvalidValue));           // empty name
}

TEST(Senml, NewerVersionIsUnsupported) {
  EXPECT_EQ(decode_one("a3 200b 006178 0201"), Status(Error::kUnsupportedVersion));
}

TEST(Senml, DuplicateLabelIsDuplicateKey) {
  EXPECT_EQ(decode_one("a3 006178 0201 0202"), Status(Error::kDuplicateKey));
  EXPECT_EQ(decode_one("a4 006178 0201 637365710163736571 02"), Status(Error::kDuplicateKey));
}

TEST(Senml, LabelOfTheWrongTypeIsWrongType) {
  EXPECT_EQ(decode_one("a2 0001 0201"), Status(Error::kWrongType));   // name as a number
  EXPECT_EQ(decode_one("a2 f5 01 0201"), Status(Error::kWrongType));  // key `true`
}

TEST(Senml, MoreRecordsThanCapacityIsOversize) {
  const auto bytes = test::from_hex("83 a2006178 0201 a2006178 0201 a2006178 0201");
  std::array<Record, 2> out{};
  EXPECT_EQ(decode(bytes, out).status(), Status(Error::kOversize));
}

TEST(Senml, EmptyPackIsInvalid) {
  std::array<Record, 2> out{};
  EXPECT_EQ(decode(test::from_hex("80"), out).status(), Status(Error::kInvalidValue));
}

TEST(Senml, NonFiniteValueIsInvalid) {
  EXPECT_EQ(decode_one("a2 006178 02f97c00"), Status(Error::kInvalidValue));  // +inf
}

TEST(Senml, EncoderRefusesARecordWithoutValue) {
  std::array<Record, 1> in{};
  in[0].name = "x";
  std::array<std::uint8_t, 64> buffer{};
  EXPECT_EQ(encode(in, buffer).status(), Status(Error::kInvalidValue));
}

}  // namespace
}  // namespace spindle::senml
