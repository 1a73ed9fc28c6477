// Cryptographic building blocks on mbedTLS: streaming SHA-256, HMAC-SHA256, HKDF-SHA256,
// AES Key Wrap (RFC 3394), AES-CCM payload encryption and ECDSA P-256 (ES256).
//
// mbedTLS error codes become Spindle Status codes in crypto.cpp only. Keys and outputs
// live in caller-owned fixed-size arrays. mbedTLS's bignum code allocates internally
// (ECDSA only); on a microcontroller build that is served from a static pool
// (see docs/architecture.md), the rest of this module never touches the heap.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::crypto {

using Bytes = std::span<const std::uint8_t>;
using MutableBytes = std::span<std::uint8_t>;

inline constexpr std::size_t kSha256Size = 32;
using Digest = std::array<std::uint8_t, kSha256Size>;

// Streaming SHA-256; copyable, so a transfer can fork a running digest. The mbedTLS
// context lives in opaque storage (no mbedTLS type in this header; crypto.cpp checks that
// it fits).
class Sha256 {
 public:
  static constexpr std::size_t kContextStorage = 128;  // bytes; checked in crypto.cpp

  Sha256();
  Sha256(const Sha256& other);
  Sha256& operator=(const Sha256& other);
  ~Sha256();

  void update(Bytes data);
  Digest finish();  // the digest; the object then starts over
  void reset();

  static Digest of(Bytes data);

 private:
  alignas(8) unsigned char context_[kContextStorage];
};

// HMAC-SHA256 (RFC 2104).
Digest hmac_sha256(Bytes key, Bytes message);

// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` into `out`
// (at most 255 * 32 bytes, else kInvalidValue).
Status hkdf_sha256(Bytes salt, Bytes ikm, Bytes info, MutableBytes out);

// Constant-time comparison of two equal-length byte strings (false when lengths differ).
bool equal_constant_time(Bytes a, Bytes b);

// ---- AES Key Wrap, RFC 3394, with the default initial value A6A6A6A6A6A6A6A6 ----
inline constexpr std::size_t kKeyWrapOverhead = 8;
// Wraps `key` (a multiple of 8 bytes, at least 16) with `kek` (16, 24 or 32 bytes) into
// `out` (key.size() + 8 bytes). Errors: kInvalidValue, kBufferTooSmall, kBadKey.
Status aes_key_wrap(Bytes kek, Bytes key, MutableBytes out);
// Unwraps `wrapped` into `out` (wrapped.size() - 8 bytes). kAuthFailed when the
// integrity check fails (wrong KEK or altered input).
Status aes_key_unwrap(Bytes kek, Bytes wrapped, MutableBytes out);

// ---- AES-CCM content encryption: COSE algorithm 33, AES-CCM-64-128-128 ----
// (128-bit key, 64-bit length field so payloads may exceed 64 KiB, 7-byte nonce,
// 128-bit tag appended to the ciphertext.)
inline constexpr std::int64_t kCoseAlgAesCcm64_128_128 = 33;
inline constexpr std::size_t kContentKeySize = 16;
inline constexpr std::size_t kCcmNonceSize = 7;
inline constexpr std::size_t kCcmTagSize = 16;
using ContentKey = std::array<std::uint8_t, kContentKeySize>;
using CcmNonce = std::array<std::uint8_t, kCcmNonceSize>;

// The raw primitive under seal_model_payload / open_model_payload below. A model payload
// is never encrypted or decrypted with these directly, so that its associated data is
// chosen in one place.
// `out` receives ciphertext || tag (plaintext.size() + 16 bytes).
// Errors: kBufferTooSmall, kCryptoFailure.
Status aes_ccm_encrypt(const ContentKey& key, const CcmNonce& nonce, Bytes aad, Bytes plaintext,
                       MutableBytes out);
// `out` receives the plaintext (ciphertext.size() - 16 bytes) and may be the ciphertext
// itself. Errors: kTruncated (shorter than a tag), kBufferTooSmall, kAuthFailed on a bad
// tag, in which case `out` is zeroed.
Status aes_ccm_decrypt(const ContentKey& key, const CcmNonce& nonce, Bytes aad,
                       Bytes ciphertext_and_tag, MutableBytes out);

