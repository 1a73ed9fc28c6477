// A recorded vibration signal played back as the node's accelerometer (native_sim).
//
// The whole recording is decoded at open into a caller-provided float buffer (interleaved
// frames of channels() samples, already scaled to g), so reads never touch the file.
//
// CSV: comma-, semicolon- or tab-separated; blank lines and lines starting with '#' are
// skipped; an optional header line (the first line, when none of its fields is a number). Columns
// are x / x,y / x,y,z, or t,x,y,z when there are four; with a header whose first name starts with
// 't' or 'T' the first column is time (t,x ... t,x,y,z). Time is in seconds and must increase; the
// rate is (frames - 1) / (t_last - t_first), rounded to whole Hz. Without a time column the rate is
// ReplayOptions::csv_sample_rate_hz. WAV: RIFF/WAVE with a "fmt " chunk (PCM 16-bit, IEEE float
// 32-bit, or either inside WAVE_FORMAT_EXTENSIBLE), 1 to 3 channels (x, y, z) and a "data" chunk;
// 16-bit samples are read as v / 32768 before scaling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/sensor/sample_source.hpp"
#include "spindle/status.hpp"

namespace spindle::sensor {

enum class ReplayFormat : std::uint8_t {
  kAuto,  // WAV if the data start with "RIFF", else CSV
  kCsv,
  kWav,
};

struct ReplayOptions {
  ReplayFormat format = ReplayFormat::kAuto;
  bool loop = true;                         // false: read() ends with kUnavailable
  float scale_to_g = 1.0F;                  // every decoded value is multiplied by this
  std::uint32_t csv_sample_rate_hz = 3200;  // for CSV files without a time column
};

// Why open failed, for a message an operator can act on.
struct ReplayError {
  const char* reason = "";  // a short static text, e.g. "not a finite number"
  std::size_t line = 0;     // 1-based CSV line; 0 when not about one line
};

// Where the bytes of a recording come from (a file on native_sim, memory in tests and
// fuzzing).
class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Copies up to out.size() bytes into out and returns how many; 0 only at the end.
  // Errors: kIoError.
  virtual Result<std::size_t> read(std::span<std::byte> out) = 0;

 protected:
  ByteStream() = default;
  ByteStream(const ByteStream&) = default;
  ByteStream& operator=(const ByteStream&) = default;
};

class ReplaySource final : public SampleSource {
 public:
  ReplaySource() = default;  // not open: read() returns kInvalidState

  // Decodes a whole recording into `storage`. `error` (optional) says why it failed.
  // Errors: kBadMagic (format kWav but not RIFF/WAVE), kMalformed (a CSV field that is not
  // a finite number, a line with another number of fields than the first, 0 or more than 4
  // columns, a header not naming 1 to 3 axis columns, time not increasing, a line over 255
  // characters, no samples; WAV chunk sizes that do not add up, data before fmt, non-finite
  // float samples), kTruncated (a WAV that ends inside a chunk), kMissingField (no fmt or
  // data chunk), kInvalidValue (WAV encoding other than PCM-16/float-32, channels not 1..3, a
  // sample rate outside 1..100000 Hz, scale_to_g not finite), kOversize (more samples than
  // `storage` holds), kIoError.
  static Result<ReplaySource> open(ByteStream& stream, std::span<float> storage,
                                   const ReplayOptions& options = {}, ReplayError* error = nullptr);
  // The same, from bytes in memory.
  static Result<ReplaySource> open_memory(std::span<const std::byte> bytes,
                                          std::span<float> storage,
                                          const ReplayOptions& options = {},
                                          ReplayError* error = nullptr);
  // The same, from a file (stdio; native_sim only). kIoError when it cannot be opened.
  static Result<ReplaySource> open_file(const char* path, std::span<float> storage,
                                        const ReplayOptions& options = {},
                                        ReplayError* error = nullptr);

  // Errors: kSizeMismatch (spans of different lengths), kInvalidState (not open),
  // kUnavailable (not looping, fewer than x.size() frames left; nothing is consumed).
  Status read(std::span<float> x, std::span<float> y, std::span<float> z) override;
  std::uint32_t sample_rate_hz() const override { return sample_rate_hz_; }

  std::size_t frames() const { return frames_; }
  std::size_t channels() const { return channels_; }
  std::size_t position() const { return position_; }  // next frame to be read
  void rewind() { position_ = 0; }

 private:
  std::span<const float> samples_;  // frames_ * channels_, interleaved
  std::size_t frames_ = 0;
  std::size_t channels_ = 0;
  std::size_t position_ = 0;
  std::uint32_t sample_rate_hz_ = 0;
  bool loop_ = false;
};

}  // namespace spindle::sensor
