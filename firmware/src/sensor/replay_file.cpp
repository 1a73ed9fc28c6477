// The one place the sensor module touches a file system: native_sim replays a recording
// from the host. Real boards do not link this file's callers.
#include <cstdio>

#include "spindle/sensor/replay_source.hpp"

namespace spindle::sensor {
namespace {

class FileStream final : public ByteStream {
 public:
  explicit FileStream(const char* path) : file_(std::fopen(path, "rb")) {}
  ~FileStream() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  FileStream(const FileStream&) = delete;
  FileStream& operator=(const FileStream&) = delete;

  bool is_open() const { return file_ != nullptr; }

  Result<std::size_t> read(std::span<std::byte> out) override {
    const std::size_t n = std::fread(out.data(), 1, out.size(), file_);
    if (n < out.size() && std::ferror(file_) != 0) return Error::kIoError;
    return n;
  }

 private:
  std::FILE* file_;
};

}  // namespace

Result<ReplaySource> ReplaySource::open_file(const char* path, std::span<float> storage,
                                             const ReplayOptions& options, ReplayError* error) {
  FileStream stream(path);
  if (!stream.is_open()) {
    if (error != nullptr) *error = ReplayError{"cannot open the file", 0};
    return Error::kIoError;
  }
  return open(stream, storage, options, error);
}

}  // namespace spindle::sensor
