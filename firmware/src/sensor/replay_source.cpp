#include "spindle/sensor/replay_source.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <system_error>

namespace spindle::sensor {
namespace {

constexpr std::size_t kMaxColumns = 4;
constexpr std::size_t kMaxAxes = 3;
constexpr std::size_t kMaxLine = 255;
constexpr std::uint32_t kMaxSampleRate = 100000;

// What a decoder found; the samples are in the caller's storage.
struct Decoded {
  std::size_t frames = 0;
  std::size_t channels = 0;
  std::uint32_t sample_rate_hz = 0;
};

// Records the reason and line for the caller, and returns the error.
class Failure {
 public:
  explicit Failure(ReplayError* out) : out_(out) {}
  Status operator()(Error error, const char* reason, std::size_t line = 0) const {
    if (out_ != nullptr) *out_ = ReplayError{reason, line};
    return error;
  }

 private:
  ReplayError* out_;
};

// A small read-ahead buffer over a ByteStream, so that decoders can peek, read exact
// counts and split lines without a seekable source.
class Reader {
 public:
  static constexpr std::size_t kCapacity = 512;
  static_assert(kCapacity > kMaxLine + 1);

  explicit Reader(ByteStream& stream) : stream_(stream) {}

  // Makes at least `count` (<= kCapacity) bytes available unless the stream ends first.
  Status fill(std::size_t count) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    while (end_ < count && !ended_) {
      SPINDLE_TRY_ASSIGN(const std::size_t got, stream_.read(std::span(buffer_).subspan(end_)));
      if (got == 0) ended_ = true;
      end_ += got;
    }
    return kOk;
  }

  std::span<const std::byte> available() const {
    return std::span(buffer_).subspan(begin_, end_ - begin_);
  }
  void consume(std::size_t count) { begin_ += count; }
  bool ended() const { return ended_ && begin_ == end_; }

  // Reads exactly out.size() bytes. Returns false if the stream ends first.
  Result<bool> read_exact(std::span<std::byte> out) {
    while (!out.empty()) {
      if (begin_ == end_) SPINDLE_TRY(fill(kCapacity));
      const std::size_t n = std::min(out.size(), end_ - begin_);
      if (n == 0) return false;
      std::memcpy(out.data(), buffer_.data() + begin_, n);
      begin_ += n;
      out = out.subspan(n);
    }
    return true;
  }

  // Skips `count` bytes. Returns false if the stream ends first.
  Result<bool> skip(std::uint64_t count) {
    while (count > 0) {
      if (begin_ == end_) SPINDLE_TRY(fill(kCapacity));
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(count, end_ - begin_));
      if (n == 0) return false;
      begin_ += n;
      count -= n;
    }
    return true;
  }

  // The next line without its terminator ("\n" or "\r\n"), valid until the next call;
  // `done` is set at the end of the stream. Returns false for a line over kMaxLine.
  Result<bool> read_line(std::string_view& line, bool& done) {
    done = false;
    for (;;) {
      const auto bytes = available();
      const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      std::size_t length = text.find('\n');
      const bool complete = length != std::string_view::npos;
      if (!complete) {
        if (text.size() > kMaxLine) return false;
        if (!ended_) {
          SPINDLE_TRY(fill(text.size() + 1));
          continue;
        }
        if (text.empty()) {
          done = true;
          return true;
        }
        length = text.size();
      }
      if (length > kMaxLine) return false;
      line = text.substr(0, length);
      consume(complete ? length + 1 : length);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      return true;
    }
  }

 private:
  ByteStream& stream_;
  std::array<std::byte, kCapacity> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool ended_ = false;
};

// ---- CSV ----

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

bool is_separator(char c) {
  return c == ',' || c == ';' || c == '\t';
}

// Splits `line` at separators into `fields`; returns the count, or kMaxColumns + 1 when
// there are more than kMaxColumns.
std::size_t split(std::string_view line, std::array<std::string_view, kMaxColumns>& fields) {
  std::size_t count = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i < line.size() && !is_separator(line[i])) continue;
    if (count == kMaxColumns) return kMaxColumns + 1;
    fields[count++] = trim(line.substr(start, i - start));
    start = i + 1;
  }
  return count;
}

bool parse_number(std::string_view text, double& value) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty() && std::isfinite(value);
}

