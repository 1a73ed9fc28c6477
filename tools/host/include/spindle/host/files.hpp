// Files of the gateway and the host tools: keys, tokens, the site master secret, model
// payloads, packages. A file is written through a temporary in the same folder that is
// synced and renamed into place, then the folder is synced: a reader never sees half a
// file, a power cut leaves the old file or the new one, and a secret (mode 0600) is never
// readable by others, not even for a moment.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/status.hpp"

namespace spindle::host {

using ByteVector = std::vector<std::uint8_t>;

enum class Visibility : std::uint8_t {
  kPublic,  // mode 0644, less the umask
  kSecret,  // mode 0600: keys, tokens, provisioning files
};

enum class Existing : std::uint8_t {
  kReplace,  // an existing file is replaced (atomically)
  kKeep,     // an existing file is kept and the write fails with kAlreadyExists
};

// Writes `bytes` to `path` (see above). On failure `error` (when given) names the file and
// the reason. Errors: kAlreadyExists (Existing::kKeep and the file exists), kIoError.
Status write_file(const std::string& path, std::span<const std::uint8_t> bytes,
                  Visibility visibility = Visibility::kPublic,
                  Existing existing = Existing::kReplace, std::string* error = nullptr);

// As write_file, for text.
Status write_text_file(const std::string& path, std::string_view text,
                       Visibility visibility = Visibility::kPublic,
                       Existing existing = Existing::kReplace, std::string* error = nullptr);

// The whole file. On failure `error` (when given) names the file and the reason.
// Errors: kNotFound (no such file), kIoError.
Result<ByteVector> read_file(const std::string& path, std::string* error = nullptr);

// The file's text without leading and trailing whitespace (a token, a key in hex).
// Errors: as read_file.
Result<std::string> read_trimmed_text(const std::string& path, std::string* error = nullptr);

}  // namespace spindle::host
