// firmware/telemetry/reading: ring payloads round trip; batches are SenML that protocol/
// decodes, carry every reading's sequence number, and fit the datagram budget.
#include "spindle/telemetry/reading.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "spindle/protocol/senml.hpp"

namespace spindle::telemetry {
namespace {

Reading reading(std::uint32_t seq) {
  Reading r;
  r.seq = seq;
  r.unix_ms = 1763800000000ULL + seq * 320ULL;
  r.score = 0.25F * static_cast<float>(seq);
  r.anomaly = seq % 2 == 0;
  r.latency_us = 850;
  r.arena_high_water = 6144;
  r.uptime_s = seq;
  r.reboots = 2;
  r.download_retries = 1;
  r.ring_dropped = 0;
  return r;
}

RingEntry entry_of(const Reading& r) {
  RingEntry e;
  e.kind = static_cast<std::uint8_t>(RecordKind::kReading);
  const auto n = serialize(r, e.payload);
  EXPECT_TRUE(n.ok());
  e.length = static_cast<std::uint16_t>(*n);
  return e;
}

TEST(Reading, RoundTripsThroughItsRingPayload) {
  const Reading r = reading(7);
  const RingEntry e = entry_of(r);
  const auto back = deserialize_reading(e.bytes());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->seq, 7U);
  EXPECT_EQ(back->unix_ms, r.unix_ms);
  EXPECT_EQ(back->score, r.score);
  EXPECT_EQ(back->anomaly, r.anomaly);
  EXPECT_EQ(back->reboots, 2U);
  EXPECT_EQ(*record_seq(e), 7U);
}

TEST(Reading, WrongLengthPayloadIsMalformed) {
  const std::vector<std::uint8_t> short_payload(10);
  EXPECT_EQ(deserialize_reading(short_payload).status(), Status(Error::kMalformed));
}

TEST(FeatureStats, RoundTripsThroughItsRingPayload) {
  FeatureStats s;
  s.seq = 9;
  s.unix_ms = 5;
  s.windows = 32;
  s.count = 3;
  s.mean = {1.0F, 2.0F, 3.0F};
  s.stddev = {0.5F, 0.25F, 0.125F};
  std::array<std::uint8_t, kMaxRecordPayload> buffer{};
  const auto n = serialize(s, buffer);
  ASSERT_TRUE(n.ok());
  const auto back = deserialize_feature_stats({buffer.data(), *n});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->count, 3U);
  EXPECT_EQ(back->stddev[2], 0.125F);
}

TEST(EncodeBatch, IsSenmlWithBaseNameSequenceNumbersAndResolvedTimes) {
  std::vector<RingEntry> entries = {entry_of(reading(1)), entry_of(reading(2))};
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("node-1", entries, out);
  ASSERT_TRUE(batch.ok()) << batch.status().name();
  EXPECT_EQ(batch->entries, 2U);
  std::array<senml::Record, 32> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok()) << n.status().name();
  EXPECT_EQ(*n, 16U);
  EXPECT_EQ(records[0].base_name, "urn:dev:spindle:node-1:");
  EXPECT_EQ(records[0].name, "score");
  EXPECT_EQ(records[0].seq, 1U);
  EXPECT_DOUBLE_EQ(records[0].resolved_time(), 1763800000.32);
  EXPECT_EQ(records[8].seq, 2U);
  EXPECT_DOUBLE_EQ(records[8].resolved_number(), 0.5);
  EXPECT_EQ(records[1].kind, senml::ValueKind::kBool);
}

TEST(EncodeBatch, TakesOnlyWhatFitsAndSaysHowMany) {
  std::vector<RingEntry> entries;
  for (std::uint32_t i = 1; i <= 30; ++i)
    entries.push_back(entry_of(reading(i)));
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("node-1", entries, out);
  ASSERT_TRUE(batch.ok());
  EXPECT_GT(batch->entries, 1U);
  EXPECT_LT(batch->entries, 30U);
  EXPECT_LE(batch->bytes.size(), out.size());
  std::array<senml::Record, 256> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok());
  std::set<std::uint64_t> seqs;
  for (std::size_t i = 0; i < *n; ++i)
    seqs.insert(records[i].seq);
  EXPECT_EQ(seqs.size(), batch->entries);
  EXPECT_EQ(*seqs.rbegin(), batch->entries);
}

