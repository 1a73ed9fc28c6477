// sensor/replay_source: CSV and WAV recordings written here read back exactly; malformed
// files are refused with the error, a reason and (CSV) the line.
#include "spindle/sensor/replay_source.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace spindle::sensor {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::path(::testing::TempDir()) /
         ("spindle_replay_" + std::to_string(::getpid()) + "_" + name);
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::span<const std::byte> as_bytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// A little-endian byte builder for WAV files.
struct Bytes {
  std::string data;
  Bytes& tag(std::string_view t) {
    data += t;
    return *this;
  }
  Bytes& u16(std::uint32_t v) {
    data += static_cast<char>(v & 0xFF);
    data += static_cast<char>((v >> 8) & 0xFF);
    return *this;
  }
  Bytes& u32(std::uint32_t v) {
    u16(v & 0xFFFF);
    return u16(v >> 16);
  }
  Bytes& f32(float v) { return u32(std::bit_cast<std::uint32_t>(v)); }
};

struct WavSpec {
  std::uint16_t encoding = 1;  // 1 PCM, 3 float, 0xFFFE extensible
  std::uint16_t sub_format = 0;
  std::uint16_t channels = 3;
  std::uint32_t rate = 3200;
  std::uint16_t bits = 16;
};

// RIFF/WAVE with a LIST chunk before fmt (as many recorders write) and the given data.
std::string wav(const WavSpec& spec, const std::string& data) {
  const bool extensible = spec.encoding == 0xFFFE;
  const std::uint16_t block = static_cast<std::uint16_t>(spec.channels * spec.bits / 8);
  Bytes fmt;
  fmt.u16(spec.encoding)
      .u16(spec.channels)
      .u32(spec.rate)
      .u32(spec.rate * block)
      .u16(block)
      .u16(spec.bits);
  if (extensible) {
    fmt.u16(22).u16(spec.bits).u32(0).u16(spec.sub_format);
    fmt.data += std::string("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  }
  Bytes body;
  body.tag("WAVE").tag("LIST").u32(5).tag("INFOx").data += '\0';  // odd size: padded
  body.tag("fmt ").u32(static_cast<std::uint32_t>(fmt.data.size())).data += fmt.data;
  body.tag("data").u32(static_cast<std::uint32_t>(data.size())).data += data;
  Bytes file;
  file.tag("RIFF").u32(static_cast<std::uint32_t>(body.data.size())).data += body.data;
  return file.data;
}

struct Read {
  std::vector<float> x, y, z;
};

Read read_all(ReplaySource& source, std::size_t frames) {
  Read r{std::vector<float>(frames), std::vector<float>(frames), std::vector<float>(frames)};
  EXPECT_TRUE(source.read(r.x, r.y, r.z).ok());
  return r;
}

TEST(ReplaySource, CsvWithHeaderAndTimeColumnReadsBackExactlyAtItsRate) {
  std::vector<float> expected;
  std::string csv = "t,x,y,z\n";
  for (int i = 0; i < 100; ++i) {
    const float x = 0.001F * static_cast<float>(i * i) - 1.7F;
    const float y = 1.0F / static_cast<float>(i + 3);
    const float z = -3.14159F * static_cast<float>(i % 7);
    expected.insert(expected.end(), {x, y, z});
    char line[128];
    std::snprintf(line, sizeof line, "%.9g,%.9g,%.9g,%.9g\r\n", i / 1600.0, static_cast<double>(x),
                  static_cast<double>(y), static_cast<double>(z));
    csv += line;
  }
  const auto path = temp_path("header_time.csv");
  write_file(path, csv);
  std::vector<float> storage(300);
  auto source = ReplaySource::open_file(path.c_str(), storage);
  ASSERT_TRUE(source.ok()) << source.status().name();
  EXPECT_EQ(source->sample_rate_hz(), 1600U);
  EXPECT_EQ(source->frames(), 100U);
  EXPECT_EQ(source->channels(), 3U);
  const Read r = read_all(source.value(), 100);
  for (std::size_t i = 0; i < 100; ++i) {
    ASSERT_EQ(r.x[i], expected[3 * i]) << i;
    ASSERT_EQ(r.y[i], expected[3 * i + 1]) << i;
    ASSERT_EQ(r.z[i], expected[3 * i + 2]) << i;
  }
  std::filesystem::remove(path);
}

TEST(ReplaySource, CsvWithoutHeaderUsesTheConfiguredRateAndScale) {
  const std::string csv = "# recorded on rig 2\n0.5,1,-2\n\n0.25, 0.125 ,+4\n";
  std::vector<float> storage(6);
  ReplayOptions options;
  options.csv_sample_rate_hz = 1000;
  options.scale_to_g = 2.0F;
  auto source = ReplaySource::open_memory(as_bytes(csv), storage, options);
  ASSERT_TRUE(source.ok()) << source.status().name();
  EXPECT_EQ(source->sample_rate_hz(), 1000U);
  const Read r = read_all(source.value(), 2);
  EXPECT_EQ(r.x, (std::vector<float>{1.0F, 0.5F}));
  EXPECT_EQ(r.y, (std::vector<float>{2.0F, 0.25F}));
  EXPECT_EQ(r.z, (std::vector<float>{-4.0F, 8.0F}));
}

TEST(ReplaySource, CsvWithFewerAxesReadsTheOthersAsZero) {
  std::vector<float> storage(8);
  auto one = ReplaySource::open_memory(as_bytes("x\n1\n2\n3\n"), storage);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->channels(), 1U);
  const Read r1 = read_all(one.value(), 3);
  EXPECT_EQ(r1.x, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(r1.y, (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(r1.z, (std::vector<float>{0, 0, 0}));

  // With a header starting with 't', two columns are time and x.
  auto timed = ReplaySource::open_memory(as_bytes("time_s;x\n0;5\n0.5;6\n1.0;7\n"), storage);
  ASSERT_TRUE(timed.ok());
  EXPECT_EQ(timed->channels(), 1U);
  EXPECT_EQ(timed->sample_rate_hz(), 2U);
  EXPECT_EQ(read_all(timed.value(), 3).x, (std::vector<float>{5, 6, 7}));
}

TEST(ReplaySource, WavPcm16ReadsBackAsFullScaleFractionsTimesTheScale) {
  std::string data;
  std::vector<std::int16_t> values;
  for (int i = 0; i < 64; ++i) {
    for (int axis = 0; axis < 3; ++axis) {
      const auto v = static_cast<std::int16_t>((i * 1031 + axis * 20011) % 65536 - 32768);
      values.push_back(v);
      data += Bytes().u16(static_cast<std::uint16_t>(v)).data;
    }
  }
  const auto path = temp_path("pcm16.wav");
  write_file(path, wav(WavSpec{}, data));
  std::vector<float> storage(3 * 64);
  ReplayOptions options;
  options.scale_to_g = 16.0F;  // a +-16 g accelerometer recorded at full scale
  auto source = ReplaySource::open_file(path.c_str(), storage, options);
  ASSERT_TRUE(source.ok()) << source.status().name();
  EXPECT_EQ(source->sample_rate_hz(), 3200U);
  const Read r = read_all(source.value(), 64);
  for (std::size_t i = 0; i < 64; ++i) {
    ASSERT_EQ(r.x[i], static_cast<float>(values[3 * i]) / 32768.0F * 16.0F) << i;
    ASSERT_EQ(r.y[i], static_cast<float>(values[3 * i + 1]) / 32768.0F * 16.0F) << i;
    ASSERT_EQ(r.z[i], static_cast<float>(values[3 * i + 2]) / 32768.0F * 16.0F) << i;
  }
  std::filesystem::remove(path);
}

TEST(ReplaySource, WavFloat32ReadsBackExactlyPlainOrExtensible) {
  std::string data;
  std::vector<float> values;
  for (int i = 0; i < 50; ++i) {
    for (const float v : {0.1F * static_cast<float>(i), -1.0F / static_cast<float>(i + 1)}) {
      values.push_back(v);
      data += Bytes().f32(v).data;
    }
  }
  WavSpec plain;
  plain.encoding = 3;
  plain.channels = 2;
  plain.rate = 25600;
  plain.bits = 32;
  WavSpec extensible = plain;
  extensible.encoding = 0xFFFE;
  extensible.sub_format = 3;
  for (const WavSpec& spec : {plain, extensible}) {
    std::vector<float> storage(100);
    const std::string file = wav(spec, data);
    auto source = ReplaySource::open_memory(as_bytes(file), storage);
    ASSERT_TRUE(source.ok()) << source.status().name();
    EXPECT_EQ(source->sample_rate_hz(), 25600U);
    EXPECT_EQ(source->channels(), 2U);
    const Read r = read_all(source.value(), 50);
    for (std::size_t i = 0; i < 50; ++i) {
      ASSERT_EQ(r.x[i], values[2 * i]);
      ASSERT_EQ(r.y[i], values[2 * i + 1]);
      ASSERT_EQ(r.z[i], 0.0F);
    }
  }
}

TEST(ReplaySource, LoopsBackToTheStartWhenConfiguredToLoop) {
  std::vector<float> storage(4);
  auto source = ReplaySource::open_memory(as_bytes("1\n2\n3\n"), storage);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(read_all(source.value(), 7).x, (std::vector<float>{1, 2, 3, 1, 2, 3, 1}));
  EXPECT_EQ(source->position(), 1U);
}

TEST(ReplaySource, EndsWithUnavailableWhenNotLooping) {
  std::vector<float> storage(4);
  ReplayOptions options;
  options.loop = false;
  auto source = ReplaySource::open_memory(as_bytes("1\n2\n3\n"), storage, options);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ(read_all(source.value(), 2).x, (std::vector<float>{1, 2}));
  std::vector<float> x(2), y(2), z(2);
  EXPECT_EQ(source.value().read(x, y, z), Error::kUnavailable);  // only one frame left
  EXPECT_EQ(source->position(), 2U);
  EXPECT_EQ(read_all(source.value(), 1).x, (std::vector<float>{3}));
  source.value().rewind();
  EXPECT_EQ(read_all(source.value(), 3).x, (std::vector<float>{1, 2, 3}));
}

TEST(ReplaySource, ReadWithUnequalSpansOrBeforeOpenIsRefused) {
  std::vector<float> x(2), y(2), z(3);
  ReplaySource closed;
  EXPECT_EQ(closed.read(x, y, x), Error::kInvalidState);
  EXPECT_EQ(closed.read(x, y, z), Error::kSizeMismatch);
}

struct Refusal {
  Error error;
  std::string reason;
  std::size_t line;
};

Refusal refusal(std::string_view text, std::size_t capacity = 64) {
  std::vector<float> storage(capacity);
  ReplayError why;
  const auto source = ReplaySource::open_memory(as_bytes(text), storage, {}, &why);
  EXPECT_FALSE(source.ok());
  return {source.status().error(), why.reason, why.line};
}

TEST(ReplaySource, MalformedCsvIsRefusedWithTheReasonAndLine) {
  const Refusal not_number = refusal("x,y,z\n1,2,3\n4,five,6\n");
  EXPECT_EQ(not_number.error, Error::kMalformed);
  EXPECT_EQ(not_number.reason, "not a finite number");
  EXPECT_EQ(not_number.line, 3U);

  const Refusal ragged = refusal("1,2,3\n\n4,5\n");
  EXPECT_EQ(ragged.error, Error::kMalformed);
  EXPECT_EQ(ragged.reason, "another number of fields than the first line");
  EXPECT_EQ(ragged.line, 3U);

  const Refusal back_in_time = refusal("0,1,2,3\n0.1,1,2,3\n0.1,1,2,3\n");
  EXPECT_EQ(back_in_time.error, Error::kMalformed);
  EXPECT_EQ(back_in_time.reason, "time does not increase");
  EXPECT_EQ(back_in_time.line, 3U);

  EXPECT_EQ(refusal("1,2,3,4,5\n").reason, "more than 4 columns");
  EXPECT_EQ(refusal("a,x,y,z\n1,2,3,4\n").reason, "header names not 1 to 3 axis columns");
  EXPECT_EQ(refusal("1,nan,3\n").reason, "not a finite number");
  EXPECT_EQ(refusal("1,2,\n").reason, "not a finite number");
  EXPECT_EQ(refusal(std::string(300, '1') + "\n").reason, "line longer than 255 characters");
  EXPECT_EQ(refusal("").error, Error::kMalformed);
  EXPECT_EQ(refusal("x,y,z\n# nothing\n").reason, "no samples");

  const Refusal too_long = refusal("1,2,3\n4,5,6\n7,8,9\n", 8);
  EXPECT_EQ(too_long.error, Error::kOversize);
  EXPECT_EQ(too_long.line, 3U);
}

TEST(ReplaySource, MalformedWavIsRefusedWithTheReason) {
  const std::string frame = Bytes().u16(1).u16(2).u16(3).data;
  const Refusal magic = refusal("RIFF\x10\x00\x00\x00WAVX");
  EXPECT_EQ(magic.error, Error::kBadMagic);

  WavSpec pcm24;
  pcm24.bits = 24;
  const Refusal depth = refusal(wav(pcm24, std::string(9, '\0')));
  EXPECT_EQ(depth.error, Error::kInvalidValue);
  EXPECT_EQ(depth.reason, "encoding is not PCM 16-bit or IEEE float 32-bit");

  WavSpec four;
  four.channels = 4;
  EXPECT_EQ(refusal(wav(four, frame + frame)).reason, "channels not 1 to 3");

  const std::string whole = wav(WavSpec{}, frame + frame);
  const Refusal truncated = refusal(whole.substr(0, whole.size() - 3));
  EXPECT_EQ(truncated.error, Error::kTruncated);
  EXPECT_EQ(truncated.reason, "file ends inside the data chunk");

  const Refusal ragged = refusal(wav(WavSpec{}, frame + "ab"));
  EXPECT_EQ(ragged.error, Error::kMalformed);
  EXPECT_EQ(ragged.reason, "data size is not a whole number of frames");

  const std::string no_data = whole.substr(0, whole.find("data"));
  EXPECT_EQ(refusal(no_data).error, Error::kMissingField);
  EXPECT_EQ(refusal(no_data).reason, "no data chunk");

  EXPECT_EQ(refusal(wav(WavSpec{}, frame + frame), 5).error, Error::kOversize);

  WavSpec floats;
  floats.encoding = 3;
  floats.channels = 1;
  floats.bits = 32;
  EXPECT_EQ(refusal(wav(floats, Bytes().f32(std::numeric_limits<float>::infinity()).data)).reason,
            "sample is not a finite number");

  ReplayOptions forced;
  forced.format = ReplayFormat::kWav;
  std::vector<float> storage(8);
  EXPECT_EQ(ReplaySource::open_memory(as_bytes("1,2,3\n"), storage, forced).status(),
            Error::kBadMagic);
}

TEST(ReplaySource, MissingFileIsIoError) {
  std::vector<float> storage(8);
  ReplayError why;
  const auto source =
      ReplaySource::open_file(temp_path("does_not_exist.csv").c_str(), storage, {}, &why);
  EXPECT_EQ(source.status(), Error::kIoError);
  EXPECT_STREQ(why.reason, "cannot open the file");
}

}  // namespace
}  // namespace spindle::sensor
