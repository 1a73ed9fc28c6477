// sensor/fault: the command-line names of the simulated faults.
#include "spindle/sensor/fault.hpp"

#include <gtest/gtest.h>

namespace spindle::sensor {
namespace {

TEST(Fault, EveryNameParsesBackToItsFault) {
  for (std::size_t i = 0; i < kFaultCount; ++i) {
    const auto fault = static_cast<Fault>(i);
    const auto parsed = parse_fault(fault_name(fault));
    ASSERT_TRUE(parsed.ok()) << fault_name(fault);
    EXPECT_EQ(*parsed, fault);
  }
}

TEST(Fault, CommandLineNamesAreTheDocumentedOnes) {
  EXPECT_EQ(*parse_fault("none"), Fault::kNone);
  EXPECT_EQ(*parse_fault("imbalance"), Fault::kImbalance);
  EXPECT_EQ(*parse_fault("misalignment"), Fault::kMisalignment);
  EXPECT_EQ(*parse_fault("looseness"), Fault::kLooseness);
  EXPECT_EQ(*parse_fault("bearing-outer"), Fault::kBearingOuter);
  EXPECT_EQ(*parse_fault("bearing-inner"), Fault::kBearingInner);
}

TEST(Fault, UnknownOrMiscasedNameIsInvalidValue) {
  EXPECT_EQ(parse_fault("").status(), Error::kInvalidValue);
  EXPECT_EQ(parse_fault("Imbalance").status(), Error::kInvalidValue);
  EXPECT_EQ(parse_fault("bearing_outer").status(), Error::kInvalidValue);
  EXPECT_EQ(parse_fault("imbalance ").status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::sensor