bool is_blank_or_comment(std::string_view line) {
  const std::string_view t = trim(line);
  return t.empty() || t.front() == '#';
}

Result<Decoded> decode_csv(Reader& reader, std::span<float> storage, const ReplayOptions& options,
                           const Failure& fail) {
  std::size_t columns = 0;  // 0 until the header or first data line fixes it
  bool has_time = false;
  std::size_t line_number = 0;
  std::size_t frames = 0;
  double first_time = 0.0;
  double last_time = 0.0;
  std::array<std::string_view, kMaxColumns> fields{};
  for (;;) {
    std::string_view line;
    bool done = false;
    SPINDLE_TRY_ASSIGN(const bool fits, reader.read_line(line, done));
    ++line_number;
    if (!fits) return fail(Error::kMalformed, "line longer than 255 characters", line_number);
    if (done) break;
    if (is_blank_or_comment(line)) continue;

    const std::size_t count = split(line, fields);
    if (count > kMaxColumns) return fail(Error::kMalformed, "more than 4 columns", line_number);
    std::array<double, kMaxColumns> values{};
    std::size_t numbers = 0;
    for (std::size_t i = 0; i < count; ++i)
      numbers += parse_number(fields[i], values[i]) ? 1U : 0U;
    const bool numeric = numbers == count;

    if (columns == 0) {
      columns = count;
      if (numbers == 0) {  // a header: it names the columns; only the time column matters
        has_time = !fields[0].empty() && (fields[0].front() == 't' || fields[0].front() == 'T');
        const std::size_t axes = columns - (has_time ? 1 : 0);
        if (axes < 1 || axes > kMaxAxes) {
          return fail(Error::kMalformed, "header names not 1 to 3 axis columns", line_number);
        }
        continue;
      }
      has_time = columns == kMaxColumns;
    }
    if (count != columns) {
      return fail(Error::kMalformed, "another number of fields than the first line", line_number);
    }
    if (!numeric) return fail(Error::kMalformed, "not a finite number", line_number);

    const std::size_t first_axis = has_time ? 1 : 0;
    const std::size_t axes = columns - first_axis;
    if ((frames + 1) * axes > storage.size()) {
      return fail(Error::kOversize, "more samples than the buffer holds", line_number);
    }
    if (has_time) {
      if (frames == 0) {
        first_time = values[0];
      } else if (!(values[0] > last_time)) {
        return fail(Error::kMalformed, "time does not increase", line_number);
      }
      last_time = values[0];
    }
    for (std::size_t a = 0; a < axes; ++a) {
      const auto sample = static_cast<float>(values[first_axis + a]) * options.scale_to_g;
      if (!std::isfinite(sample))
        return fail(Error::kMalformed, "not a finite number", line_number);
      storage[frames * axes + a] = sample;
    }
    ++frames;
  }
  if (frames == 0) return fail(Error::kMalformed, "no samples");

  Decoded decoded;
  decoded.frames = frames;
  decoded.channels = columns - (has_time ? 1 : 0);
  decoded.sample_rate_hz = options.csv_sample_rate_hz;
  if (has_time && frames >= 2) {
    const double rate = static_cast<double>(frames - 1) / (last_time - first_time);
    if (!(rate >= 0.5 && rate < kMaxSampleRate + 0.5)) {
      return fail(Error::kInvalidValue, "time column gives a rate outside 1..100000 Hz");
    }
    decoded.sample_rate_hz = static_cast<std::uint32_t>(std::lround(rate));
  }
  if (decoded.sample_rate_hz < 1 || decoded.sample_rate_hz > kMaxSampleRate) {
    return fail(Error::kInvalidValue, "sample rate outside 1..100000 Hz");
  }
  return decoded;
}

// ---- WAV ----

constexpr std::uint16_t kWavePcm = 1;
constexpr std::uint16_t kWaveFloat = 3;
constexpr std::uint16_t kWaveExtensible = 0xFFFE;
constexpr std::size_t kFmtMinSize = 16;
constexpr std::size_t kFmtExtensibleSize = 40;

std::uint16_t le16(std::span<const std::byte> b) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[0]) |
                                    (std::to_integer<unsigned>(b[1]) << 8));
}

std::uint32_t le32(std::span<const std::byte> b) {
  return static_cast<std::uint32_t>(le16(b)) |
         (static_cast<std::uint32_t>(le16(b.subspan(2))) << 16);
}

