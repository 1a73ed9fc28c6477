// The facade's clock and sleep: uptime is monotonic and sleeping lasts at least as asked.
#include "spindle/os/kernel.hpp"

#include <gtest/gtest.h>

namespace spindle::os {
namespace {

TEST(Kernel, TimeoutConstantsMeanPollAndForever) {
  EXPECT_TRUE(kNoWait.is_no_wait());
  EXPECT_FALSE(kNoWait.is_forever());
  EXPECT_TRUE(kForever.is_forever());
  EXPECT_TRUE(Timeout::millis(-7).is_forever());
  EXPECT_EQ(Timeout::millis(250).ms, 250);
  EXPECT_EQ(Timeout::millis(0), kNoWait);
}

TEST(Kernel, UptimeNeverGoesBackwards) {
  std::int64_t previous_ms = uptime_ms();
  std::int64_t previous_us = uptime_us();
  for (int i = 0; i < 10000; ++i) {
    const std::int64_t ms = uptime_ms();
    const std::int64_t us = uptime_us();
    ASSERT_GE(ms, previous_ms);
    ASSERT_GE(us, previous_us);
    previous_ms = ms;
    previous_us = us;
  }
  EXPECT_GE(previous_ms, 0);
}

TEST(Kernel, SleepLastsAtLeastTheRequestedTime) {
  const std::int64_t start_us = uptime_us();
  sleep_ms(30);
  EXPECT_GE(uptime_us() - start_us, 30'000);
}

TEST(Kernel, MillisecondsAndMicrosecondsAgree) {
  const std::int64_t ms_before = uptime_ms();
  const std::int64_t us = uptime_us();
  const std::int64_t ms_after = uptime_ms();
  EXPECT_GE(us / 1000, ms_before);
  EXPECT_LE(us / 1000, ms_after);
}

TEST(Kernel, SleepOfZeroOrLessOnlyYields) {
  const std::int64_t start_ms = uptime_ms();
  sleep_ms(0);
  sleep_ms(-5);
  EXPECT_LT(uptime_ms() - start_ms, 1000);  // generous: it must not block
}

}  // namespace
}  // namespace spindle::os
