// gateway/core/device_selector: every term form matches as documented, all terms must
// hold, and a malformed selector is refused with the term named.
#include "spindle/gateway/device_selector.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

bool matches(std::string_view selector, const std::map<std::string, std::string>& tags) {
  std::string why;
  const auto terms = parse_selector(selector, &why);
  EXPECT_TRUE(terms.ok()) << selector << ": " << why;
  return terms.ok() && selector_matches(*terms, tags);
}

const std::map<std::string, std::string> kPump = {
    {"site", "hall-2"}, {"line", "3"}, {"board", "nrf52840dk"}};
const std::map<std::string, std::string> kSpare = {{"site", "hall-2"}, {"spare", ""}};

TEST(DeviceSelector, EachTermFormMatchesAsDocumented) {
  EXPECT_TRUE(matches("site=hall-2", kPump));
  EXPECT_FALSE(matches("site=hall-1", kPump));
  EXPECT_TRUE(matches("site!=hall-1", kPump));
  EXPECT_FALSE(matches("site!=hall-2", kPump));
  EXPECT_TRUE(matches("line!=4", kSpare));  // an absent tag is not that value
  EXPECT_TRUE(matches("spare", kSpare));    // set, even to ""
  EXPECT_FALSE(matches("spare", kPump));
  EXPECT_TRUE(matches("!spare", kPump));
  EXPECT_FALSE(matches("!spare", kSpare));
  EXPECT_TRUE(matches("spare=", kSpare));  // the empty value
}

TEST(DeviceSelector, EveryTermMustHold) {
  EXPECT_TRUE(matches("site=hall-2,line=3,!spare,board=nrf52840dk", kPump));
  EXPECT_FALSE(matches("site=hall-2,line=3,spare", kPump));
  EXPECT_FALSE(matches("site=hall-2,line=3", kSpare));
}

TEST(DeviceSelector, AMalformedSelectorIsRefusedNamingTheTerm) {
  for (const char* bad :
       {"", "site=hall-2,", ",site=a", "Site=a", "site=a b", "=a", "!", "1site=a", "site=a;b"}) {
    std::string why;
    EXPECT_EQ(parse_selector(bad, &why).status(), Status(Error::kInvalidValue)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  std::string why;
  (void)parse_selector("site=hall-2,Line=3", &why);
  EXPECT_NE(why.find("Line=3"), std::string::npos) << why;
}

}  // namespace
}  // namespace spindle::gateway
