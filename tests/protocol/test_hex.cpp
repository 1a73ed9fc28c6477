// protocol/hex: key files in hex decode exactly; anything else is refused.
#include "spindle/protocol/hex.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace spindle::hex {
namespace {

TEST(Hex, DecodesEitherCaseAndIgnoresWhitespace) {
  std::array<std::uint8_t, 4> out{};
  const auto n = decode(" 0A ff\n1b\t2C\n", out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4U);
  EXPECT_EQ(out, (std::array<std::uint8_t, 4>{0x0a, 0xff, 0x1b, 0x2c}));
}

TEST(Hex, RefusesOddDigitsForeignCharactersAndOverflow) {
  std::array<std::uint8_t, 2> out{};
  EXPECT_EQ(decode("abc", out).status(), Status(Error::kMalformed));
  EXPECT_EQ(decode("zz", out).status(), Status(Error::kMalformed));
  EXPECT_EQ(decode("0x12", out).status(), Status(Error::kMalformed));
  EXPECT_EQ(decode("010203", out).status(), Status(Error::kBufferTooSmall));
}

TEST(Hex, EncodeRoundTrips) {
  const std::array<std::uint8_t, 3> bytes = {0x00, 0x7f, 0xab};
  std::string text(6, ' ');
  ASSERT_TRUE(encode(bytes, text).ok());
  EXPECT_EQ(text, "007fab");
  std::array<std::uint8_t, 3> back{};
  ASSERT_TRUE(decode(text, back).ok());
  EXPECT_EQ(back, bytes);
  std::array<char, 5> small{};
  EXPECT_EQ(encode(bytes, small).status(), Status(Error::kBufferTooSmall));
}

}  // namespace
}  // namespace spindle::hex
