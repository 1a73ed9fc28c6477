// protocol/capture: chunks round trip (whole and built in place from a prefix), carry
// little-endian float32 data, and anything outside capture_chunk.cddl is refused with its
// own error.
#include "spindle/protocol/capture.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "spindle/protocol/cbor_writer.hpp"
#include "test_support.hpp"

namespace spindle::capture {
namespace {

ChunkHeader features_header() {
  return {.capture_id = 7,
          .sequence = 1,
          .kind = Kind::kFeatures,
          .first_window = 2,
          .window_count = 2,
          .total_windows = 5,
          .board = "nrf52840dk",
          .sample_rate_hz = 3200,
          .window_length = 1024,
          .axes = 3,
          .feature_count = 45};
}

std::vector<std::uint8_t> values(std::size_t count) {
  std::vector<std::uint8_t> data(count * 4);
  for (std::size_t i = 0; i < count; ++i)
    put_value(data, i, static_cast<float>(i) - 0.5F);
  return data;
}

TEST(Capture, KindNamesRoundTrip) {
  EXPECT_STREQ(kind_name(Kind::kFeatures), "features");
  EXPECT_STREQ(kind_name(Kind::kRaw), "raw");
  EXPECT_EQ(*kind_from_name("raw"), Kind::kRaw);
  EXPECT_EQ(kind_from_name("wav").status(), Status(Error::kInvalidValue));
}

TEST(Capture, ValuesAreLittleEndianFloat32) {
  std::array<std::uint8_t, 8> data{};
  put_value(data, 1, 1.0F);
  EXPECT_EQ(test::to_hex(data), "000000000000803f");
  EXPECT_EQ(value_at(data, 1), 1.0F);
}

TEST(Capture, AChunkRoundTrips) {
  const auto data = values(2 * 45);
  Chunk chunk{features_header(), data};
  std::vector<std::uint8_t> buffer(kMaxChunkSize);
  const auto encoded = encode(chunk, buffer);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  const auto decoded = decode(*encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  EXPECT_EQ(decoded->header, chunk.header);
  EXPECT_EQ(std::vector<std::uint8_t>(decoded->data.begin(), decoded->data.end()), data);
  EXPECT_EQ(value_at(decoded->data, 89), 88.5F);
}

TEST(Capture, APrefixFollowedByTheDataIsTheSameMessage) {
  // The node writes the prefix right in front of data it already holds.
  ChunkHeader header = features_header();
  header.kind = Kind::kRaw;
  header.window_count = 1;
  header.window_length = 256;
  const auto data = values(256 * 3);
  std::vector<std::uint8_t> whole(kMaxChunkSize);
  const auto encoded = encode({header, data}, whole);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  std::array<std::uint8_t, kMaxChunkPrefix> prefix{};
  const auto size = encode_prefix(header, data.size(), prefix);
  ASSERT_TRUE(size.ok()) << size.status().name();
  std::vector<std::uint8_t> joined(prefix.begin(), prefix.begin() + *size);
  joined.insert(joined.end(), data.begin(), data.end());
  EXPECT_EQ(joined, std::vector<std::uint8_t>(encoded->begin(), encoded->end()));
}

TEST(Capture, TheLargestPrefixFitsItsBound) {
  ChunkHeader header = features_header();
  header.capture_id = ~std::uint64_t{0};
  header.kind = Kind::kRaw;
  header.total_windows = kMaxWindows;
  header.first_window = kMaxWindows - 1;
  header.sequence = kMaxWindows - 1;
  header.window_count = 1;
  header.board = "abcdefghijabcdefghijabcdefghij12";
  header.sample_rate_hz = kMaxSampleRateHz;
  header.window_length = kMaxWindowLength;
  header.feature_count = kMaxFeatures;
  std::array<std::uint8_t, kMaxChunkPrefix> prefix{};
  const auto size = encode_prefix(header, kMaxChunkData, prefix);
  ASSERT_TRUE(size.ok()) << size.status().name();
}

TEST(Capture, EncoderRefusesWhatTheDecoderWouldRefuse) {
  std::vector<std::uint8_t> buffer(kMaxChunkSize);
  const auto data = values(2 * 45);
  const auto refused = [&](ChunkHeader header, std::size_t size) {
    return encode({header, {data.data(), size}}, buffer).status();
  };
  ChunkHeader h = features_header();
  EXPECT_EQ(refused(h, data.size() - 4), Status(Error::kSizeMismatch));
  h.capture_id = 0;
  EXPECT_EQ(refused(h, data.size()), Status(Error::kInvalidValue));
  h = features_header();
  h.first_window = 4;  // 4 + 2 > 5
  EXPECT_EQ(refused(h, data.size()), Status(Error::kInvalidValue));
  h = features_header();
  h.sequence = 3;  // more chunks than windows before this one
  EXPECT_EQ(refused(h, data.size()), Status(Error::kInvalidValue));
  h = features_header();
  h.board = "";
  EXPECT_EQ(refused(h, data.size()), Status(Error::kInvalidValue));
  h = features_header();
  h.axes = 4;
  EXPECT_EQ(refused(h, data.size()), Status(Error::kInvalidValue));
  h = features_header();
  h.kind = Kind::kRaw;
  h.window_length = kMaxWindowLength;
  h.total_windows = 10;
  h.window_count = 2;  // two raw windows of the largest shape exceed a chunk
  EXPECT_EQ(refused(h, 0), Status(Error::kOversize));
  std::array<std::uint8_t, 16> small{};
  EXPECT_EQ(encode({features_header(), data}, small).status(), Status(Error::kBufferTooSmall));
}

// A chunk map built by hand: the fields of features_header() with one window of 45 values,
// then `extra` appended as further entries.
std::vector<std::uint8_t> hand_made(std::size_t entries, std::string_view extra_hex,
                                    std::size_t data_bytes = 180) {
  std::vector<std::uint8_t> out(512);
  cbor::Writer w(out);
  w.map(entries)
      .uint(1)
      .uint(7)
      .uint(2)
      .uint(0)
      .uint(3)
      .uint(0)
      .uint(4)
      .uint(0)
      .uint(5)
      .uint(1)
      .uint(6)
      .uint(1)
      .uint(7)
      .text("nrf52840dk")
      .uint(8)
      .uint(3200)
      .uint(9)
      .uint(1024)
      .uint(10)
      .uint(3)
      .uint(11)
      .uint(45);
  std::vector<std::uint8_t> data(data_bytes);
  if (entries >= 12) w.uint(12).bytes(data);
  const auto extra = test::from_hex(extra_hex);
  w.raw(extra);
  out.resize(w.size());
  return out;
}

TEST(Capture, HandMadeChunksDecodeOrAreRefused) {
  EXPECT_TRUE(decode(hand_made(12, "")).ok());
  // -1: an extension, skipped.
  EXPECT_TRUE(decode(hand_made(13, "20 00")).ok());
  EXPECT_EQ(decode(hand_made(13, "0d 00")).status(), Status(Error::kUnknownCriticalField));
  EXPECT_EQ(decode(hand_made(13, "01 07")).status(), Status(Error::kDuplicateKey));
  EXPECT_EQ(decode(hand_made(11, "")).status(), Status(Error::kMissingField));
  EXPECT_EQ(decode(hand_made(12, "", 176)).status(), Status(Error::kSizeMismatch));
  auto trailing = hand_made(12, "");
  trailing.push_back(0);
  EXPECT_EQ(decode(trailing).status(), Status(Error::kTrailingBytes));
  auto truncated = hand_made(12, "");
  truncated.pop_back();
  EXPECT_EQ(decode(truncated).status(), Status(Error::kTruncated));
}

TEST(Capture, RequestsOutsideTheirRangesAreRefused) {
  EXPECT_TRUE(validate(Request{1, Kind::kRaw, kMaxWindows}).ok());
  EXPECT_EQ(validate(Request{0, Kind::kRaw, 1}), Status(Error::kInvalidValue));
  EXPECT_EQ(validate(Request{1, Kind::kRaw, 0}), Status(Error::kInvalidValue));
  EXPECT_EQ(validate(Request{1, static_cast<Kind>(2), 1}), Status(Error::kInvalidValue));
}

TEST(Capture, TheGoldenVectorDecodes) {
  const auto bytes = test::read_file(test::vector_path("capture_chunk.cbor"));
  const auto chunk = decode(bytes);
  ASSERT_TRUE(chunk.ok()) << chunk.status().name();
  EXPECT_EQ(chunk->header.capture_id, 7U);
  EXPECT_EQ(chunk->header.feature_count, 45U);
  for (std::size_t i = 0; i < 45; ++i)
    EXPECT_EQ(value_at(chunk->data, i), static_cast<float>(i) * 0.25F);
}

}  // namespace
}  // namespace spindle::capture
