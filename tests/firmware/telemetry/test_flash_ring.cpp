// firmware/telemetry/flash_ring: order, acknowledgement, persistence, the overflow policy,
// and recovery after a power cut at every flash operation.
#include "spindle/telemetry/flash_ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <vector>

#include "flash_fixture.hpp"

namespace spindle::telemetry {
namespace {

using test::FlashFixture;

std::vector<std::uint8_t> payload_for(std::uint32_t n, std::size_t size = 40) {
  std::vector<std::uint8_t> p(size);
  for (std::size_t i = 0; i < size; ++i)
    p[i] = static_cast<std::uint8_t>(n * 7 + i);
  p[0] = static_cast<std::uint8_t>(n);
  p[1] = static_cast<std::uint8_t>(n >> 8);
  return p;
}

std::uint32_t id_of(const RingEntry& e) {
  return static_cast<std::uint32_t>(e.payload[0] | (e.payload[1] << 8));
}

std::vector<std::uint32_t> unacked_ids(FlashRing& ring) {
  std::vector<RingEntry> entries(256);
  const auto n = ring.peek(entries);
  EXPECT_TRUE(n.ok());
  std::vector<std::uint32_t> ids;
  for (std::size_t i = 0; i < *n; ++i)
    ids.push_back(id_of(entries[i]));
  return ids;
}

class FlashRingTest : public FlashFixture {};

TEST_F(FlashRingTest, RecordsComeBackOldestFirstWithTheirBytes) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  for (std::uint32_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(ring.append(1, payload_for(i)).ok());
  std::vector<RingEntry> entries(8);
  const auto n = ring.peek(entries);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 5U);
  for (std::uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(entries[i].kind, 1U);
    const auto expected = payload_for(i + 1);
    EXPECT_EQ(std::vector<std::uint8_t>(entries[i].bytes().begin(), entries[i].bytes().end()),
              expected);
  }
  EXPECT_EQ(ring.unacknowledged(), 5U);
}

TEST_F(FlashRingTest, AcknowledgedRecordsAreNotReturnedAgainEvenAfterReboot) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  for (std::uint32_t i = 1; i <= 4; ++i)
    ASSERT_TRUE(ring.append(1, payload_for(i)).ok());
  std::vector<RingEntry> entries(2);
  ASSERT_EQ(*ring.peek(entries), 2U);
  ASSERT_TRUE(ring.acknowledge(entries[0]).ok());
  ASSERT_TRUE(ring.acknowledge(entries[1]).ok());
  EXPECT_EQ(unacked_ids(ring), (std::vector<std::uint32_t>{3, 4}));
  reboot();
  FlashRing after;
  ASSERT_TRUE(after.mount(area_.get()).ok());
  EXPECT_EQ(unacked_ids(after), (std::vector<std::uint32_t>{3, 4}));
  EXPECT_EQ(after.unacknowledged(), 2U);
  RingEntry newest;
  ASSERT_TRUE(after.newest(&newest).ok());
  EXPECT_EQ(id_of(newest), 4U);
}

TEST_F(FlashRingTest, AcknowledgingTwiceCountsOnce) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  ASSERT_TRUE(ring.append(1, payload_for(1)).ok());
  std::vector<RingEntry> entries(1);
  ASSERT_EQ(*ring.peek(entries), 1U);
  ASSERT_TRUE(ring.acknowledge(entries[0]).ok());
  ASSERT_TRUE(ring.acknowledge(entries[0]).ok());
  EXPECT_EQ(ring.unacknowledged(), 0U);
}

TEST_F(FlashRingTest, WhenFullTheOldestSectorIsDroppedAndCounted) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  // 2048-byte sectors hold 31 records of 40 bytes (16 + 40 + 8 padded = 64 each, after a
  // 16-byte sector header); 4 sectors, one always being written.
  constexpr std::uint32_t kTotal = 200;
  for (std::uint32_t i = 1; i <= kTotal; ++i)
    ASSERT_TRUE(ring.append(1, payload_for(i)).ok());
  const auto ids = unacked_ids(ring);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), kTotal);
  EXPECT_EQ(ring.dropped() + ring.unacknowledged(), kTotal);
  EXPECT_GT(ring.dropped(), 0U);
  // What is left is the newest, contiguous run.
  for (std::size_t i = 1; i < ids.size(); ++i)
    EXPECT_EQ(ids[i], ids[i - 1] + 1);
}

TEST_F(FlashRingTest, TheDropCountSurvivesAReboot) {
  std::uint32_t dropped = 0;
  {
    FlashRing ring;
    ASSERT_TRUE(ring.mount(area_.get()).ok());
    for (std::uint32_t i = 1; i <= 200; ++i)
      ASSERT_TRUE(ring.append(1, payload_for(i)).ok());
    dropped = ring.dropped();
    ASSERT_GT(dropped, 0U);
  }
  reboot();
  FlashRing after;
  ASSERT_TRUE(after.mount(area_.get()).ok());
  EXPECT_EQ(after.dropped(), dropped);
}

