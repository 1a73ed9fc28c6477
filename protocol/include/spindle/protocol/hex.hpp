// Hex text for keys and digests in files and on the command line (provisioning files,
// PSKs, key pairs): the one decoder and encoder the tools and the node share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::hex {

// Decodes hex digits (either case) into `out`, ignoring ASCII whitespace anywhere.
// Returns the number of bytes. Errors: kMalformed (a character that is neither hex nor
// whitespace, or an odd number of digits), kBufferTooSmall.
Result<std::size_t> decode(std::string_view text, std::span<std::uint8_t> out);

// Writes 2 * bytes.size() lowercase digits. Errors: kBufferTooSmall.
Result<std::size_t> encode(std::span<const std::uint8_t> bytes, std::span<char> out);

}  // namespace spindle::hex