bool tag_is(std::span<const std::byte> b, std::string_view tag) {
  return std::memcmp(b.data(), tag.data(), 4) == 0;
}

struct WavFormat {
  std::uint16_t encoding = 0;  // kWavePcm or kWaveFloat
  std::size_t channels = 0;
  std::uint32_t sample_rate_hz = 0;
  std::size_t bytes_per_sample = 0;
};

Result<WavFormat> decode_fmt(Reader& reader, std::uint32_t size, const Failure& fail) {
  if (size < kFmtMinSize) return fail(Error::kMalformed, "fmt chunk shorter than 16 bytes");
  std::array<std::byte, kFmtExtensibleSize> fmt{};
  const std::size_t kept = std::min<std::size_t>(size, fmt.size());
  SPINDLE_TRY_ASSIGN(const bool whole, reader.read_exact(std::span(fmt).first(kept)));
  if (!whole) return fail(Error::kTruncated, "file ends inside the fmt chunk");
  SPINDLE_TRY_ASSIGN(const bool skipped, reader.skip(size - kept + (size & 1U)));
  if (!skipped) return fail(Error::kTruncated, "file ends inside the fmt chunk");

  const std::span<const std::byte> f(fmt);
  WavFormat format;
  format.encoding = le16(f);
  format.channels = le16(f.subspan(2));
  format.sample_rate_hz = le32(f.subspan(4));
  const std::uint16_t block_align = le16(f.subspan(12));
  const std::uint16_t bits = le16(f.subspan(14));
  if (format.encoding == kWaveExtensible) {
    if (size < kFmtExtensibleSize) {
      return fail(Error::kMalformed, "extensible fmt chunk shorter than 40 bytes");
    }
    format.encoding = le16(f.subspan(24));  // the first two bytes of the sub-format GUID
  }
  const bool pcm16 = format.encoding == kWavePcm && bits == 16;
  const bool float32 = format.encoding == kWaveFloat && bits == 32;
  if (!pcm16 && !float32) {
    return fail(Error::kInvalidValue, "encoding is not PCM 16-bit or IEEE float 32-bit");
  }
  if (format.channels < 1 || format.channels > kMaxAxes) {
    return fail(Error::kInvalidValue, "channels not 1 to 3");
  }
  if (format.sample_rate_hz < 1 || format.sample_rate_hz > kMaxSampleRate) {
    return fail(Error::kInvalidValue, "sample rate outside 1..100000 Hz");
  }
  format.bytes_per_sample = bits / 8U;
  if (block_align != format.channels * format.bytes_per_sample) {
    return fail(Error::kMalformed, "block align does not match channels and bits");
  }
  return format;
}

Status decode_wav_data(Reader& reader, std::uint32_t size, const WavFormat& format,
                       std::span<float> storage, float scale, const Failure& fail) {
  const std::size_t total = size / format.bytes_per_sample;
  std::array<std::byte, 4> sample{};
  const auto bytes = std::span(sample).first(format.bytes_per_sample);
  for (std::size_t i = 0; i < total; ++i) {
    SPINDLE_TRY_ASSIGN(const bool whole, reader.read_exact(bytes));
    if (!whole) return fail(Error::kTruncated, "file ends inside the data chunk");
    float value = 0.0F;
    if (format.encoding == kWavePcm) {
      value = static_cast<float>(static_cast<std::int16_t>(le16(bytes))) * (1.0F / 32768.0F);
    } else {
      value = std::bit_cast<float>(le32(bytes));
    }
    value *= scale;
    if (!std::isfinite(value)) return fail(Error::kMalformed, "sample is not a finite number");
    storage[i] = value;
  }
  return kOk;
}

