#include "spindle/gateway/capture_chunk.hpp"

namespace spindle::gateway {

std::optional<ChunkDecision> check_capture_chunk(const StoredCapture* capture,
                                                 std::string_view device_id, std::string_view kind,
                                                 std::uint32_t total_windows,
                                                 const StoredCaptureChunk& chunk) {
  if (capture == nullptr) return ChunkDecision{ChunkOutcome::kUnknown, {}};
  if (capture->device_id != device_id) return ChunkDecision{ChunkOutcome::kOtherDevice, {}};
  if (capture->kind != kind || capture->windows_requested != total_windows) {
    return ChunkDecision{ChunkOutcome::kMismatch,
                         "the chunk is " + std::string(kind) + " of " +
                             std::to_string(total_windows) + " windows, capture " +
                             std::to_string(capture->id) + " asked for " + capture->kind + " of " +
                             std::to_string(capture->windows_requested)};
  }
  // The first chunk sets the window shape; every later one must have it.
  if (capture->windows_received > 0 &&
      (capture->board != chunk.board || capture->sample_rate_hz != chunk.sample_rate_hz ||
       capture->window_length != chunk.window_length || capture->axes != chunk.axes ||
       capture->feature_count != chunk.feature_count)) {
    return ChunkDecision{ChunkOutcome::kMismatch,
                         "the window shape changed within capture " + std::to_string(capture->id)};
  }
  return std::nullopt;
}

Result<ChunkDecision> capture_chunk_added(const StoredCapture& capture, const Result<bool>& added) {
  if (added.status() == Status(Error::kInvalidState)) {
    return ChunkDecision{ChunkOutcome::kFinished, "capture " + std::to_string(capture.id) + " is " +
                                                      capture_state_name(capture.state)};
  }
  if (!added.ok()) return added.status();
  return ChunkDecision{*added ? ChunkOutcome::kStored : ChunkOutcome::kDuplicate, {}};
}

}  // namespace spindle::gateway
