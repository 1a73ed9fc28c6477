// gateway/core/capture_chunk: a chunk is stored only against a capture of the device
// that sent it, of the kind and size the capture asked for, in the window shape its first
// chunk set; a re-sent chunk is a duplicate and a new one after the end is too late.
#include "spindle/gateway/capture_chunk.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

StoredCapture collecting_capture() {
  StoredCapture capture;
  capture.id = 42;
  capture.device_id = "pump-1";
  capture.kind = "features";
  capture.windows_requested = 8;
  capture.windows_received = 4;
  capture.board = "nrf52840dk";
  capture.sample_rate_hz = 3200;
  capture.window_length = 1024;
  capture.axes = 3;
  capture.feature_count = 8;
  capture.state = CaptureState::kCollecting;
  return capture;
}

StoredCaptureChunk chunk_in_shape(const StoredCapture& capture) {
  StoredCaptureChunk chunk;
  chunk.capture_id = capture.id;
  chunk.sequence = 1;
  chunk.first_window = 4;
  chunk.window_count = 4;
  chunk.board = capture.board;
  chunk.sample_rate_hz = capture.sample_rate_hz;
  chunk.window_length = capture.window_length;
  chunk.axes = capture.axes;
  chunk.feature_count = capture.feature_count;
  return chunk;
}

TEST(CheckCaptureChunkTest, AChunkOfTheDevicesCaptureInItsShapeIsToBeAdded) {
  const StoredCapture capture = collecting_capture();
  EXPECT_FALSE(
      check_capture_chunk(&capture, "pump-1", "features", 8, chunk_in_shape(capture)).has_value());
}

TEST(CheckCaptureChunkTest, AChunkForNoStoredCaptureIsUnknown) {
  const StoredCapture capture = collecting_capture();
  const auto decision =
      check_capture_chunk(nullptr, "pump-1", "features", 8, chunk_in_shape(capture));
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->outcome, ChunkOutcome::kUnknown);
}

TEST(CheckCaptureChunkTest, AChunkForAnotherDevicesCaptureIsRefused) {
  const StoredCapture capture = collecting_capture();
  const auto decision =
      check_capture_chunk(&capture, "pump-2", "features", 8, chunk_in_shape(capture));
  ASSERT_TRUE(decision.has_value());
  EXPECT_EQ(decision->outcome, ChunkOutcome::kOtherDevice);
}

TEST(CheckCaptureChunkTest, AChunkOfAnotherKindOrTotalIsAMismatchThatSaysWhatWasAskedFor) {
  const StoredCapture capture = collecting_capture();
  const auto kind = check_capture_chunk(&capture, "pump-1", "raw", 8, chunk_in_shape(capture));
  ASSERT_TRUE(kind.has_value());
  EXPECT_EQ(kind->outcome, ChunkOutcome::kMismatch);
  EXPECT_EQ(kind->detail, "the chunk is raw of 8 windows, capture 42 asked for features of 8");
  const auto total =
      check_capture_chunk(&capture, "pump-1", "features", 16, chunk_in_shape(capture));
  ASSERT_TRUE(total.has_value());
  EXPECT_EQ(total->outcome, ChunkOutcome::kMismatch);
  EXPECT_EQ(total->detail,
            "the chunk is features of 16 windows, capture 42 asked for features of 8");
}

TEST(CheckCaptureChunkTest, AWindowShapeThatChangedWithinTheCaptureIsAMismatch) {
  const StoredCapture capture = collecting_capture();
  for (int field = 0; field < 5; ++field) {
    StoredCaptureChunk chunk = chunk_in_shape(capture);
    switch (field) {
      case 0:
        chunk.board = "other-board";
        break;
      case 1:
        chunk.sample_rate_hz = 1600;
        break;
      case 2:
        chunk.window_length = 512;
        break;
      case 3:
        chunk.axes = 1;
        break;
      default:
        chunk.feature_count = 4;
        break;
    }
    const auto decision = check_capture_chunk(&capture, "pump-1", "features", 8, chunk);
    ASSERT_TRUE(decision.has_value()) << "field " << field;
    EXPECT_EQ(decision->outcome, ChunkOutcome::kMismatch) << "field " << field;
    EXPECT_EQ(decision->detail, "the window shape changed within capture 42");
  }
}

TEST(CheckCaptureChunkTest, TheFirstChunkSetsTheWindowShape) {
  StoredCapture capture = collecting_capture();
  capture.windows_received = 0;
  capture.board.clear();
  capture.sample_rate_hz = capture.window_length = capture.axes = capture.feature_count = 0;
  capture.state = CaptureState::kRequested;
  StoredCaptureChunk chunk = chunk_in_shape(collecting_capture());
  EXPECT_FALSE(check_capture_chunk(&capture, "pump-1", "features", 8, chunk).has_value());
}

TEST(CaptureChunkAddedTest, ANewChunkIsStored) {
  const auto decision = capture_chunk_added(collecting_capture(), Result<bool>(true));
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->outcome, ChunkOutcome::kStored);
}

TEST(CaptureChunkAddedTest, AChunkAlreadyHeldIsADuplicate) {
  const auto decision = capture_chunk_added(collecting_capture(), Result<bool>(false));
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->outcome, ChunkOutcome::kDuplicate);
}

TEST(CaptureChunkAddedTest, ANewChunkForAFinishedCaptureIsTooLateAndSaysItsState) {
  StoredCapture capture = collecting_capture();
  capture.state = CaptureState::kComplete;
  const auto decision = capture_chunk_added(capture, Result<bool>(Error::kInvalidState));
  ASSERT_TRUE(decision.ok());
  EXPECT_EQ(decision->outcome, ChunkOutcome::kFinished);
  EXPECT_EQ(decision->detail, "capture 42 is complete");
}

TEST(CaptureChunkAddedTest, AStoreErrorIsPassedOn) {
  EXPECT_EQ(capture_chunk_added(collecting_capture(), Result<bool>(Error::kIoError)).status(),
            Status(Error::kIoError));
}

}  // namespace
}  // namespace spindle::gateway