// ---- The model payload: the one content-protection rule ----
// A model payload is the container encrypted with AES-CCM-64-128-128 under the package's
// content key and nonce, with the model id's UTF-8 bytes (no terminator) as the
// associated data, followed by the 16-byte tag. The signed manifest already ties a
// manifest to its ciphertext by digest; the associated data makes the tag vouch for the
// model id too, so a payload listed under another model's manifest (same key, nonce and
// ciphertext, another id) does not open. spindlectl pack, spindle-proto and the node's
// installer all go through these two.
//
// Seals `plaintext` into `out` (plaintext.size() + 16 bytes).
// Errors: kInvalidValue (empty model id: a manifest always names one, so such a payload
// could never be opened), kBufferTooSmall, kCryptoFailure.
Status seal_model_payload(const ContentKey& key, const CcmNonce& nonce, std::string_view model_id,
                          Bytes plaintext, MutableBytes out);
// Opens `sealed` (ciphertext || tag) into `out` (sealed.size() - 16 bytes; `out` may be
// `sealed`, as the installer decrypts in place). Errors: kInvalidValue (empty model id),
// kTruncated (shorter than a tag), kBufferTooSmall, kAuthFailed (the tag does not verify:
// another key, nonce or model id, or altered bytes), in which case `out` is zeroed.
Status open_model_payload(const ContentKey& key, const CcmNonce& nonce, std::string_view model_id,
                          Bytes sealed, MutableBytes out);

// ---- ECDSA P-256 with SHA-256 (COSE ES256, alg -7) ----
inline constexpr std::int64_t kCoseAlgEs256 = -7;
inline constexpr std::size_t kEcPrivateKeySize = 32;
inline constexpr std::size_t kEcPublicKeySize = 65;  // SEC1 uncompressed: 04 || X || Y
inline constexpr std::size_t kEcSignatureSize = 64;  // r || s, as COSE carries it
using EcPrivateKey = std::array<std::uint8_t, kEcPrivateKeySize>;
using EcPublicKey = std::array<std::uint8_t, kEcPublicKeySize>;
using EcSignature = std::array<std::uint8_t, kEcSignatureSize>;

// A source of random bytes with mbedTLS's f_rng signature (returns 0 on success).
struct RandomSource {
  int (*fill)(void* context, unsigned char* out, std::size_t length) = nullptr;
  void* context = nullptr;
};

// Generates a key pair. Errors: kCryptoFailure (the random source failed).
Status ec_generate(RandomSource random, EcPrivateKey* private_key, EcPublicKey* public_key);
// Derives the public key of a private key. kBadKey when the scalar is out of range.
Status ec_public_from_private(const EcPrivateKey& private_key, EcPublicKey* public_key);
// Deterministic ECDSA (RFC 6979) over a SHA-256 digest: same key and digest, same
// signature, and no random source needed on the signing side.
Status ecdsa_sign(const EcPrivateKey& private_key, const Digest& digest, EcSignature* signature);
// kBadSignature when the signature does not verify, kBadKey when the key is not a
// valid point on P-256.
Status ecdsa_verify(const EcPublicKey& public_key, const Digest& digest,
                    const EcSignature& signature);

// ---- Per-device keys ----
// Every device key is HKDF-SHA256 over a site master secret, salted with the purpose and
// bound to the device id, so that one device's keys say nothing about another's.
enum class KeyPurpose : std::uint8_t {
  kModelKek,     // wraps model content keys (AES-KW), 16 bytes
  kDtlsPsk,      // the DTLS-PSK secret, 16 bytes
  kAttestation,  // HMAC key for attestation answers, 32 bytes
};
std::string_view key_purpose_label(KeyPurpose purpose);
// Errors: kInvalidValue (empty device id or out too long), from hkdf_sha256.
Status derive_device_key(Bytes master_secret, std::string_view device_id, KeyPurpose purpose,
                         MutableBytes out);

inline Bytes as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace spindle::crypto
