// COSE_Sign1 (RFC 9052 section 4.2) with ES256, the envelope of every Spindle manifest.
//
//   COSE_Sign1 = #6.18([ protected: bstr .cbor {1: -7, 4: kid}, unprotected: {},
//                        payload: bstr, signature: bstr .size 64 ])
//
// The signature covers the Sig_structure of RFC 9052 section 4.4,
// ["Signature1", protected, external_aad, payload], which is hashed as it is encoded so
// no buffer the size of the payload is needed twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/crypto.hpp"
#include "spindle/status.hpp"

namespace spindle::cose {

inline constexpr std::uint64_t kTagSign1 = 18;
inline constexpr std::size_t kMaxKidSize = 32;
inline constexpr std::size_t kMaxProtectedSize = 64;
// Tag, array, protected header, unprotected map, payload head, signature.
inline constexpr std::size_t kSign1Overhead = 1 + 1 + 2 + kMaxProtectedSize + 1 + 9 + 2 + 64;

// A verification key the receiver trusts, named by its key id.
struct TrustedKey {
  std::span<const std::uint8_t> kid;
  crypto::EcPublicKey public_key{};
};

// The parts of a decoded (not yet verified) COSE_Sign1, as views into the message.
struct Sign1 {
  std::span<const std::uint8_t> protected_header;  // the encoded map, as signed
  std::span<const std::uint8_t> kid;
  std::int64_t alg = 0;
  std::span<const std::uint8_t> payload;
  std::span<const std::uint8_t> signature;
};

// SHA-256 over the Sig_structure ["Signature1", protected, external_aad, payload].
crypto::Digest sig_structure_digest(std::span<const std::uint8_t> protected_header,
                                    std::span<const std::uint8_t> external_aad,
                                    std::span<const std::uint8_t> payload);

// Signs `payload` with ES256 under `kid` and encodes the tagged COSE_Sign1 into `out`.
// `external_aad` (RFC 9052 section 4.3) is signed but not sent: it binds the signature to
// a context, so that a message signed for one purpose (a package, "spindle-package-v1")
// never verifies for another (a manifest, empty external AAD).
// Errors: kOversize (kid longer than kMaxKidSize), kBufferTooSmall, kBadKey.
Result<std::span<const std::uint8_t>> sign(const crypto::EcPrivateKey& key,
                                           std::span<const std::uint8_t> kid,
                                           std::span<const std::uint8_t> payload,
                                           std::span<std::uint8_t> out,
                                           std::span<const std::uint8_t> external_aad = {});

// Decodes the structure without checking the signature. Errors: the CBOR reader's
// (kTruncated, kMalformed, kIndefiniteLength, kWrongType, kTrailingBytes, ...),
// kInvalidValue (a tag other than 18), kMissingField (no alg or kid in the protected
// header), kUnknownCriticalField (a `crit` header: Spindle understands no extensions),
// kOversize (kid or protected header too long).
Result<Sign1> decode(std::span<const std::uint8_t> message);

// Decodes and verifies against the trusted keys, with the `external_aad` the signer used;
// on success the payload is authentic.
// Errors: decode()'s, kUnsupportedAlgorithm (alg other than ES256), kUnknownKey (kid not
// trusted), kInvalidValue (signature not 64 bytes), kBadSignature (also when the external
// AAD differs from the signer's).
Result<Sign1> verify(std::span<const std::uint8_t> message,
                     std::span<const TrustedKey> trusted_keys,
                     std::span<const std::uint8_t> external_aad = {});

}  // namespace spindle::cose
