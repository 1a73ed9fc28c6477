// Capacities shared by every Spindle message. Decoders refuse anything larger with
// kOversize; they are constexpr so that node builds size their buffers from them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle {

inline constexpr std::size_t kMaxIdSize = 32;           // device ids, model ids
inline constexpr std::size_t kMaxBoardNameSize = 32;    // board names ("nrf52840dk")
inline constexpr std::size_t kMaxVersionTextSize = 32;  // firmware version strings
inline constexpr std::size_t kMaxFeatures = 64;         // model input features
inline constexpr std::size_t kMaxSelfTests = 4;         // self-test vectors per manifest
inline constexpr std::size_t kMaxSelfTestBytes = 256;   // bytes per self-test tensor
inline constexpr std::size_t kDigestSize = 32;          // SHA-256
inline constexpr std::size_t kModelSlots = 2;
// The largest signed manifest (COSE_Sign1 bytes) a node accepts: it keeps the manifest in
// its slot header (docs/delivery.md), so spindlectl refuses to sign a larger one.
inline constexpr std::size_t kMaxSignedManifestSize = 3072;

// Ids (device and model) are 1..kMaxIdSize characters of [A-Za-z0-9._-], so they are safe
// in CoAP URI paths, file names and log lines without escaping.
// Errors: kInvalidValue for an empty id or a character outside the set, kOversize.
Status check_id(std::string_view id);

}  // namespace spindle
