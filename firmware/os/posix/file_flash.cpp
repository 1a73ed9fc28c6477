// FileFlash: NOR semantics on a file, every change pwrite()n before the call returns.
#include "spindle/os/posix/file_flash.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "spindle/os/log.hpp"

namespace spindle::os::posix {
namespace {

// Bytes moved per system call; a stack buffer, so the device needs no heap.
constexpr std::size_t kChunk = 4096;

Status pread_all(int fd, std::uint8_t* data, std::size_t length, std::uint64_t offset) {
  while (length > 0) {
    const ssize_t got = ::pread(fd, data, length, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Error::kIoError;  // 0: the file was truncated behind our back
    data += got;
    length -= static_cast<std::size_t>(got);
    offset += static_cast<std::uint64_t>(got);
  }
  return kOk;
}

Status pwrite_all(int fd, const std::uint8_t* data, std::size_t length, std::uint64_t offset) {
  while (length > 0) {
    const ssize_t put = ::pwrite(fd, data, length, static_cast<off_t>(offset));
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return Error::kIoError;
    data += put;
    length -= static_cast<std::size_t>(put);
    offset += static_cast<std::uint64_t>(put);
  }
  return kOk;
}

Status write_erased(int fd, std::uint64_t offset, std::uint64_t size) {
  std::uint8_t erased[kChunk];
  std::memset(erased, kFlashErasedByte, sizeof(erased));
  while (size > 0) {
    const std::size_t step = static_cast<std::size_t>(std::min<std::uint64_t>(size, kChunk));
    SPINDLE_TRY(pwrite_all(fd, erased, step, offset));
    offset += step;
    size -= step;
  }
  return kOk;
}

// Creates `path` all 0xFF under a temporary name and renames it into place, so a process
// killed meanwhile leaves either no flash file or a complete one.
Status create_erased(const char* path, std::uint32_t size) {
  char temporary[PATH_MAX];
  const int length =
      std::snprintf(temporary, sizeof(temporary), "%s.tmp.%ld", path, static_cast<long>(getpid()));
  if (length < 0 || static_cast<std::size_t>(length) >= sizeof(temporary)) {
    return Error::kInvalidValue;
  }
  const int fd = ::open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Error::kIoError;
  Status status = write_erased(fd, 0, size);
  if (::close(fd) != 0 && status.ok()) status = Error::kIoError;
  if (status.ok() && ::rename(temporary, path) != 0) status = Error::kIoError;
  if (!status.ok()) ::unlink(temporary);
  return status;
}

// Strict decimal: "12" yes; "", "-1", "1x", " 1" and overflow no.
bool parse_count(const char* text, std::uint64_t* value) {
  if (*text == '\0') return false;
  std::uint64_t result = 0;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9') return false;
    const auto digit = static_cast<std::uint64_t>(*text - '0');
    if (result > (UINT64_MAX - digit) / 10) return false;
    result = result * 10 + digit;
  }
  *value = result;
  return true;
}

bool in_range(std::uint32_t offset, std::uint64_t length, std::uint32_t size) {
  return std::uint64_t{offset} + length <= size;
}

}  // namespace

FileFlash::~FileFlash() {
  const LockGuard lock(mutex_);
  close_locked();
}

void FileFlash::close_locked() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
  sector_size_ = 0;
  write_block_size_ = 0;
  operations_ = 0;
  cut_armed_ = false;
  operations_before_cut_ = 0;
  cut_mode_ = PowerCutMode::kReturnError;
  power_lost_ = false;
}

Status FileFlash::open(const char* path, std::uint32_t size, std::uint32_t sector_size,
                       std::uint32_t write_block_size) {
  const LockGuard lock(mutex_);
  close_locked();
  if (path == nullptr || size == 0 || sector_size == 0 || write_block_size == 0 ||
      size % sector_size != 0 || sector_size % write_block_size != 0) {
    return Error::kInvalidValue;
  }

  std::uint64_t cut_after = 0;
  const char* const cut_setting = std::getenv(kPowerCutEnvironmentVariable);
  if (cut_setting != nullptr && !parse_count(cut_setting, &cut_after)) {
    SPINDLE_LOG_ERR("flash", "%s=\"%s\" is not a count of operations", kPowerCutEnvironmentVariable,
                    cut_setting);
    return Error::kInvalidValue;
  }

  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    SPINDLE_TRY(create_erased(path, size));
    fd = ::open(path, O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) return Error::kIoError;
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    return Error::kIoError;
  }
  if (info.st_size != static_cast<off_t>(size)) {
    // Another board's flash, or a file that is not a flash image: never reinterpret it.
    SPINDLE_LOG_ERR("flash", "%s holds %lld bytes, the board has %u", path,
                    static_cast<long long>(info.st_size), size);
    ::close(fd);
    return Error::kInvalidValue;
  }

  fd_ = fd;
  size_ = size;
  sector_size_ = sector_size;
  write_block_size_ = write_block_size;
  if (cut_setting != nullptr) {
    SPINDLE_LOG_WRN("flash", "power cut armed after %llu operations",
                    static_cast<unsigned long long>(cut_after));
    cut_armed_ = true;
    operations_before_cut_ = cut_after;
    cut_mode_ = PowerCutMode::kExit;
  }
  return kOk;
}

