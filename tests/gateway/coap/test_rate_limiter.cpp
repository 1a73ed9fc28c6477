#include "spindle/gateway/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

TEST(RateLimiter, AllowsABurstThenRefusesUntilTokensRefill) {
  RateLimiter limiter(10.0, 3.0, 100);
  EXPECT_TRUE(limiter.allow("a", 0));
  EXPECT_TRUE(limiter.allow("a", 0));
  EXPECT_TRUE(limiter.allow("a", 0));
  EXPECT_FALSE(limiter.allow("a", 0));
  EXPECT_FALSE(limiter.allow("a", 50));  // half a token after 50 ms at 10/s
  EXPECT_TRUE(limiter.allow("a", 100));  // one token after 100 ms
  EXPECT_FALSE(limiter.allow("a", 100));
}

TEST(RateLimiter, PeersHaveSeparateBuckets) {
  RateLimiter limiter(1.0, 1.0, 100);
  EXPECT_TRUE(limiter.allow("a", 0));
  EXPECT_FALSE(limiter.allow("a", 0));
  EXPECT_TRUE(limiter.allow("b", 0));
}

TEST(RateLimiter, TableIsBoundedAndIdlePeersAreForgotten) {
  RateLimiter limiter(1.0, 1.0, 2);
  EXPECT_TRUE(limiter.allow("a", 0));
  EXPECT_TRUE(limiter.allow("b", 0));
  EXPECT_FALSE(limiter.allow("c", 0));  // table full, nobody idle yet
  EXPECT_EQ(limiter.peers(), 2u);
  EXPECT_TRUE(limiter.allow("c", 1000));  // a and b refilled: forgotten, room for c
  EXPECT_LE(limiter.peers(), 2u);
}

TEST(RateLimiter, BucketNeverHoldsMoreThanTheBurst) {
  RateLimiter limiter(1000.0, 2.0, 10);
  EXPECT_TRUE(limiter.allow("a", 0));
  // A long silence refills to the burst, not beyond.
  EXPECT_TRUE(limiter.allow("a", 100000));
  EXPECT_TRUE(limiter.allow("a", 100000));
  EXPECT_FALSE(limiter.allow("a", 100000));
}

}  // namespace
}  // namespace spindle::gateway
