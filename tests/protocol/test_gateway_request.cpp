// protocol/gateway_request: a challenge, a capture request or both round trip in the
// documented encoding; malformed, oversize, undersize and unknown critical content is
// refused with its own error.
#include "spindle/protocol/gateway_request.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "test_support.hpp"

namespace spindle::gateway_request {
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

std::string encode_hex(const GatewayRequest& request) {
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  const auto encoded = encode(request, buffer);
  EXPECT_TRUE(encoded.ok()) << encoded.status().name();
  return encoded.ok() ? test::to_hex(*encoded) : "";
}

TEST(GatewayRequest, EncodesTheDocumentedBytes) {
  // The golden examples of protocol/cddl/gateway_request.cddl.
  const auto nonce = counting_nonce();
  GatewayRequest challenge_only;
  challenge_only.nonce = nonce;
  EXPECT_EQ(encode_hex(challenge_only), "a10150303132333435363738393a3b3c3d3e3f");
  GatewayRequest capture_only;
  capture_only.has_capture = true;
  capture_only.capture = {7, capture::Kind::kFeatures, 50};
  EXPECT_EQ(encode_hex(capture_only), "a102a301070200031832");
}

TEST(GatewayRequest, BothPartsRoundTrip) {
  const auto nonce = counting_nonce();
  GatewayRequest request;
  request.nonce = nonce;
  request.has_capture = true;
  request.capture = {0xffffffffffULL, capture::Kind::kRaw, capture::kMaxWindows};
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  const auto encoded = encode(request, buffer);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  const auto decoded = decode(*encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  EXPECT_EQ(std::vector<std::uint8_t>(decoded->nonce.begin(), decoded->nonce.end()),
            std::vector<std::uint8_t>(nonce.begin(), nonce.end()));
  ASSERT_TRUE(decoded->has_capture);
  EXPECT_EQ(decoded->capture, request.capture);
}

TEST(GatewayRequest, RoundTripsEveryAllowedNonceSize) {
  for (std::size_t size = status_report::kMinNonceSize; size <= status_report::kMaxNonceSize;
       ++size) {
    std::vector<std::uint8_t> nonce(size, static_cast<std::uint8_t>(size));
    GatewayRequest request;
    request.nonce = nonce;
    std::array<std::uint8_t, kMaxEncodedSize> buffer{};
    const auto encoded = encode(request, buffer);
    ASSERT_TRUE(encoded.ok()) << size;
    const auto decoded = decode(*encoded);
    ASSERT_TRUE(decoded.ok()) << size << " " << decoded.status().name();
    EXPECT_EQ(std::vector<std::uint8_t>(decoded->nonce.begin(), decoded->nonce.end()), nonce);
    EXPECT_FALSE(decoded->has_capture);
  }
}

TEST(GatewayRequest, EncoderRefusesWhatTheDecoderWouldRefuse) {
  std::array<std::uint8_t, 64> nonce{};
  std::array<std::uint8_t, 128> buffer{};
  GatewayRequest request;
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kMissingField));
  request.nonce = {nonce.data(), status_report::kMinNonceSize - 1};
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kInvalidValue));
  request.nonce = {nonce.data(), status_report::kMaxNonceSize + 1};
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kOversize));
  request.nonce = {};
  request.has_capture = true;
  request.capture = {1, capture::Kind::kFeatures, capture::kMaxWindows + 1};
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kInvalidValue));
  request.capture = {0, capture::Kind::kFeatures, 1};
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kInvalidValue));
  request.nonce = {nonce.data(), 16};
  request.capture = {1, capture::Kind::kFeatures, 1};
  std::array<std::uint8_t, 8> small{};
  EXPECT_EQ(encode(request, small).status(), Status(Error::kBufferTooSmall));
}

TEST(GatewayRequest, NegativeKeysAreSkippedAsExtensions) {
  // {-1: null, 1: h'0102030405060708'}
  const auto bytes = test::from_hex("a2 20f6 01 48 0102030405060708");
  const auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  EXPECT_EQ(decoded->nonce.size(), 8U);
  // {2: {1: 7, 2: 0, 3: 50, -1: 0}}
  const auto capture = decode(test::from_hex("a1 02 a4 0107 0200 031832 2000"));
  ASSERT_TRUE(capture.ok()) << capture.status().name();
  EXPECT_EQ(capture->capture.windows, 50U);
}

