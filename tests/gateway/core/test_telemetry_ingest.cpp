#include "spindle/gateway/telemetry_ingest.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

senml::Record number(std::string_view base_name, std::string_view name, double value,
                     std::uint64_t seq) {
  senml::Record r;
  r.base_name = base_name;
  r.has_base_time = true;
  r.base_time = 1700000000.0;
  r.name = name;
  r.kind = senml::ValueKind::kNumber;
  r.number = value;
  r.has_time = true;
  r.time = 0.5;
  r.has_seq = true;
  r.seq = seq;
  return r;
}

TEST(TelemetryIngest, StripsTheDevicesOwnBaseNameAndResolvesTimes) {
  const std::vector<senml::Record> records = {number("urn:dev:spindle:node-1:", "score", 0.25, 7)};
  const auto resolved = resolve_batch("node-1", records, 1234);
  ASSERT_TRUE(resolved.ok());
  ASSERT_EQ(resolved->size(), 1u);
  const TelemetryRecord& r = resolved->front();
  EXPECT_EQ(r.device_id, "node-1");
  EXPECT_EQ(r.name, "score");
  EXPECT_EQ(r.seq, 7u);
  EXPECT_DOUBLE_EQ(r.time, 1700000000.5);
  EXPECT_DOUBLE_EQ(r.number, 0.25);
  EXPECT_EQ(r.received_ms, 1234);
}

TEST(TelemetryIngest, ReadingsInAnotherDevicesNameAreRefused) {
  const std::vector<senml::Record> records = {number("urn:dev:spindle:node-2:", "score", 1, 1)};
  EXPECT_EQ(resolve_batch("node-1", records, 0).status(), Error::kNotForThisDevice);
}

TEST(TelemetryIngest, ForeignNamesAreKeptWhole) {
  const std::vector<senml::Record> records = {
      number("urn:dev:mac:0024befffe804ff1/", "temp", 1, 0)};
  const auto resolved = resolve_batch("node-1", records, 0);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->front().name, "urn:dev:mac:0024befffe804ff1/temp");
}

TEST(TelemetryIngest, DataStringAndBoolValuesAreCopied) {
  const std::uint8_t bytes[] = {1, 2, 3};
  std::vector<senml::Record> records(3, number("urn:dev:spindle:n:", "x", 0, 1));
  records[0].kind = senml::ValueKind::kData;
  records[0].data = bytes;
  records[1].kind = senml::ValueKind::kString;
  records[1].text = "ok";
  records[2].kind = senml::ValueKind::kBool;
  records[2].boolean = true;
  const auto resolved = resolve_batch("n", records, 0);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ((*resolved)[0].data, (Bytes{1, 2, 3}));
  EXPECT_EQ((*resolved)[1].text, "ok");
  EXPECT_TRUE((*resolved)[2].boolean);
}

TEST(TelemetryIngest, AnEmptyPackIsRefused) {
  EXPECT_EQ(resolve_batch("node-1", {}, 0).status(), Error::kInvalidValue);
}

}  // namespace
}  // namespace spindle::gateway
