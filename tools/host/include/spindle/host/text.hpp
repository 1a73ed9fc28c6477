// Text helpers of the gateway and the host tools: hex for keys, digests and tokens in files
// and JSON (spindle::hex underneath, the decoder the node uses too), and trimming.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/status.hpp"

namespace spindle::host {

using ByteVector = std::vector<std::uint8_t>;

// Lower-case hex digits of `bytes`.
std::string to_hex(std::span<const std::uint8_t> bytes);

// The bytes of hex text (either case; ASCII whitespace anywhere is ignored).
// Errors: kMalformed (not hex, or an odd number of digits).
Result<ByteVector> parse_hex(std::string_view text);

// `text` without leading and trailing ASCII whitespace (space, tab, CR, LF).
std::string_view trim(std::string_view text);

}  // namespace spindle::host
