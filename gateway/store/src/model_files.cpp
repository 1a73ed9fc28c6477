// Model payloads are written with the temp-file, fsync, rename, fsync-directory sequence so
// that a power cut leaves either the old state or the complete file, never a torn one.
#include "model_files_private.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "spindle/protocol/hex.hpp"

namespace spindle::gateway::sqlite {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kDigestHexSize = 2 * crypto::kSha256Size;

// File-system failures (errno) for the model payload files.
Status io_error(std::string_view operation, const fs::path& path, int error) {
  spdlog::error("store: {} {}: {}", operation, path.string(),
                std::error_code(error, std::generic_category()).message());
  return Error::kIoError;
}

// Closes a file descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred write may surface only here.
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

Status sync_directory(const fs::path& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return io_error("sync directory", dir, errno);
  return kOk;
}

}  // namespace

bool is_digest_text(std::string_view text) {
  if (text.size() != kDigestHexSize) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string digest_text(const crypto::Digest& digest) {
  std::string text(kDigestHexSize, '0');
  (void)hex::encode(digest, text);  // cannot fail: the buffer is exactly twice the digest
  return text;
}

Status make_private_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return kOk;
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) return io_error("create directory", dir.parent_path(), ec.value());
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    const int error = errno;
    // Lost a race with another process creating it: fine, as long as it is a directory.
    if (error != EEXIST || !fs::is_directory(dir, ec)) return io_error("create", dir, error);
  }
  return kOk;
}

Status write_file_atomically(const fs::path& target, std::span<const std::uint8_t> bytes) {
  std::string temp = target.string() + ".tmp-XXXXXX";
  FileDescriptor fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) return io_error("create", temp, errno);
  const auto fail = [&temp](std::string_view operation, int error) {
    ::unlink(temp.c_str());
    return io_error(operation, temp, error);
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("sync", errno);
  if (fd.close() != 0) return fail("close", errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) return fail("rename", errno);
  return sync_directory(target.parent_path());
}

Result<Bytes> read_file(const fs::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Error::kNotFound;
    return io_error("open", path, errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return io_error("stat", path, errno);
  Bytes bytes(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path, errno);
    }
    if (n == 0) break;  // the file shrank under us: the digest check will refuse it
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace spindle::gateway::sqlite
