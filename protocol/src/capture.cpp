#include "spindle/protocol/capture.hpp"

#include <bit>
#include <cstring>

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::capture {
namespace {

enum Key : std::int64_t {
  kCaptureId = 1,
  kSequence = 2,
  kKind = 3,
  kFirstWindow = 4,
  kWindowCount = 5,
  kTotalWindows = 6,
  kBoard = 7,
  kSampleRate = 8,
  kWindowLength = 9,
  kAxes = 10,
  kFeatureCount = 11,
  kData = 12,
};
constexpr std::size_t kFields = 12;
constexpr std::size_t kMaxEntries = 32;  // room for optional (negative-key) extensions

bool known_kind(Kind kind) {
  return kind == Kind::kFeatures || kind == Kind::kRaw;
}

}  // namespace

const char* kind_name(Kind kind) {
  return kind == Kind::kRaw ? "raw" : "features";
}

Result<Kind> kind_from_name(std::string_view name) {
  if (name == "features") return Kind::kFeatures;
  if (name == "raw") return Kind::kRaw;
  return Error::kInvalidValue;
}

Status validate(const Request& request) {
  if (request.capture_id == 0 || !known_kind(request.kind) || request.windows == 0 ||
      request.windows > kMaxWindows) {
    return Error::kInvalidValue;
  }
  return kOk;
}

std::size_t window_values(const ChunkHeader& header) {
  if (header.kind == Kind::kFeatures) return header.feature_count;
  return std::size_t{header.window_length} * header.axes;
}

Status validate(const ChunkHeader& h, std::size_t data_size) {
  SPINDLE_TRY(validate(Request{h.capture_id, h.kind, h.total_windows}));
  if (h.window_count == 0 || h.first_window >= h.total_windows ||
      h.window_count > h.total_windows - h.first_window || h.sequence > h.first_window) {
    return Error::kInvalidValue;
  }
  if (h.board.empty() || h.board.size() > kMaxBoardNameSize || !check_id(h.board).ok()) {
    return Error::kInvalidValue;
  }
  if (h.sample_rate_hz == 0 || h.sample_rate_hz > kMaxSampleRateHz || h.window_length == 0 ||
      h.window_length > kMaxWindowLength || h.axes == 0 || h.axes > kMaxAxes ||
      h.feature_count == 0 || h.feature_count > kMaxFeatures) {
    return Error::kInvalidValue;
  }
  const std::size_t per_window = window_bytes(h);
  if (std::size_t{h.window_count} * per_window > kMaxChunkData) return Error::kOversize;
  if (data_size != std::size_t{h.window_count} * per_window) return Error::kSizeMismatch;
  return kOk;
}

Result<std::size_t> encode_prefix(const ChunkHeader& h, std::size_t data_size,
                                  std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(h, data_size));
  cbor::Writer w(out);
  w.map(kFields)
      .uint(kCaptureId)
      .uint(h.capture_id)
      .uint(kSequence)
      .uint(h.sequence)
      .uint(kKind)
      .uint(static_cast<std::uint8_t>(h.kind))
      .uint(kFirstWindow)
      .uint(h.first_window)
      .uint(kWindowCount)
      .uint(h.window_count)
      .uint(kTotalWindows)
      .uint(h.total_windows)
      .uint(kBoard)
      .text(h.board)
      .uint(kSampleRate)
      .uint(h.sample_rate_hz)
      .uint(kWindowLength)
      .uint(h.window_length)
      .uint(kAxes)
      .uint(h.axes)
      .uint(kFeatureCount)
      .uint(h.feature_count)
      .uint(kData)
      .bytes_head(data_size);
  SPINDLE_TRY(w.status());
  return w.size();
}

Result<std::span<const std::uint8_t>> encode(const Chunk& chunk, std::span<std::uint8_t> out) {
  SPINDLE_TRY_ASSIGN(const std::size_t prefix, encode_prefix(chunk.header, chunk.data.size(), out));
  if (out.size() - prefix < chunk.data.size()) return Error::kBufferTooSmall;
  if (!chunk.data.empty()) std::memcpy(out.data() + prefix, chunk.data.data(), chunk.data.size());
  return std::span<const std::uint8_t>(out.first(prefix + chunk.data.size()));
}

Result<Chunk> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  Chunk chunk;
  ChunkHeader& h = chunk.header;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kCaptureId:
        return codec::read_uint_into(r, &h.capture_id, 1);
      case kSequence:
        return codec::read_uint_into(r, &h.sequence, 0, kMaxWindows - 1);
      case kKind: {
        std::uint8_t kind = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &kind, 0, 1));
        h.kind = static_cast<Kind>(kind);
        return kOk;
      }
      case kFirstWindow:
        return codec::read_uint_into(r, &h.first_window, 0, kMaxWindows - 1);
      case kWindowCount:
        return codec::read_uint_into(r, &h.window_count, 1, kMaxWindows);
      case kTotalWindows:
        return codec::read_uint_into(r, &h.total_windows, 1, kMaxWindows);
      case kBoard: {
        SPINDLE_TRY_ASSIGN(h.board, r.read_text(kMaxBoardNameSize));
        return kOk;
      }
      case kSampleRate:
        return codec::read_uint_into(r, &h.sample_rate_hz, 1, kMaxSampleRateHz);
      case kWindowLength:
        return codec::read_uint_into(r, &h.window_length, 1, kMaxWindowLength);
      case kAxes:
        return codec::read_uint_into(r, &h.axes, 1, kMaxAxes);
      case kFeatureCount:
        return codec::read_uint_into(r, &h.feature_count, 1, kMaxFeatures);
      case kData: {
        SPINDLE_TRY_ASSIGN(chunk.data, r.read_bytes(kMaxChunkData));
        return kOk;
      }
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(
      codec::require(seen, {kCaptureId, kSequence, kKind, kFirstWindow, kWindowCount, kTotalWindows,
                            kBoard, kSampleRate, kWindowLength, kAxes, kFeatureCount, kData}));
  SPINDLE_TRY(validate(h, chunk.data.size()));
  return chunk;
}

float value_at(std::span<const std::uint8_t> data, std::size_t index) {
  std::uint32_t bits = 0;
  for (std::size_t i = 0; i < 4; ++i)
    bits |= static_cast<std::uint32_t>(data[4 * index + i]) << (8 * i);
  return std::bit_cast<float>(bits);
}

void put_value(std::span<std::uint8_t> out, std::size_t index, float value) {
  const auto bits = std::bit_cast<std::uint32_t>(value);
  for (std::size_t i = 0; i < 4; ++i)
    out[4 * index + i] = static_cast<std::uint8_t>(bits >> (8 * i));
}

}  // namespace spindle::capture
