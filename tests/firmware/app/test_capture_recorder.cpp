// firmware/src/app/capture_recorder: windows become chunks that decode as capture chunks,
// features pack as many windows as fit, raw windows are interleaved, windows offered while
// a chunk waits are skipped, and a finished or repeated request is ignored.
#include "spindle/app/capture_recorder.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace spindle::app {
namespace {

constexpr std::size_t kLength = 64;
constexpr std::size_t kFeatures = 45;

board::BoardProfile test_board() {
  board::BoardProfile board;
  const std::string_view name = "test_board";
  std::copy(name.begin(), name.end(), board.name_storage.begin());
  board.sensor_rate_hz = 3200;
  board.sensor_axes = 3;
  board.window_length = kLength;
  return board;
}

struct Window {
  std::vector<float> features = std::vector<float>(kFeatures);
  std::vector<float> x = std::vector<float>(kLength);
  std::vector<float> y = std::vector<float>(kLength);
  std::vector<float> z = std::vector<float>(kLength);
};

Window window(float base) {
  Window w;
  for (std::size_t i = 0; i < kFeatures; ++i)
    w.features[i] = base + static_cast<float>(i);
  for (std::size_t i = 0; i < kLength; ++i) {
    w.x[i] = base + static_cast<float>(i);
    w.y[i] = -base - static_cast<float>(i);
    w.z[i] = base * 0.5F;
  }
  return w;
}

class CaptureRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(recorder_.init(buffer_, board_, kFeatures).ok()); }
  void offer(float base) {
    const Window w = window(base);
    recorder_.offer(w.features, w.x, w.y, w.z);
  }

  board::BoardProfile board_ = test_board();
  // One raw window of the test board: 64 frames of 3 floats.
  std::array<std::uint8_t, capture_buffer_bytes(kLength * 3 * 4)> buffer_{};
  CaptureRecorder recorder_;
};

TEST_F(CaptureRecorderTest, RawWindowsBecomeOneChunkEachWithInterleavedSamples) {
  ASSERT_TRUE(recorder_.request({9, capture::Kind::kRaw, 2}));
  EXPECT_TRUE(recorder_.ready_chunk().empty());
  offer(1.0F);
  const auto encoded = recorder_.ready_chunk();
  ASSERT_FALSE(encoded.empty());
  const auto chunk = capture::decode(encoded);
  ASSERT_TRUE(chunk.ok()) << chunk.status().name();
  EXPECT_EQ(chunk->header.capture_id, 9U);
  EXPECT_EQ(chunk->header.sequence, 0U);
  EXPECT_EQ(chunk->header.window_count, 1U);
  EXPECT_EQ(chunk->header.board, "test_board");
  EXPECT_EQ(capture::value_at(chunk->data, 3), 2.0F);   // x1
  EXPECT_EQ(capture::value_at(chunk->data, 4), -2.0F);  // y1
  EXPECT_EQ(capture::value_at(chunk->data, 5), 0.5F);   // z1
  offer(5.0F);                                          // the chunk still waits: skipped
  EXPECT_EQ(recorder_.progress().windows_skipped, 1U);
  recorder_.acknowledged();
  offer(7.0F);
  const auto second = capture::decode(recorder_.ready_chunk());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->header.sequence, 1U);
  EXPECT_EQ(second->header.first_window, 1U);
  EXPECT_EQ(capture::value_at(second->data, 0), 7.0F);
  recorder_.acknowledged();
  const CaptureProgress progress = recorder_.progress();
  EXPECT_FALSE(progress.active);
  EXPECT_EQ(progress.windows_acknowledged, 2U);
  // The gateway repeats the request until it sees the last chunk: ignored.
  EXPECT_FALSE(recorder_.request({9, capture::Kind::kRaw, 2}));
  offer(8.0F);
  EXPECT_TRUE(recorder_.ready_chunk().empty());
}

TEST_F(CaptureRecorderTest, FeatureChunksPackAsManyWindowsAsFit) {
  // 768 data bytes hold four windows of 45 features (180 bytes each).
  ASSERT_TRUE(recorder_.request({3, capture::Kind::kFeatures, 6}));
  EXPECT_FALSE(recorder_.request({3, capture::Kind::kFeatures, 6}));  // already collecting
  for (int i = 0; i < 4; ++i)
    offer(static_cast<float>(i));
  const auto first = capture::decode(recorder_.ready_chunk());
  ASSERT_TRUE(first.ok()) << first.status().name();
  EXPECT_EQ(first->header.window_count, 4U);
  EXPECT_EQ(capture::value_at(first->data, kFeatures * 3 + 1), 4.0F);  // window 3, feature 1
  recorder_.acknowledged();
  offer(10.0F);
  offer(11.0F);  // the last two of six: a shorter chunk
  const auto last = capture::decode(recorder_.ready_chunk());
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->header.first_window, 4U);
  EXPECT_EQ(last->header.window_count, 2U);
  recorder_.acknowledged();
  EXPECT_FALSE(recorder_.progress().active);
}

TEST_F(CaptureRecorderTest, ANewCaptureReplacesTheCurrentOneAndAbandonEndsIt) {
  ASSERT_TRUE(recorder_.request({1, capture::Kind::kRaw, 5}));
  offer(1.0F);
  ASSERT_TRUE(recorder_.request({2, capture::Kind::kFeatures, 1}));
  EXPECT_TRUE(recorder_.ready_chunk().empty());
  offer(2.0F);
  const auto chunk = capture::decode(recorder_.ready_chunk());
  ASSERT_TRUE(chunk.ok());
  EXPECT_EQ(chunk->header.capture_id, 2U);
  recorder_.abandon();
  EXPECT_TRUE(recorder_.ready_chunk().empty());
  EXPECT_FALSE(recorder_.request({2, capture::Kind::kFeatures, 1}));
}

TEST_F(CaptureRecorderTest, AnOlderCaptureIdIsAStaleRepetitionAndNeverRestartsIt) {
  // Capture 3 finished, capture 4 under way: an old answer that still asks for 3 (replayed,
  // or reordered) must not take the node back to it.
  ASSERT_TRUE(recorder_.request({3, capture::Kind::kFeatures, 1}));
  offer(1.0F);
  ASSERT_FALSE(recorder_.ready_chunk().empty());
  recorder_.acknowledged();
  ASSERT_TRUE(recorder_.request({4, capture::Kind::kFeatures, 2}));
  EXPECT_FALSE(recorder_.request({3, capture::Kind::kFeatures, 1}));
  EXPECT_FALSE(recorder_.request({2, capture::Kind::kRaw, 1}));
  EXPECT_EQ(recorder_.progress().capture_id, 4U);
  EXPECT_TRUE(recorder_.progress().active);
  EXPECT_TRUE(recorder_.request({5, capture::Kind::kFeatures, 1}));  // newer work still starts
}

TEST(CaptureRecorder, ABufferWithoutRoomForOneWindowDoesNotFit) {
  const board::BoardProfile board = test_board();
  std::array<std::uint8_t, capture_buffer_bytes(kLength * 3 * 4 - 4)> small{};
  CaptureRecorder recorder;
  EXPECT_EQ(recorder.init(small, board, kFeatures), Status(Error::kDoesNotFit));
  EXPECT_FALSE(recorder.request({1, capture::Kind::kRaw, 1}));
}

}  // namespace
}  // namespace spindle::app