TEST_F(FlashRingTest, ASectorHeaderTornAfterItsFirstWordIsNotTakenForTheNewest) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  for (std::uint32_t i = 1; i <= 20; ++i)
    ASSERT_TRUE(ring.append(1, payload_for(i)).ok());
  // Sector 2 gets only its first 8 bytes programmed (sequence 0xFFFFFFFF-like garbage).
  const std::array<std::uint8_t, 8> torn = {0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF};
  ASSERT_TRUE(area_->write(2 * kSector, torn).ok());
  reboot();
  FlashRing after;
  ASSERT_TRUE(after.mount(area_.get()).ok());
  RingEntry newest;
  ASSERT_TRUE(after.newest(&newest).ok());
  EXPECT_EQ(id_of(newest), 20U);
  ASSERT_TRUE(after.append(1, payload_for(21)).ok());
  const auto ids = unacked_ids(after);
  EXPECT_EQ(ids.front(), 1U);
  EXPECT_EQ(ids.back(), 21U);
}

TEST_F(FlashRingTest, OversizePayloadIsRefused) {
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  EXPECT_EQ(ring.append(1, std::vector<std::uint8_t>(kMaxRecordPayload + 1)),
            Status(Error::kOversize));
}

TEST_F(FlashRingTest, ForeignDataInTheAreaIsFormattedAway) {
  std::vector<std::uint8_t> junk(64, 0x12);
  ASSERT_TRUE(area_->write(0, junk).ok());
  FlashRing ring;
  ASSERT_TRUE(ring.mount(area_.get()).ok());
  EXPECT_EQ(ring.unacknowledged(), 0U);
  ASSERT_TRUE(ring.append(1, payload_for(1)).ok());
  EXPECT_EQ(unacked_ids(ring), (std::vector<std::uint32_t>{1}));
}

// Appends 140 records (wrapping the 4-sector ring, so sector reuse is cut too) and
// acknowledges every third; returns what the caller was told succeeded.
struct Outcome {
  std::vector<std::uint32_t> appended;
  std::vector<std::uint32_t> acknowledged;
  std::uint32_t ack_in_flight = 0;  // a torn acknowledgement may land either way
};

Outcome run_until_power_cut(FlashRing& ring) {
  Outcome out;
  for (std::uint32_t i = 1; i <= 140; ++i) {
    if (!ring.append(1, payload_for(i)).ok()) return out;
    out.appended.push_back(i);
    if (i % 3 == 0) {
      std::vector<RingEntry> entries(1);
      const auto n = ring.peek(entries);
      if (!n.ok()) return out;
      if (*n == 1) {
        if (!ring.acknowledge(entries[0]).ok()) {
          out.ack_in_flight = id_of(entries[0]);
          return out;
        }
        out.acknowledged.push_back(id_of(entries[0]));
      }
    }
  }
  return out;
}

TEST_F(FlashRingTest, PowerCutAtEveryFlashOperationLosesNothingAcknowledgedOrAppended) {
  // Count the operations of an uninterrupted run first.
  std::uint64_t total_ops = 0;
  {
    FlashRing ring;
    ASSERT_TRUE(ring.mount(area_.get()).ok());
    const std::uint64_t before = flash_->operations();
    run_until_power_cut(ring);
    total_ops = flash_->operations() - before;
  }
  ASSERT_GT(total_ops, 140U);
  for (std::uint64_t cut = 0; cut < total_ops; ++cut) {
    std::filesystem::remove(path_);
    reboot();
    FlashRing ring;
    ASSERT_TRUE(ring.mount(area_.get()).ok());
    flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
    const Outcome outcome = run_until_power_cut(ring);
    reboot();
    FlashRing recovered;
    ASSERT_TRUE(recovered.mount(area_.get()).ok()) << "cut after " << cut;
    const auto ids = unacked_ids(recovered);
    std::map<std::uint32_t, int> seen;
    for (const auto id : ids)
      ++seen[id];
    for (const auto& [id, count] : seen)
      EXPECT_EQ(count, 1) << "cut " << cut << " id " << id;
    // Every append the caller was told succeeded is still there, unless acknowledged or
    // dropped by the overflow policy (counted, and only ever the oldest).
    const std::uint32_t dropped_ids = recovered.dropped();
    for (const auto id : outcome.appended) {
      if (seen.count(id) == 0 && !ids.empty() && id < ids.front() && dropped_ids > 0) continue;
      if (id == outcome.ack_in_flight) continue;
      const bool acked = std::find(outcome.acknowledged.begin(), outcome.acknowledged.end(), id) !=
                         outcome.acknowledged.end();
      EXPECT_EQ(seen.count(id), acked ? 0U : 1U)
          << "cut " << cut << (acked ? " resent " : " lost ") << id;
    }
    // Nothing appears that was never appended (beyond the one in flight).
    const std::uint32_t last = outcome.appended.empty() ? 0 : outcome.appended.back();
    for (const auto id : ids)
      EXPECT_LE(id, last + 1) << "cut " << cut;
    // And the ring keeps working.
    ASSERT_TRUE(recovered.append(1, payload_for(999)).ok()) << "cut " << cut;
    EXPECT_EQ(unacked_ids(recovered).back(), 999U);
  }
}

}  // namespace
}  // namespace spindle::telemetry
