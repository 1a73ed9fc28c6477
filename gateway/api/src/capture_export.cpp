#include "capture_export_private.hpp"

#include <cstdint>
#include <cstdio>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/feature_names.hpp"

namespace spindle::gateway::api {
namespace {

// Values per window and whether the chunk's bytes hold exactly its windows; a chunk that
// does not (it cannot be stored that way) is left out.
bool whole(const StoredCaptureChunk& chunk, std::size_t values_per_window) {
  return chunk.data.size() == std::size_t{chunk.window_count} * values_per_window * 4;
}

// A raw-samples chunk in the capture's shape.
bool raw_chunk_fits(const StoredCapture& capture, const StoredCaptureChunk& chunk) {
  return chunk.axes == capture.axes && chunk.window_length == capture.window_length &&
         whole(chunk, std::size_t{capture.axes} * capture.window_length);
}

void append_value(std::string& out, double value, int digits) {
  char text[48];
  const int size = std::snprintf(text, sizeof text, "%.*g", digits, value);
  out.append(text, static_cast<std::size_t>(size > 0 ? size : 0));
}

void append_le(std::string& out, std::uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace

std::string features_csv(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks) {
  std::string out = "window,device,label";
  const std::size_t count = capture.feature_count;
  for (std::size_t i = 0; i < count; ++i)
    out.append(",").append(feature_names::name(i));
  out.append("\n");
  for (const StoredCaptureChunk& chunk : chunks) {
    if (chunk.feature_count != count || !whole(chunk, count)) continue;
    for (std::size_t w = 0; w < chunk.window_count; ++w) {
      out.append(std::to_string(chunk.first_window + w))
          .append(",")
          .append(capture.device_id)
          .append(",")
          .append(capture.label);
      for (std::size_t i = 0; i < count; ++i) {
        out.push_back(',');
        append_value(out, capture::value_at(chunk.data, w * count + i), 9);
      }
      out.push_back('\n');
    }
  }
  return out;
}

std::string samples_csv(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks) {
  const std::size_t axes = capture.axes;
  const std::size_t frames_per_window = capture.window_length;
  std::string out = "# spindle capture " + std::to_string(capture.id) + ": device " +
                    capture.device_id + ", label " + capture.label + ", board " + capture.board +
                    ", " + std::to_string(capture.sample_rate_hz) + " Hz, " +
                    std::to_string(capture.windows_received) + " windows of " +
                    std::to_string(frames_per_window) + " samples\n";
  static constexpr const char* kAxisNames[] = {"x", "y", "z"};
  out.append("t");
  for (std::size_t a = 0; a < axes && a < 3; ++a)
    out.append(",").append(kAxisNames[a]);
  out.append("\n");
  const double rate = capture.sample_rate_hz == 0 ? 1.0 : capture.sample_rate_hz;
  std::size_t frame = 0;
  for (const StoredCaptureChunk& chunk : chunks) {
    if (!raw_chunk_fits(capture, chunk)) continue;
    const std::size_t frames = std::size_t{chunk.window_count} * frames_per_window;
    for (std::size_t f = 0; f < frames; ++f, ++frame) {
      append_value(out, static_cast<double>(frame) / rate, 10);
      for (std::size_t a = 0; a < axes; ++a) {
        out.push_back(',');
        append_value(out, capture::value_at(chunk.data, f * axes + a), 9);
      }
      out.push_back('\n');
    }
  }
  return out;
}

std::string samples_wav(const StoredCapture& capture, std::span<const StoredCaptureChunk> chunks) {
  const std::uint32_t axes = capture.axes;
  std::uint32_t data_size = 0;
  for (const StoredCaptureChunk& chunk : chunks) {
    if (raw_chunk_fits(capture, chunk)) data_size += static_cast<std::uint32_t>(chunk.data.size());
  }
  std::string out = "RIFF";
  append_le(out, 36 + data_size, 4);
  out.append("WAVEfmt ");
  append_le(out, 16, 4);  // fmt chunk size
  append_le(out, 3, 2);   // WAVE_FORMAT_IEEE_FLOAT
  append_le(out, axes, 2);
  append_le(out, capture.sample_rate_hz, 4);
  append_le(out, capture.sample_rate_hz * axes * 4, 4);  // byte rate
  append_le(out, axes * 4, 2);                           // block align
  append_le(out, 32, 2);                                 // bits per sample
  out.append("data");
  append_le(out, data_size, 4);
  for (const StoredCaptureChunk& chunk : chunks) {
    if (raw_chunk_fits(capture, chunk)) {
      out.append(reinterpret_cast<const char*>(chunk.data.data()), chunk.data.size());
    }
  }
  return out;
}

}  // namespace spindle::gateway::api
