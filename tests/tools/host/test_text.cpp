// tools/host/text: hex both ways and trimming.
#include "spindle/host/text.hpp"

#include <gtest/gtest.h>

#include <array>

namespace spindle::host {
namespace {

TEST(HostText, HexIsLowerCaseAndReadsBackIgnoringWhitespaceAndCase) {
  const std::array<std::uint8_t, 4> bytes = {0x00, 0xAB, 0x7f, 0x10};
  EXPECT_EQ(to_hex(bytes), "00ab7f10");
  const auto parsed = parse_hex(" 00AB\n7f10\n");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, ByteVector(bytes.begin(), bytes.end()));
}

TEST(HostText, TextThatIsNotHexIsMalformed) {
  EXPECT_EQ(parse_hex("0g").status(), Status(Error::kMalformed));
  EXPECT_EQ(parse_hex("abc").status(), Status(Error::kMalformed));  // an odd digit count
  EXPECT_TRUE(parse_hex("").ok());
}

TEST(HostText, TrimRemovesSurroundingWhitespaceOnly) {
  EXPECT_EQ(trim("  token value\r\n"), "token value");
  EXPECT_EQ(trim("\t\n "), "");
  EXPECT_EQ(trim("x"), "x");
}

}  // namespace
}  // namespace spindle::host