TEST(GatewayRequest, MalformedInputIsRefusedWithItsReason) {
  EXPECT_EQ(decode_status(""), Status(Error::kTruncated));
  EXPECT_EQ(decode_status("a1 01 50 3031"), Status(Error::kTruncated));
  // Not a map; a text nonce; an indefinite map.
  EXPECT_EQ(decode_status("81 01"), Status(Error::kWrongType));
  EXPECT_EQ(decode_status("a1 01 68 3031323334353637"), Status(Error::kWrongType));
  EXPECT_EQ(decode_status("bf 01 48 0102030405060708 ff"), Status(Error::kIndefiniteLength));
  // Trailing bytes after the map; a capture that is not a map.
  EXPECT_EQ(decode_status("a1 01 48 0102030405060708 00"), Status(Error::kTrailingBytes));
  EXPECT_EQ(decode_status("a1 02 07"), Status(Error::kWrongType));
}

TEST(GatewayRequest, SizesAndValuesOutsideTheSchemaAreRefused) {
  // 7 bytes: too short; 33 bytes: too long; an empty nonce.
  EXPECT_EQ(decode_status("a1 01 47 01020304050607"), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_status("a1 01 40"), Status(Error::kInvalidValue));
  std::string longer = "a1 01 5821";
  for (int i = 0; i < 33; ++i)
    longer += "aa";
  EXPECT_EQ(decode_status(longer), Status(Error::kOversize));
  // Capture id 0, kind 2, 0 windows, 10001 windows.
  EXPECT_EQ(decode_status("a1 02 a3 0100 0200 0301"), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_status("a1 02 a3 0101 0202 0301"), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_status("a1 02 a3 0101 0200 0300"), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_status("a1 02 a3 0101 0200 03192711"), Status(Error::kInvalidValue));
}

TEST(GatewayRequest, ARecalibrationRequestRoundTripsAlone) {
  GatewayRequest request;
  request.has_recalibrate = true;
  request.recalibrate_after = 2;
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  const auto bytes = encode(request, buffer);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(test::to_hex(*bytes), "a10302");
  const auto back = decode(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->has_recalibrate);
  EXPECT_EQ(back->recalibrate_after, 2U);
  EXPECT_TRUE(back->nonce.empty());
  EXPECT_FALSE(back->has_capture);
}

TEST(GatewayRequest, ADecisionAloneRoundTripsAsItsBytes) {
  const std::vector<std::uint8_t> decision(decision::kMaxSignedSize, 0xd2);
  GatewayRequest request;
  request.decision = decision;
  std::array<std::uint8_t, kMaxEncodedSize> buffer{};
  const auto out = encode(request, buffer);
  ASSERT_TRUE(out.ok()) << out.status().name();
  const auto back = decode(*out);
  ASSERT_TRUE(back.ok()) << back.status().name();
  EXPECT_EQ(std::vector<std::uint8_t>(back->decision.begin(), back->decision.end()), decision);
  EXPECT_TRUE(back->nonce.empty());
  EXPECT_FALSE(back->has_capture);
  const std::vector<std::uint8_t> too_long(decision::kMaxSignedSize + 1, 0xd2);
  request.decision = too_long;
  EXPECT_EQ(encode(request, buffer).status(), Status(Error::kOversize));
}

TEST(GatewayRequest, MissingDuplicateAndUnknownCriticalKeysAreRefused) {
  EXPECT_EQ(decode_status("a0"), Status(Error::kMissingField));
  EXPECT_EQ(decode_status("a1 20 f6"), Status(Error::kMissingField));
  EXPECT_EQ(decode_status("a1 02 a2 0101 0200"), Status(Error::kMissingField));
  EXPECT_EQ(decode_status("a2 01 48 0102030405060708 01 48 0102030405060708"),
            Status(Error::kDuplicateKey));
  EXPECT_EQ(decode_status("a2 01 48 0102030405060708 05 00"), Status(Error::kUnknownCriticalField));
  // Key 4 is a decision: a byte string, never empty.
  EXPECT_EQ(decode_status("a1 04 00"), Status(Error::kWrongType));
  EXPECT_EQ(decode_status("a1 04 40"), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_status("a1 02 a4 0101 0200 0301 0400"), Status(Error::kUnknownCriticalField));
}

}  // namespace
}  // namespace spindle::gateway_request
