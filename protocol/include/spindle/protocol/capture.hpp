// Data capture (protocol/cddl/capture_chunk.cddl, docs/protocol.md "Data capture"): the
// operator asks a node, through the gateway, for N windows of raw samples or of features;
// the node uploads them in chunks, each one CBOR message POSTed with Block1 to
// /d/{id}/capture.
//
// A chunk carries whole windows. Its data is one byte string of little-endian IEEE-754
// float32 values, window after window:
//   features: feature_count values per window, in the node's feature order
//             (feature_names.hpp);
//   raw:      window_length frames per window, each frame `axes` values interleaved
//             (x0 y0 z0 x1 y1 z1 ...), in g: the row order of a CSV recording.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::capture {

enum class Kind : std::uint8_t { kFeatures = 0, kRaw = 1 };

// "features" / "raw".
const char* kind_name(Kind kind);
// The kind named `name`. Errors: kInvalidValue.
Result<Kind> kind_from_name(std::string_view name);

inline constexpr std::uint32_t kMaxWindows = 10000;  // windows one capture may ask for
inline constexpr std::uint32_t kMaxWindowLength = 4096;
inline constexpr std::uint8_t kMaxAxes = 3;
inline constexpr std::uint32_t kMaxSampleRateHz = 1000000;
// Data bytes in one chunk: one raw window of the largest window and axes.
inline constexpr std::size_t kMaxChunkData = std::size_t{kMaxWindowLength} * kMaxAxes * 4;
// Everything of an encoded chunk before its data bytes, at most.
inline constexpr std::size_t kMaxChunkPrefix = 128;
inline constexpr std::size_t kMaxChunkSize = kMaxChunkPrefix + kMaxChunkData;

// What the gateway asks for (key 2 of gateway_request.cddl).
struct Request {
  std::uint64_t capture_id = 0;  // 1.., chosen by the gateway
  Kind kind = Kind::kFeatures;
  std::uint32_t windows = 0;  // 1..kMaxWindows

  friend constexpr bool operator==(const Request&, const Request&) = default;
};

// Errors: kInvalidValue (id 0, kind unknown, windows outside 1..kMaxWindows).
Status validate(const Request& request);

// Everything of a chunk but its data.
struct ChunkHeader {
  std::uint64_t capture_id = 0;
  std::uint32_t sequence = 0;  // 0, 1, 2, ... per capture
  Kind kind = Kind::kFeatures;
  std::uint32_t first_window = 0;   // index of the chunk's first window in the capture
  std::uint32_t window_count = 0;   // windows in this chunk, >= 1
  std::uint32_t total_windows = 0;  // what the capture asked for
  std::string_view board;           // the board whose budgets the node runs with
  std::uint32_t sample_rate_hz = 0;
  std::uint32_t window_length = 0;  // samples per axis per window
  std::uint8_t axes = 0;
  std::uint16_t feature_count = 0;  // features per window

  friend constexpr bool operator==(const ChunkHeader&, const ChunkHeader&) = default;
};

struct Chunk {
  ChunkHeader header;
  std::span<const std::uint8_t> data;  // window_count * window_bytes(header) bytes
};

// float32 values per window: feature_count (features) or window_length * axes (raw).
std::size_t window_values(const ChunkHeader& header);
inline std::size_t window_bytes(const ChunkHeader& header) {
  return window_values(header) * 4;
}

// Errors: kInvalidValue (a field outside its range: id 0, kind, window_count 0, first
// window + count above the total, total outside 1..kMaxWindows, sequence above the first
// window, an empty or invalid board name, rate, window length, axes or feature count out of
// range), kOversize (the windows exceed kMaxChunkData), kSizeMismatch (`data_size` is not
// window_count * window_bytes).
Status validate(const ChunkHeader& header, std::size_t data_size);

// Encodes the chunk up to and including the head of its data byte string, for a caller
// that keeps the data right behind it (the node builds a chunk in place). Returns the
// bytes written. Errors: validate's, kBufferTooSmall.
Result<std::size_t> encode_prefix(const ChunkHeader& header, std::size_t data_size,
                                  std::span<std::uint8_t> out);

// The whole chunk. Errors: validate's, kBufferTooSmall.
Result<std::span<const std::uint8_t>> encode(const Chunk& chunk, std::span<std::uint8_t> out);

// Data and board are views into `input`. Errors: the CBOR reader's, kDuplicateKey,
// kUnknownCriticalField, kMissingField, validate's.
Result<Chunk> decode(std::span<const std::uint8_t> input);

// Value `index` of chunk data (little-endian float32); `data` must hold it.
float value_at(std::span<const std::uint8_t> data, std::size_t index);
// Writes `value` as little-endian float32 at value `index`; `out` must hold it.
void put_value(std::span<std::uint8_t> out, std::size_t index, float value);

}  // namespace spindle::capture
