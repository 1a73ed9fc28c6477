// protocol/cbor_writer: shortest-form, definite-length output; overflow is an error, never a
// partial write past the buffer.
#include "spindle/protocol/cbor_writer.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace spindle::cbor {
namespace {

using test::to_hex;

std::string encode(void (*build)(Writer&)) {
  std::array<std::uint8_t, 64> buffer{};
  Writer w(buffer);
  build(w);
  const auto out = w.finish();
  EXPECT_TRUE(out.ok());
  return out.ok() ? to_hex(*out) : "";
}

TEST(CborWriter, EncodesRfc8949AppendixAExamples) {
  EXPECT_EQ(encode([](Writer& w) { w.uint(1000000); }), "1a000f4240");
  EXPECT_EQ(encode([](Writer& w) { w.integer(-1000); }), "3903e7");
  EXPECT_EQ(encode([](Writer& w) { w.text("IETF"); }), "6449455446");
  EXPECT_EQ(encode([](Writer& w) { w.array(3).uint(1).uint(2).uint(3); }), "83010203");
  EXPECT_EQ(encode([](Writer& w) { w.map(1).text("a").uint(1); }), "a1616101");
  EXPECT_EQ(encode([](Writer& w) { w.tag(1).uint(1363896240); }), "c11a514b67b0");
  EXPECT_EQ(encode([](Writer& w) { w.boolean(false).null(); }), "f4f6");
  EXPECT_EQ(encode([](Writer& w) { w.float32(100000.0F); }), "fa47c35000");
  EXPECT_EQ(encode([](Writer& w) { w.float64(1.1); }), "fb3ff199999999999a");
}

TEST(CborWriter, NumberChoosesTheShortestExactForm) {
  EXPECT_EQ(encode([](Writer& w) { w.number(6144.0); }), "191800");
  EXPECT_EQ(encode([](Writer& w) { w.number(-5.0); }), "24");
  EXPECT_EQ(encode([](Writer& w) { w.number(0.125); }), "fa3e000000");
  EXPECT_EQ(encode([](Writer& w) { w.number(120.1); }), "fb405e066666666666");
}

TEST(CborWriter, EmptyStringsEncode) {
  EXPECT_EQ(encode([](Writer& w) { w.text("").bytes({}); }), "6040");
}

TEST(CborWriter, OverflowIsStickyAndReported) {
  std::array<std::uint8_t, 4> buffer{};
  Writer w(buffer);
  w.text("IETF").uint(1);
  EXPECT_EQ(w.status(), Status(Error::kBufferTooSmall));
  EXPECT_EQ(w.finish().status(), Status(Error::kBufferTooSmall));
  w.uint(0);                // ignored once failed
  EXPECT_EQ(w.size(), 1U);  // only the text head fitted
}

}  // namespace
}  // namespace spindle::cbor