TEST(EncodeBatch, FeatureStatsTravelAsPackedData) {
  FeatureStats s;
  s.seq = 3;
  s.unix_ms = 1763800000000ULL;
  s.windows = 32;
  s.count = 2;
  s.mean = {1.5F, -2.0F};
  s.stddev = {0.5F, 4.0F};
  RingEntry e;
  e.kind = static_cast<std::uint8_t>(RecordKind::kFeatureStats);
  e.length = static_cast<std::uint16_t>(*serialize(s, e.payload));
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("n", {&e, 1}, out);
  ASSERT_TRUE(batch.ok());
  std::array<senml::Record, 4> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 2U);
  EXPECT_EQ(records[1].name, "feature_stats");
  ASSERT_EQ(records[1].data.size(), 16U);
  float mean1 = 0;
  std::memcpy(&mean1, records[1].data.data() + 8, 4);
  EXPECT_EQ(mean1, -2.0F);
}

TEST(EncodeBatch, ReadingWithoutAModelCarriesNoScore) {
  Reading r = reading(4);
  r.score = std::nanf("");
  std::vector<RingEntry> entries = {entry_of(r)};
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("node-1", entries, out);
  ASSERT_TRUE(batch.ok());
  std::array<senml::Record, 16> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6U);
  for (std::size_t i = 0; i < *n; ++i)
    EXPECT_NE(records[i].name, "score");
}

TEST(Reading, TheCalibratingFlagRoundTripsBesideTheAnomalyFlag) {
  for (const bool anomaly : {false, true}) {
    for (const bool calibrating : {false, true}) {
      Reading r = reading(3);
      r.anomaly = anomaly;
      r.calibrating = calibrating;
      const auto back = deserialize_reading(entry_of(r).bytes());
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(back->anomaly, anomaly);
      EXPECT_EQ(back->calibrating, calibrating);
    }
  }
}

TEST(EncodeBatch, AReadingWhileCalibratingSaysSo) {
  Reading r = reading(5);
  r.anomaly = false;
  r.calibrating = true;
  const Reading calibrated = reading(6);
  std::vector<RingEntry> entries = {entry_of(r), entry_of(calibrated)};
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("node-1", entries, out);
  ASSERT_TRUE(batch.ok());
  std::array<senml::Record, 32> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok());
  std::size_t calibrating = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    if (records[i].name != "calibrating") continue;
    ++calibrating;
    EXPECT_EQ(records[i].seq, 5U);
    EXPECT_TRUE(records[i].boolean);
  }
  EXPECT_EQ(calibrating, 1U);  // absent once calibrated
}

TEST(EncodeBatch, LargestFeatureStatsStillDecodeWithProtocol) {
  FeatureStats s;
  s.seq = 1;
  s.unix_ms = 1763800000000ULL;
  s.windows = 32;
  s.count = kMaxFeatures;
  for (std::size_t i = 0; i < kMaxFeatures; ++i)
    s.mean[i] = static_cast<float>(i);
  RingEntry e;
  e.kind = static_cast<std::uint8_t>(RecordKind::kFeatureStats);
  e.length = static_cast<std::uint16_t>(*serialize(s, e.payload));
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("n", {&e, 1}, out);
  ASSERT_TRUE(batch.ok());
  std::array<senml::Record, 4> records{};
  const auto n = senml::decode(batch->bytes, records);
  ASSERT_TRUE(n.ok()) << n.status().name();
  EXPECT_EQ(records[1].data.size(), 8 * kMaxFeatures);
}

TEST(EncodeBatch, StopsBeforeAnUndecodableEntryAndRefusesOneThatComesFirst) {
  RingEntry bad;
  bad.kind = static_cast<std::uint8_t>(RecordKind::kReading);
  bad.length = 7;  // not a reading's length
  std::vector<RingEntry> entries = {entry_of(reading(1)), bad, entry_of(reading(3))};
  std::array<std::uint8_t, 1024> out{};
  const auto batch = encode_batch("node-1", entries, out);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->entries, 1U);
  EXPECT_EQ(encode_batch("node-1", {&bad, 1}, out).status(), Status(Error::kMalformed));
}

TEST(EncodeBatch, BadDeviceIdIsRefused) {
  std::vector<RingEntry> entries = {entry_of(reading(1))};
  std::array<std::uint8_t, 1024> out{};
  EXPECT_EQ(encode_batch("bad id", entries, out).status(), Status(Error::kInvalidValue));
}

}  // namespace
}  // namespace spindle::telemetry
