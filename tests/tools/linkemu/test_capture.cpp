// Tests of the --capture record format (spindle/linkemu/capture.hpp): golden bytes for the
// header and a file of records, and a capture of two impaired Links read back record by
// record against what they forwarded.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "spindle/linkemu/capture.hpp"
#include "spindle/linkemu/corruption.hpp"
#include "spindle/linkemu/link.hpp"

namespace spindle::linkemu {
namespace {

using Bytes = std::vector<std::uint8_t>;
using std::chrono::milliseconds;

struct Record {
  char direction;
  Bytes payload;
  bool operator==(const Record&) const = default;
};

// Reads a capture independently of capture.cpp; fails the test on a truncated record.
std::vector<Record> read_records(const std::string& file) {
  std::vector<Record> records;
  std::size_t at = 0;
  while (at < file.size()) {
    EXPECT_GE(file.size() - at, kCaptureHeaderBytes) << "truncated header at " << at;
    if (file.size() - at < kCaptureHeaderBytes) break;
    const auto byte = [&file](std::size_t i) { return static_cast<std::uint8_t>(file[i]); };
    const std::size_t length = (std::size_t{byte(at + 1)} << 24U) |
                               (std::size_t{byte(at + 2)} << 16U) |
                               (std::size_t{byte(at + 3)} << 8U) | byte(at + 4);
    at += kCaptureHeaderBytes;
    EXPECT_GE(file.size() - at, length) << "truncated payload at " << at;
    if (file.size() - at < length) break;
    records.push_back(Record{file[at - kCaptureHeaderBytes],
                             Bytes(file.begin() + static_cast<long>(at),
                                   file.begin() + static_cast<long>(at + length))});
    at += length;
  }
  return records;
}

TEST(Capture, TheHeaderIsTheDirectionThenTheBigEndianLength) {
  using Header = std::array<std::uint8_t, kCaptureHeaderBytes>;
  EXPECT_EQ(capture_header(Direction::kToUpstream, 0x0102'0304), (Header{'u', 1, 2, 3, 4}));
  EXPECT_EQ(capture_header(Direction::kToClient, 5), (Header{'d', 0, 0, 0, 5}));
  EXPECT_EQ(capture_header(Direction::kToClient, 65'535), (Header{'d', 0, 0, 0xFF, 0xFF}));
}

TEST(Capture, RecordsFollowEachOtherWithNothingInBetween) {
  std::ostringstream out;
  write_capture_record(out, Direction::kToUpstream, Bytes{0xDE, 0xAD});
  write_capture_record(out, Direction::kToClient, Bytes{});
  write_capture_record(out, Direction::kToClient, Bytes{0x01});
  const std::string golden(
      "u\x00\x00\x00\x02\xDE\xAD"
      "d\x00\x00\x00\x00"
      "d\x00\x00\x00\x01\x01",
      18);
  EXPECT_EQ(out.str(), golden);
}

TEST(Capture, ACaptureOfTwoImpairedLinksHoldsExactlyWhatTheyForwarded) {
  LinkConfig config;
  config.delay = milliseconds(5);
  config.jitter = milliseconds(3);
  config.loss = 0.2;
  config.duplicate = 0.1;
  config.reorder = 0.1;
  Link up(config, direction_seed(7, Direction::kToUpstream));
  Link down(config, direction_seed(7, Direction::kToClient));
  CorruptionConfig bit_errors;
  bit_errors.probability = 0.1;
  Corruption corruption(bit_errors, 7);

  std::ostringstream capture;
  std::vector<Record> forwarded;
  const auto forward = [&](Direction direction, std::vector<Datagram> due) {
    for (Datagram& d : due) {
      corruption.apply(direction, d.payload);
      write_capture_record(capture, direction, d.payload);
      forwarded.push_back(Record{direction == Direction::kToUpstream ? 'u' : 'd', d.payload});
    }
  };
  for (int i = 0; i < 2000; ++i) {
    const Micros now = milliseconds(i);
    Datagram datagram;
    datagram.payload.assign(static_cast<std::size_t>(i % 300), static_cast<std::uint8_t>(i));
    (void)(i % 2 == 0 ? up : down).submit(now, std::move(datagram));
    forward(Direction::kToUpstream, up.due(now));
    forward(Direction::kToClient, down.due(now));
  }
  forward(Direction::kToUpstream, up.due(Micros::max()));
  forward(Direction::kToClient, down.due(Micros::max()));

  const std::vector<Record> records = read_records(capture.str());
  EXPECT_EQ(records, forwarded);
  EXPECT_EQ(records.size(), up.stats().forwarded + down.stats().forwarded);
  EXPECT_GT(up.stats().dropped_loss, 0U);  // the capture holds what left, not what arrived
  EXPECT_GT(corruption.corrupted(Direction::kToClient), 0U);
}

}  // namespace
}  // namespace spindle::linkemu