Result<Decoded> decode_wav(Reader& reader, std::span<float> storage, const ReplayOptions& options,
                           const Failure& fail) {
  std::array<std::byte, 12> riff{};
  SPINDLE_TRY_ASSIGN(const bool whole, reader.read_exact(riff));
  const std::span<const std::byte> r(riff);
  if (!whole || !tag_is(r, "RIFF") || !tag_is(r.subspan(8), "WAVE")) {
    return fail(Error::kBadMagic, "not a RIFF/WAVE file");
  }
  WavFormat format;
  bool have_format = false;
  for (;;) {
    std::array<std::byte, 8> header{};
    SPINDLE_TRY_ASSIGN(const bool got_header, reader.read_exact(header));
    if (!got_header) {
      if (!reader.ended()) return fail(Error::kTruncated, "file ends inside a chunk header");
      return fail(Error::kMissingField, have_format ? "no data chunk" : "no fmt chunk");
    }
    const std::span<const std::byte> h(header);
    const std::uint32_t size = le32(h.subspan(4));
    if (tag_is(h, "fmt ")) {
      if (have_format) return fail(Error::kMalformed, "two fmt chunks");
      SPINDLE_TRY_ASSIGN(format, decode_fmt(reader, size, fail));
      have_format = true;
    } else if (tag_is(h, "data")) {
      if (!have_format) return fail(Error::kMalformed, "data chunk before fmt chunk");
      const std::size_t frame_bytes = format.channels * format.bytes_per_sample;
      if (size % frame_bytes != 0) {
        return fail(Error::kMalformed, "data size is not a whole number of frames");
      }
      const std::size_t frames = size / frame_bytes;
      if (frames == 0) return fail(Error::kMalformed, "no samples");
      if (frames > storage.size() / format.channels) {
        return fail(Error::kOversize, "more samples than the buffer holds");
      }
      SPINDLE_TRY(decode_wav_data(reader, size, format, storage, options.scale_to_g, fail));
      return Decoded{frames, format.channels, format.sample_rate_hz};  // later chunks: ignored
    } else {
      SPINDLE_TRY_ASSIGN(const bool skipped, reader.skip(std::uint64_t{size} + (size & 1U)));
      if (!skipped) return fail(Error::kTruncated, "file ends inside a chunk");
    }
  }
}

class MemoryStream final : public ByteStream {
 public:
  explicit MemoryStream(std::span<const std::byte> bytes) : bytes_(bytes) {}
  Result<std::size_t> read(std::span<std::byte> out) override {
    const std::size_t n = std::min(out.size(), bytes_.size());
    if (n > 0) std::memcpy(out.data(), bytes_.data(), n);
    bytes_ = bytes_.subspan(n);
    return n;
  }

 private:
  std::span<const std::byte> bytes_;
};

}  // namespace

Result<ReplaySource> ReplaySource::open(ByteStream& stream, std::span<float> storage,
                                        const ReplayOptions& options, ReplayError* error) {
  const Failure fail(error);
  if (!std::isfinite(options.scale_to_g)) {
    return fail(Error::kInvalidValue, "scale_to_g is not a finite number");
  }
  Reader reader(stream);
  ReplayFormat format = options.format;
  if (format == ReplayFormat::kAuto) {
    SPINDLE_TRY(reader.fill(4));
    const auto head = reader.available();
    format = head.size() >= 4 && tag_is(head, "RIFF") ? ReplayFormat::kWav : ReplayFormat::kCsv;
  }
  SPINDLE_TRY_ASSIGN(const Decoded decoded, format == ReplayFormat::kWav
                                                ? decode_wav(reader, storage, options, fail)
                                                : decode_csv(reader, storage, options, fail));
  ReplaySource source;
  source.samples_ = storage.first(decoded.frames * decoded.channels);
  source.frames_ = decoded.frames;
  source.channels_ = decoded.channels;
  source.sample_rate_hz_ = decoded.sample_rate_hz;
  source.loop_ = options.loop;
  if (error != nullptr) *error = ReplayError{};
  return source;
}

Result<ReplaySource> ReplaySource::open_memory(std::span<const std::byte> bytes,
                                               std::span<float> storage,
                                               const ReplayOptions& options, ReplayError* error) {
  MemoryStream stream(bytes);
  return open(stream, storage, options, error);
}

Status ReplaySource::read(std::span<float> x, std::span<float> y, std::span<float> z) {
  if (y.size() != x.size() || z.size() != x.size()) return Error::kSizeMismatch;
  if (frames_ == 0) return Error::kInvalidState;
  if (!loop_ && x.size() > frames_ - position_) return Error::kUnavailable;
  const std::array<std::span<float>, kMaxAxes> out = {x, y, z};
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto frame = samples_.subspan(position_ * channels_, channels_);
    for (std::size_t axis = 0; axis < kMaxAxes; ++axis) {
      out[axis][i] = axis < channels_ ? frame[axis] : 0.0F;
    }
    if (++position_ == frames_ && loop_) position_ = 0;
  }
  return kOk;
}

}  // namespace spindle::sensor
