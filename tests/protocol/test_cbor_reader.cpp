// protocol/cbor_reader: each kind of bad input is refused with its own error, and
// well-formed items read back exactly (RFC 8949 appendix A examples).
#include "spindle/protocol/cbor_reader.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace spindle::cbor {
namespace {

using test::from_hex;

TEST(CborReader, ReadsRfc8949AppendixAIntegers) {
  struct Case {
    const char* hex;
    std::int64_t value;
  };
  for (const Case c :
       {Case{"00", 0}, Case{"17", 23}, Case{"1818", 24}, Case{"1903e8", 1000},
        Case{"1a000f4240", 1000000}, Case{"20", -1}, Case{"3863", -100}, Case{"3903e7", -1000}}) {
    const auto bytes = from_hex(c.hex);
    Reader r(bytes);
    const auto v = r.read_int();
    ASSERT_TRUE(v.ok()) << c.hex;
    EXPECT_EQ(*v, c.value) << c.hex;
    EXPECT_TRUE(r.finish().ok());
  }
}

TEST(CborReader, ReadsHalfSingleAndDoubleFloats) {
  for (const auto& [hex, value] : std::initializer_list<std::pair<const char*, double>>{
           {"f93c00", 1.0}, {"fa47c35000", 100000.0}, {"fb3ff199999999999a", 1.1}}) {
    const auto bytes = from_hex(hex);
    Reader r(bytes);
    const auto v = r.read_number();
    ASSERT_TRUE(v.ok()) << hex;
    EXPECT_EQ(*v, value) << hex;
  }
}

TEST(CborReader, StringsAreViewsIntoTheInput) {
  const auto bytes = from_hex(
      "6449455446"
      "4401020304");
  Reader r(bytes);
  const auto text = r.read_text(16);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "IETF");
  EXPECT_EQ(reinterpret_cast<const std::uint8_t*>(text->data()), bytes.data() + 1);
  const auto data = r.read_bytes(16);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->size(), 4U);
  EXPECT_TRUE(r.at_end());
}

TEST(CborReader, TruncatedHeadOrStringIsTruncated) {
  for (const char* hex : {"19", "1a0000", "6449", "44010203", ""}) {
    const auto bytes = from_hex(hex);
    Reader r(bytes);
    EXPECT_EQ(r.next().status(), Status(Error::kTruncated)) << hex;
  }
}

TEST(CborReader, IndefiniteLengthItemsAreRefused) {
  for (const char* hex : {"5f42010243030405ff", "7f657374726561ff", "9f018202039f0405ffff",
                          "bf61610161629f0203ffff"}) {
    const auto bytes = from_hex(hex);
    Reader r(bytes);
    EXPECT_EQ(r.next().status(), Status(Error::kIndefiniteLength)) << hex;
  }
}

TEST(CborReader, ReservedAdditionalInformationIsMalformed) {
  for (const char* hex : {"1c", "1d", "1e", "ff"}) {
    const auto bytes = from_hex(hex);
    Reader r(bytes);
    EXPECT_EQ(r.next().status(), Status(Error::kMalformed)) << hex;
  }
}

TEST(CborReader, WrongTypeIsReportedAndNotConsumed) {
  const auto bytes = from_hex("6161");  // "a"
  Reader r(bytes);
  EXPECT_EQ(r.read_uint().status(), Status(Error::kWrongType));
  EXPECT_EQ(r.offset(), 0U);
  EXPECT_TRUE(r.read_text(4).ok());
}

TEST(CborReader, OversizeStringsAndContainersAreRefused) {
  const auto text = from_hex("6449455446");
  Reader r1(text);
  EXPECT_EQ(r1.read_text(3).status(), Status(Error::kOversize));
  const auto array = from_hex("83010203");
  Reader r2(array);
  EXPECT_EQ(r2.read_array(2).status(), Status(Error::kOversize));
  const auto map = from_hex("a201020304");
  Reader r3(map);
  EXPECT_EQ(r3.read_map(1).status(), Status(Error::kOversize));
}

TEST(CborReader, TrailingBytesAfterTheItemAreReported) {
  const auto bytes = from_hex("0100");
  Reader r(bytes);
  ASSERT_TRUE(r.read_uint().ok());
  EXPECT_EQ(r.finish(), Status(Error::kTrailingBytes));
}

TEST(CborReader, IntegerBeyondInt64IsInvalidValue) {
  const auto bytes = from_hex("1bffffffffffffffff");
  Reader r(bytes);
  EXPECT_EQ(r.read_int().status(), Status(Error::kInvalidValue));
}

TEST(CborReader, SkipPassesOverNestedContainersAndTags) {
  // [1, {"a": [2, 3]}, 18([h'00'])] then 7
  const auto bytes = from_hex(
      "8301a161618202 03d2814100"
      "07");
  Reader r(bytes);
  ASSERT_TRUE(r.skip().ok());
  const auto next = r.read_uint();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 7U);
}

TEST(CborReader, SkipRefusesNestingPastTheLimit) {
  std::vector<std::uint8_t> deep(kMaxSkipDepth + 2, 0x81);  // [[[[...]]]]
  deep.push_back(0x00);
  Reader r(deep);
  EXPECT_EQ(r.skip(), Status(Error::kNestingTooDeep));
}

TEST(CborReader, SkipOfAHugeDeclaredContainerFailsFast) {
  const auto bytes = from_hex("9bffffffffffffffff");  // array of 2^64-1 items, no content
  Reader r(bytes);
  EXPECT_EQ(r.skip(), Status(Error::kTruncated));
}

TEST(KeySet, DetectsDuplicatesOfPositiveAndNegativeKeys) {
  KeySet seen;
  EXPECT_TRUE(seen.mark(1).ok());
  EXPECT_TRUE(seen.mark(-1).ok());
  EXPECT_EQ(seen.mark(1), Status(Error::kDuplicateKey));
  EXPECT_EQ(seen.mark(-1), Status(Error::kDuplicateKey));
  EXPECT_TRUE(seen.has(-1));
  EXPECT_FALSE(seen.has(2));
}

TEST(ReadIntMap, DuplicateKeysAreRefused) {
  const auto bytes = from_hex("a2010201 03");  // {1: 2, 1: 3}
  Reader r(bytes);
  KeySet seen;
  const Status s = read_int_map(r, 8, seen, [&](std::int64_t) { return r.skip(); });
  EXPECT_EQ(s, Status(Error::kDuplicateKey));
}

TEST(ReadIntMap, TextKeysAreTheWrongType) {
  const auto bytes = from_hex("a1616101");  // {"a": 1}
  Reader r(bytes);
  KeySet seen;
  const Status s = read_int_map(r, 8, seen, [&](std::int64_t) { return r.skip(); });
  EXPECT_EQ(s, Status(Error::kWrongType));
}

TEST(SkipUnknownField, NonNegativeKeysAreCriticalNegativeKeysAreSkipped) {
  const auto bytes = from_hex("8101");
  Reader r(bytes);
  EXPECT_EQ(skip_unknown_field(r, 40), Status(Error::kUnknownCriticalField));
  EXPECT_TRUE(skip_unknown_field(r, -40).ok());
  EXPECT_TRUE(r.at_end());
}

}  // namespace
}  // namespace spindle::cbor