void FileFlash::cut_power_after(std::uint64_t operations, PowerCutMode mode) {
  const LockGuard lock(mutex_);
  cut_armed_ = true;
  operations_before_cut_ = operations;
  cut_mode_ = mode;
}

std::uint64_t FileFlash::operations() const {
  const LockGuard lock(mutex_);
  return operations_;
}

std::uint32_t FileFlash::size() const {
  const LockGuard lock(mutex_);
  return size_;
}

std::uint32_t FileFlash::sector_size() const {
  const LockGuard lock(mutex_);
  return sector_size_;
}

std::uint32_t FileFlash::write_block_size() const {
  const LockGuard lock(mutex_);
  return write_block_size_;
}

Status FileFlash::check_ready_locked() const {
  if (power_lost_) return Error::kPowerLoss;
  if (fd_ < 0) return Error::kInvalidState;
  return kOk;
}

bool FileFlash::consume_operation_locked() {
  ++operations_;
  if (!cut_armed_) return false;
  if (operations_before_cut_ > 0) {
    --operations_before_cut_;
    return false;
  }
  cut_armed_ = false;
  return true;
}

void FileFlash::after_torn_operation_locked() {
  power_lost_ = true;
  if (cut_mode_ == PowerCutMode::kExit) {
    SPINDLE_LOG_WRN("flash", "power cut at operation %llu",
                    static_cast<unsigned long long>(operations_));
    ::_exit(kPowerCutExitCode);
  }
}

Status FileFlash::program_locked(std::uint32_t offset, std::span<const std::uint8_t> data) {
  std::uint8_t cells[kChunk];
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t step = std::min(data.size() - done, kChunk);
    const std::uint64_t at = std::uint64_t{offset} + done;
    SPINDLE_TRY(pread_all(fd_, cells, step, at));
    for (std::size_t i = 0; i < step; ++i)
      cells[i] &= data[done + i];  // NOR: 1 -> 0 only
    SPINDLE_TRY(pwrite_all(fd_, cells, step, at));
    done += step;
  }
  return kOk;
}

Status FileFlash::read(std::uint32_t offset, std::span<std::uint8_t> out) {
  const LockGuard lock(mutex_);
  SPINDLE_TRY(check_ready_locked());
  if (!in_range(offset, out.size(), size_)) return Error::kInvalidValue;
  return pread_all(fd_, out.data(), out.size(), offset);
}

Status FileFlash::write(std::uint32_t offset, std::span<const std::uint8_t> data) {
  const LockGuard lock(mutex_);
  SPINDLE_TRY(check_ready_locked());
  if (offset % write_block_size_ != 0 || data.size() % write_block_size_ != 0 ||
      !in_range(offset, data.size(), size_)) {
    return Error::kInvalidValue;
  }
  if (data.empty()) return kOk;
  if (consume_operation_locked()) {
    const std::size_t half = data.size() / 2 / write_block_size_ * write_block_size_;
    const Status torn = program_locked(offset, data.first(half));
    after_torn_operation_locked();
    return torn.ok() ? Status(Error::kPowerLoss) : torn;
  }
  return program_locked(offset, data);
}

Status FileFlash::erase(std::uint32_t offset, std::uint32_t size) {
  const LockGuard lock(mutex_);
  SPINDLE_TRY(check_ready_locked());
  if (offset % sector_size_ != 0 || size % sector_size_ != 0 || !in_range(offset, size, size_)) {
    return Error::kInvalidValue;
  }
  if (size == 0) return kOk;
  if (consume_operation_locked()) {
    const Status torn = write_erased(fd_, offset, size / 2);
    after_torn_operation_locked();
    return torn.ok() ? Status(Error::kPowerLoss) : torn;
  }
  return write_erased(fd_, offset, size);
}

}  // namespace spindle::os::posix
