#include "spindle/host/files.hpp"

#include "spindle/host/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace spindle::host {
namespace {

Status failed(std::string* error, const std::string& what, const std::string& path, int code,
              Error status = Error::kIoError) {
  if (error != nullptr) *error = what + " " + path + ": " + std::strerror(code);
  return status;
}

std::string folder_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// A closed descriptor on every path out.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports whether the close succeeded (errno on failure).
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// A temporary beside `path` that no other writer uses: several threads or processes may
// write the same file at once (two gateway connections storing the same model).
int open_temporary(const std::string& path, bool secret, std::string* temporary) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    *temporary = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    const int fd =
        ::open(temporary->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
    if (fd >= 0 || errno != EEXIST) return fd;  // EEXIST: left by a crashed writer
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

Status write_file(const std::string& path, std::span<const std::uint8_t> bytes,
                  Visibility visibility, Existing existing, std::string* error) {
  const bool secret = visibility == Visibility::kSecret;
  std::string temporary;
  Descriptor fd(open_temporary(path, secret, &temporary));
  if (fd.get() < 0) return failed(error, "cannot write", path, errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int code = n < 0 ? errno : EIO;
      ::unlink(temporary.c_str());
      return failed(error, "cannot write", path, code);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || !fd.close()) {
    const int code = errno;
    ::unlink(temporary.c_str());
    return failed(error, "cannot write", path, code);
  }
  if (existing == Existing::kKeep) {
    // link() refuses an existing name: the file appears whole, and only once.
    const int linked = ::link(temporary.c_str(), path.c_str());
    const int code = errno;
    ::unlink(temporary.c_str());
    if (linked != 0) {
      return failed(error, "cannot create", path, code,
                    code == EEXIST ? Error::kAlreadyExists : Error::kIoError);
    }
  } else if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int code = errno;
    ::unlink(temporary.c_str());
    return failed(error, "cannot write", path, code);
  }
  // The new name is durable only once its folder is.
  const std::string folder = folder_of(path);
  Descriptor dir(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) return failed(error, "cannot sync", folder, errno);
  return kOk;
}

Status write_text_file(const std::string& path, std::string_view text, Visibility visibility,
                       Existing existing, std::string* error) {
  return write_file(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                    visibility, existing, error);
}

Result<ByteVector> read_file(const std::string& path, std::string* error) {
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int code = errno;
    return failed(error, "cannot read", path, code,
                  code == ENOENT ? Error::kNotFound : Error::kIoError);
  }
  ByteVector bytes;
  std::array<std::uint8_t, 64 * 1024> chunk{};
  while (true) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed(error, "cannot read", path, errno);
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  return bytes;
}

Result<std::string> read_trimmed_text(const std::string& path, std::string* error) {
  SPINDLE_TRY_ASSIGN(const ByteVector bytes, read_file(path, error));
  return std::string(trim({reinterpret_cast<const char*>(bytes.data()), bytes.size()}));
}

}  // namespace spindle::host
