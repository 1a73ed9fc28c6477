// The node's side of a data capture (docs/firmware/node.md "Data capture"): windows the
// pipeline has already produced (their feature vectors, or their raw axis samples) are
// copied into one chunk buffer; a full chunk is encoded in place (protocol/capture.hpp) and
// waits for the network thread to upload it. Windows that arrive while a chunk waits are
// skipped (counted), so a capture never holds more than one chunk of memory and never
// slows scoring or telemetry down.
//
// Thread-safe between one producer (the work queue: offer) and one consumer (the network
// thread: request, ready_chunk, acknowledged, abandon).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/os/sync.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/status.hpp"

namespace spindle::app {

// Buffer bytes for chunks of up to `data_bytes` of window data.
constexpr std::size_t capture_buffer_bytes(std::size_t data_bytes) {
  return capture::kMaxChunkPrefix + data_bytes;
}

struct CaptureProgress {
  std::uint64_t capture_id = 0;  // 0: none yet
  capture::Kind kind = capture::Kind::kFeatures;
  std::uint32_t windows_total = 0;
  std::uint32_t windows_acknowledged = 0;
  std::uint32_t windows_skipped = 0;  // offered while a chunk waited for upload
  bool active = false;                // collecting or uploading
};

class CaptureRecorder {
 public:
  // `buffer` (capture_buffer_bytes(n)) holds the chunk being built; the board gives the
  // header fields. Errors: kDoesNotFit (the buffer cannot hold one window of either kind:
  // window_length * axes floats, or feature_count floats), kInvalidValue (board fields
  // out of the chunk schema's ranges).
  Status init(std::span<std::uint8_t> buffer, const board::BoardProfile& board,
              std::uint16_t feature_count);

  // A capture request from the gateway. Starts it unless it is the capture being worked on,
  // the last one finished (the gateway repeats a request until it is complete) or older
  // than a capture already requested (ids increase); a newer id replaces the current
  // capture. True when a capture was started.
  bool request(const capture::Request& request);

  // Work queue: one window the pipeline produced. `features` is its feature vector,
  // x/y/z its samples (window_length each; y/z unused beyond the board's axes). Taken
  // while a capture collects; skipped while a chunk waits for upload.
  void offer(std::span<const float> features, std::span<const float> x, std::span<const float> y,
             std::span<const float> z);

  // Network thread: the encoded chunk waiting for upload (a view into the buffer, stable
  // until acknowledged or abandon), or an empty span.
  std::span<const std::uint8_t> ready_chunk();
  // The gateway stored the ready chunk: collect the next one, or finish.
  void acknowledged();
  // The gateway refused the capture for good: drop it.
  void abandon();

  CaptureProgress progress();

 private:
  enum class State : std::uint8_t { kIdle, kCollecting, kReady };
  void seal_locked();
  std::size_t windows_per_chunk_locked() const;

  os::Mutex mutex_;
  std::span<std::uint8_t> buffer_;
  capture::ChunkHeader header_;  // of the chunk being built; board fields fixed at init
  State state_ = State::kIdle;
  std::uint64_t finished_id_ = 0;
  // The highest capture id requested so far. The gateway numbers captures in increasing
  // order, so a lower id is a stale repetition (an old answer replayed, a reordered
  // datagram) of a capture this node has finished or moved past, never new work.
  std::uint64_t highest_id_ = 0;
  std::uint32_t collected_ = 0;  // windows in chunks sealed so far (and acknowledged)
  std::uint32_t in_chunk_ = 0;   // windows in the chunk being built
  std::size_t prefix_offset_ = 0;
  CaptureProgress progress_;
};

}  // namespace spindle::app
