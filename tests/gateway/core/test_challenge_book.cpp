// gateway/core/challenge_book: a device has at most one attestation challenge outstanding;
// it is gone once expired, replaced or used up by a verdict, and a verdict that could not
// be stored gives it back, unless a new one was issued meanwhile.
#include "spindle/gateway/challenge_book.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

constexpr std::int64_t kNow = 1'763'800'000'000;

Challenge challenge_with(std::uint8_t fill, std::int64_t expires_ms = kNow + kChallengeLifetimeMs) {
  Challenge challenge;
  challenge.nonce.fill(fill);
  challenge.expires_ms = expires_ms;
  return challenge;
}

TEST(ChallengeBookTest, NoChallengeIsOutstandingBeforeOneIsIssued) {
  ChallengeBook book;
  EXPECT_EQ(book.outstanding("pump-1", kNow), nullptr);
}

TEST(ChallengeBookTest, AnIssuedChallengeIsOutstandingForItsDeviceOnly) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11));
  const Challenge* outstanding = book.outstanding("pump-1", kNow);
  ASSERT_NE(outstanding, nullptr);
  EXPECT_EQ(outstanding->nonce, challenge_with(0x11).nonce);
  EXPECT_EQ(book.outstanding("pump-2", kNow), nullptr);
}

TEST(ChallengeBookTest, AnExpiredChallengeIsNotOutstanding) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11, kNow + 1000));
  EXPECT_NE(book.outstanding("pump-1", kNow + 999), nullptr);
  EXPECT_EQ(book.outstanding("pump-1", kNow + 1000), nullptr);
  EXPECT_EQ(book.size(), 0U);
}

TEST(ChallengeBookTest, HousekeepingDropsExpiredChallengesAndKeepsFreshOnes) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11, kNow + 1000));
  book.issue("pump-2", challenge_with(0x22, kNow + 5000));
  book.drop_expired(kNow + 1000);
  EXPECT_EQ(book.size(), 1U);
  EXPECT_NE(book.outstanding("pump-2", kNow + 1000), nullptr);
}

TEST(ChallengeBookTest, ANewChallengeReplacesTheOutstandingOne) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11));
  book.issue("pump-1", challenge_with(0x22));
  ASSERT_NE(book.outstanding("pump-1", kNow), nullptr);
  EXPECT_EQ(book.outstanding("pump-1", kNow)->nonce, challenge_with(0x22).nonce);
  EXPECT_EQ(book.size(), 1U);
}

TEST(ChallengeBookTest, AMatchOrAMismatchUsesTheChallengeUp) {
  for (const Verdict verdict : {Verdict::kMatch, Verdict::kMismatch}) {
    ChallengeBook book;
    book.issue("pump-1", challenge_with(0x11));
    const auto consumed = book.consume("pump-1", verdict);
    ASSERT_TRUE(consumed.has_value()) << attestation_verdict_name(verdict);
    EXPECT_EQ(consumed->nonce, challenge_with(0x11).nonce);
    EXPECT_EQ(book.outstanding("pump-1", kNow), nullptr) << attestation_verdict_name(verdict);
  }
}

TEST(ChallengeBookTest, AnInvalidMacOrAStaleAnswerLeavesTheChallengeOutstanding) {
  for (const Verdict verdict : {Verdict::kMacInvalid, Verdict::kStale}) {
    ChallengeBook book;
    book.issue("pump-1", challenge_with(0x11));
    EXPECT_FALSE(book.consume("pump-1", verdict).has_value()) << attestation_verdict_name(verdict);
    EXPECT_NE(book.outstanding("pump-1", kNow), nullptr) << attestation_verdict_name(verdict);
  }
}

TEST(ChallengeBookTest, NothingIsConsumedWithoutAnOutstandingChallenge) {
  ChallengeBook book;
  EXPECT_FALSE(book.consume("pump-1", Verdict::kMatch).has_value());
}

TEST(ChallengeBookTest, AChallengeWhoseVerdictWasNotStoredIsGivenBack) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11));
  const auto consumed = book.consume("pump-1", Verdict::kMatch);
  book.give_back("pump-1", consumed);
  const Challenge* outstanding = book.outstanding("pump-1", kNow);
  ASSERT_NE(outstanding, nullptr);
  EXPECT_EQ(outstanding->nonce, challenge_with(0x11).nonce);
}

TEST(ChallengeBookTest, AGivenBackChallengeDoesNotReplaceOneIssuedMeanwhile) {
  ChallengeBook book;
  book.issue("pump-1", challenge_with(0x11));
  const auto consumed = book.consume("pump-1", Verdict::kMismatch);
  book.issue("pump-1", challenge_with(0x22));
  book.give_back("pump-1", consumed);
  ASSERT_NE(book.outstanding("pump-1", kNow), nullptr);
  EXPECT_EQ(book.outstanding("pump-1", kNow)->nonce, challenge_with(0x22).nonce);
}

TEST(ChallengeBookTest, GivingBackNothingLeavesTheBookAsItIs) {
  ChallengeBook book;
  book.give_back("pump-1", std::nullopt);
  EXPECT_EQ(book.outstanding("pump-1", kNow), nullptr);
}

}  // namespace
}  // namespace spindle::gateway
