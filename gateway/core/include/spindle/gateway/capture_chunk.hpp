// Whether a data-capture chunk a device sent is stored, and how it is answered
// (docs/protocol.md "Data capture"): decided inside the write that stores it, against the
// capture as the store holds it, so two chunks racing for the same capture are judged in
// commit order.
//
// The decision has two steps around the store's add_capture_chunk: check_capture_chunk
// before it (is this a chunk of a capture this device was asked for, in the shape it was
// asked for and began with?), capture_chunk_added after it (new, already held, or too late).
// Both are pure; the caller does the store I/O between them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "spindle/gateway/store.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

enum class ChunkOutcome : std::uint8_t {
  kStored,       // a new chunk, stored: 2.04
  kDuplicate,    // held already (a retransmission), nothing changed: 2.04
  kUnknown,      // no capture has the chunk's id: 4.04
  kOtherDevice,  // the capture is another device's: 4.03
  kFinished,     // a new chunk for a capture that is complete or failed: 4.09
  kMismatch,     // kind, size or window shape differ from the capture's: 4.00
};

struct ChunkDecision {
  ChunkOutcome outcome = ChunkOutcome::kUnknown;
  std::string detail;  // what differs (kMismatch) or the capture's state (kFinished); else ""
};

// Before the chunk is stored. `capture` is the stored capture the chunk's id names, null
// when there is none; `device_id` the device that sent the chunk; `kind` and
// `total_windows` what the chunk's header says the capture is. Returns kUnknown,
// kOtherDevice or kMismatch, or nullopt when the chunk is to be added to the capture.
std::optional<ChunkDecision> check_capture_chunk(const StoredCapture* capture,
                                                 std::string_view device_id, std::string_view kind,
                                                 std::uint32_t total_windows,
                                                 const StoredCaptureChunk& chunk);

// After the store's add_capture_chunk answered `added` for a chunk of `capture` (as read
// before the add): kStored (true), kDuplicate (false) or kFinished (kInvalidState).
// Errors: any other error of the add, passed on.
Result<ChunkDecision> capture_chunk_added(const StoredCapture& capture, const Result<bool>& added);

}  // namespace spindle::gateway
