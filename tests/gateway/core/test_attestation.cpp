// gateway/core/attestation: challenges are fresh and expire after ten minutes; an answer
// is judged on its MAC first, then its nonce, then what it runs against what was deployed.
#include "spindle/gateway/attestation.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "spindle/protocol/crypto.hpp"
#include "test_support.hpp"

namespace spindle::gateway {
namespace {

constexpr std::int64_t kNow = 1'763'800'000'000;
const std::array<std::uint8_t, 32> kKey = {0x5a, 0x01};
const std::string kDevice = "pump-1";

class JudgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    challenge_.nonce.fill(0x11);
    challenge_.expires_ms = kNow + kChallengeLifetimeMs;
    deployed_ = crypto::Sha256::of(crypto::as_bytes("deployed ciphertext"));
  }

  // An answer to `nonce` running `active`, MACed with `key`.
  Verdict judge(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> active,
                const std::string& expected_hex, const Challenge* outstanding,
                std::span<const std::uint8_t> key = kKey, std::int64_t now = kNow) {
    const auto mac = status_report::attestation_mac(key, kDevice, nonce, active, "0.1.0");
    EXPECT_TRUE(mac.ok());
    mac_ = *mac;
    const status_report::AttestationReport answer{nonce, active, "0.1.0", mac_};
    return judge_attestation(kKey, kDevice, answer, outstanding, now, expected_hex);
  }

  std::string deployed_hex() const { return test::to_hex(deployed_); }

  Challenge challenge_;
  crypto::Digest deployed_{};
  crypto::Digest mac_{};
};

TEST_F(JudgeTest, TheDeployedDigestUnderTheOutstandingNonceIsAMatch) {
  EXPECT_EQ(judge(challenge_.nonce, deployed_, deployed_hex(), &challenge_), Verdict::kMatch);
}

TEST_F(JudgeTest, AnotherDigestIsAMismatch) {
  crypto::Digest other = deployed_;
  other[0] ^= 1;
  EXPECT_EQ(judge(challenge_.nonce, other, deployed_hex(), &challenge_), Verdict::kMismatch);
}

TEST_F(JudgeTest, WithNothingDeployedOnlyTheZeroDigestMatches) {
  const crypto::Digest nothing{};
  EXPECT_EQ(judge(challenge_.nonce, nothing, "", &challenge_), Verdict::kMatch);
  EXPECT_EQ(judge(challenge_.nonce, deployed_, "", &challenge_), Verdict::kMismatch);
}

TEST_F(JudgeTest, AWrongKeyIsMacInvalidEvenWhenTheNonceIsAlsoWrong) {
  const std::array<std::uint8_t, 32> other_key = {0x77};
  EXPECT_EQ(judge(challenge_.nonce, deployed_, deployed_hex(), &challenge_, other_key),
            Verdict::kMacInvalid);
  std::array<std::uint8_t, 16> other_nonce{};
  EXPECT_EQ(judge(other_nonce, deployed_, deployed_hex(), nullptr, other_key),
            Verdict::kMacInvalid);
}

TEST_F(JudgeTest, AnAlteredFieldIsMacInvalid) {
  const auto mac =
      status_report::attestation_mac(kKey, kDevice, challenge_.nonce, deployed_, "0.1.0");
  ASSERT_TRUE(mac.ok());
  // The MAC is over firmware 0.1.0; the answer claims 0.2.0.
  const status_report::AttestationReport answer{challenge_.nonce, deployed_, "0.2.0", *mac};
  EXPECT_EQ(judge_attestation(kKey, kDevice, answer, &challenge_, kNow, deployed_hex()),
            Verdict::kMacInvalid);
  // The same answer claimed by another device.
  const status_report::AttestationReport honest{challenge_.nonce, deployed_, "0.1.0", *mac};
  EXPECT_EQ(judge_attestation(kKey, "pump-2", honest, &challenge_, kNow, deployed_hex()),
            Verdict::kMacInvalid);
}

TEST_F(JudgeTest, NoChallengeAnotherNonceOrAnExpiredChallengeIsStale) {
  EXPECT_EQ(judge(challenge_.nonce, deployed_, deployed_hex(), nullptr), Verdict::kStale);
  std::array<std::uint8_t, 16> other_nonce = challenge_.nonce;
  other_nonce[15] ^= 1;
  EXPECT_EQ(judge(other_nonce, deployed_, deployed_hex(), &challenge_), Verdict::kStale);
  EXPECT_EQ(
      judge(challenge_.nonce, deployed_, deployed_hex(), &challenge_, kKey, challenge_.expires_ms),
      Verdict::kStale);
  EXPECT_EQ(judge(challenge_.nonce, deployed_, deployed_hex(), &challenge_, kKey,
                  challenge_.expires_ms - 1),
            Verdict::kMatch);
}

TEST(Challenge, DrawnChallengesAreFreshAndLastTenMinutes) {
  const auto first = draw_challenge(kNow);
  const auto second = draw_challenge(kNow);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->nonce, second->nonce);
  EXPECT_EQ(first->expires_ms, kNow + 600'000);
  EXPECT_FALSE(first->expired(kNow + 599'999));
  EXPECT_TRUE(first->expired(kNow + 600'000));
}

TEST(Verdict, NamesAndEventKindsAreThoseTheApiDocuments) {
  EXPECT_STREQ(attestation_verdict_name(Verdict::kMatch), "match");
  EXPECT_STREQ(attestation_verdict_name(Verdict::kMismatch), "mismatch");
  EXPECT_STREQ(attestation_verdict_name(Verdict::kMacInvalid), "mac-invalid");
  EXPECT_STREQ(attestation_verdict_name(Verdict::kStale), "stale");
  EXPECT_STREQ(verdict_event_kind(Verdict::kMatch), "attestation");
  EXPECT_STREQ(verdict_event_kind(Verdict::kMismatch), "attestation-mismatch");
  EXPECT_STREQ(verdict_event_kind(Verdict::kMacInvalid), "attestation-failed");
  EXPECT_STREQ(verdict_event_kind(Verdict::kStale), "attestation-stale");
}

}  // namespace
}  // namespace spindle::gateway
