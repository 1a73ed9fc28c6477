// Model payload files, beside the database and content-addressed by their SHA-256: the
// digest's text form, the private directories they live in, and the crash-safe write.
// Private to gateway/store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "spindle/gateway/store.hpp"
#include "spindle/protocol/crypto.hpp"

namespace spindle::gateway::sqlite {

// Whether `text` is a digest as digest_text writes it: 64 lower-case hex digits.
bool is_digest_text(std::string_view text);
// The lower-case hex of a SHA-256 digest.
std::string digest_text(const crypto::Digest& digest);

// Creates one directory level with owner-only access (parents as needed); an existing
// directory is left as is. Errors: kIoError (logged).
Status make_private_directory(const std::filesystem::path& dir);

// Writes `bytes` to `target` (mode 0600) so that after a crash the name holds either nothing
// or all of them (host::write_file: a temporary no other writer uses, synced, renamed, the
// folder synced). Errors: kIoError (logged).
Status write_file_atomically(const std::filesystem::path& target,
                             std::span<const std::uint8_t> bytes);

// Reads a whole file. Errors: kNotFound when it does not exist, kIoError (logged).
Result<Bytes> read_file(const std::filesystem::path& path);

}  // namespace spindle::gateway::sqlite
