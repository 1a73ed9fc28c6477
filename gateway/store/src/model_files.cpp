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

#include "spindle/host/files.hpp"
#include "spindle/host/text.hpp"

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

}  // namespace

bool is_digest_text(std::string_view text) {
  if (text.size() != kDigestHexSize) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string digest_text(const crypto::Digest& digest) {
  return host::to_hex(digest);
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
  std::string problem;
  if (!host::write_file(target.string(), bytes, host::Visibility::kSecret, host::Existing::kReplace,
                        &problem)
           .ok()) {
    spdlog::error("store: {}", problem);
    return Error::kIoError;
  }
  return kOk;
}

Result<Bytes> read_file(const fs::path& path) {
  std::string problem;
  auto bytes = host::read_file(path.string(), &problem);
  if (bytes.status() == Status(Error::kNotFound)) return Error::kNotFound;
  if (!bytes.ok()) {
    spdlog::error("store: {}", problem);
    return Error::kIoError;
  }
  return std::move(bytes).value();
}

}  // namespace spindle::gateway::sqlite
