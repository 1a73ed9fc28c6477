// protocol/challenge: the nonce round trips in the documented encoding; malformed,
// oversize, undersize and unknown critical content is refused with its own error.
#include "spindle/protocol/challenge.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test_support.hpp"

namespace spindle::challenge {
namespace {

std::array<std::uint8_t, 16> counting_nonce() {
  std::array<std::uint8_t, 16> nonce{};
  for (std::size_t i = 0; i < nonce.size(); ++i)
    nonce[i] = static_cast<std::uint8_t>(0x30 + i);
  return nonce;
}

Status decode_status(std::string_view hex) {
  const auto bytes = test::from_hex(hex);
  return decode(bytes).status();
}

TEST(Challenge, EncodesTheDocumentedBytes) {
  // The golden example of protocol/cddl/challenge.cddl.
  const auto nonce = counting_nonce();
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  const auto encoded = encode(nonce, buffer);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  EXPECT_EQ(test::to_hex(*encoded), "a10150303132333435363738393a3b3c3d3e3f");
}

TEST(Challenge, RoundTripsEveryAllowedNonceSize) {
  for (std::size_t size = status_report::kMinNonceSize; size <= status_report::kMaxNonceSize;
       ++size) {
    std::vector<std::uint8_t> nonce(size, static_cast<std::uint8_t>(size));
    std::array<std::uint8_t, kMaxEncodedSize> buffer{};
    const auto encoded = encode(nonce, buffer);
    ASSERT_TRUE(encoded.ok()) << size;
    const auto decoded = decode(*encoded);
    ASSERT_TRUE(decoded.ok()) << size << " " << decoded.status().name();
    EXPECT_EQ(std::vector<std::uint8_t>(decoded->begin(), decoded->end()), nonce);
  }
}

TEST(Challenge, EncoderRefusesWhatTheDecoderWouldRefuse) {
  std::array<std::uint8_t, 64> nonce{};
  std::array<std::uint8_t, 128> buffer{};
  EXPECT_EQ(encode({nonce.data(), status_report::kMinNonceSize - 1}, buffer).status(),
            Status(Error::kInvalidValue));
  EXPECT_EQ(encode({nonce.data(), status_report::kMaxNonceSize + 1}, buffer).status(),
            Status(Error::kOversize));
  std::array<std::uint8_t, 8> small{};
  EXPECT_EQ(encode({nonce.data(), 16}, small).status(), Status(Error::kBufferTooSmall));
}

TEST(Challenge, NegativeKeysAreSkippedAsExtensions) {
  // {-1: null, 1: h'0102030405060708'}
  const auto bytes = test::from_hex("a2 20f6 01 48 0102030405060708");
  const auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  EXPECT_EQ(decoded->size(), 8U);
}

TEST(Challenge, MalformedInputIsRefusedWithItsReason) {
  EXPECT_EQ(decode_status(""), Status(Error::kTruncated));
  EXPECT_EQ(decode_status("a1 01 50 3031"), Status(Error::kTruncated));
  // Not a map; a text nonce; an indefinite map.
  EXPECT_EQ(decode_status("81 01"), Status(Error::kWrongType));
  EXPECT_EQ(decode_status("a1 01 68 3031323334353637"), Status(Error::kWrongType));
  EXPECT_EQ(decode_status("bf 01 48 0102030405060708 ff"), Status(Error::kIndefiniteLength));
  // Trailing bytes after the map.
  EXPECT_EQ(decode_status("a1 01 48 0102030405060708 00"), Status(Error::kTrailingBytes));
}

TEST(Challenge, SizesOutsideTheSchemaAreRefused) {
  // 7 bytes: too short; 33 bytes: too long.
  EXPECT_EQ(decode_status("a1 01 47 01020304050607"), Status(Error::kInvalidValue));
  std::string longer = "a1 01 5821";
  for (int i = 0; i < 33; ++i)
    longer += "aa";
  EXPECT_EQ(decode_status(longer), Status(Error::kOversize));
}

TEST(Challenge, MissingDuplicateAndUnknownCriticalKeysAreRefused) {
  EXPECT_EQ(decode_status("a0"), Status(Error::kMissingField));
  EXPECT_EQ(decode_status("a1 20 f6"), Status(Error::kMissingField));
  EXPECT_EQ(decode_status("a2 01 48 0102030405060708 01 48 0102030405060708"),
            Status(Error::kDuplicateKey));
  EXPECT_EQ(decode_status("a2 01 48 0102030405060708 02 00"), Status(Error::kUnknownCriticalField));
}

}  // namespace
}  // namespace spindle::challenge
