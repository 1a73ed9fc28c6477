// The node provisioning record (docs/protocol/provisioning.md): a device's identity, its
// gateway, its secrets and the signing keys it trusts, as `key=value` text lines.
// `spindlectl provision` formats it and `spindle-node --provision` parses it; a real board
// reads the same text from its settings partition, so everything here is fixed-capacity.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::provisioning {

inline constexpr std::size_t kMaxGatewayUriSize = 128;  // coap[s]://host:port
inline constexpr std::size_t kMaxPskSize = 64;          // the node's DTLS stack holds 64
inline constexpr std::size_t kModelKekSize = 16;        // AES-128 key-wrap key
inline constexpr std::size_t kAttestationKeySize = 32;  // HMAC-SHA256 key
inline constexpr std::size_t kMaxTrustKeys = 4;         // room for a key rotation and spares
// A kid is a key id as spindlectl keygen names it (check_id), within the COSE limit.
inline constexpr std::size_t kMaxKidSize =
    kMaxIdSize < cose::kMaxKidSize ? kMaxIdSize : cose::kMaxKidSize;
// Any line, comments included, without its line end.
inline constexpr std::size_t kMaxLineSize = 256;

// The comment format() writes first.
inline constexpr std::string_view kHeaderComment =
    "# Spindle node provisioning (spindlectl provision): secret, keep it 0600";

struct TrustKey {
  std::array<char, kMaxKidSize> kid_storage{};
  std::size_t kid_size = 0;
  crypto::EcPublicKey public_key{};

  std::string_view kid() const { return {kid_storage.data(), kid_size}; }
};

// A provisioning record. Fill it through the setters, which check what parse() checks, so
// that a record format() accepts is one parse() accepts.
class Provisioning {
 public:
  std::string_view device_id() const { return {device_id_.data(), device_id_size_}; }
  // Empty when the record names no gateway (the node then uses its default).
  std::string_view gateway() const { return {gateway_.data(), gateway_size_}; }
  std::span<const std::uint8_t> psk() const { return {psk_.data(), psk_size_}; }
  // Empty when the record has no model key (the node then refuses every manifest).
  std::span<const std::uint8_t> model_kek() const {
    return {model_kek_.data(), has_model_kek_ ? kModelKekSize : 0};
  }
  // Empty until set; parse() requires it.
  std::span<const std::uint8_t> attestation_key() const {
    return {attestation_key_.data(), has_attestation_key_ ? kAttestationKeySize : 0};
  }
  std::span<const TrustKey> trust_keys() const { return {trust_keys_.data(), trust_key_count_}; }

  // Errors: kInvalidValue, kOversize (see check_id).
  Status set_device_id(std::string_view id);
  // A coap:// or coaps:// URI of printable ASCII without spaces.
  // Errors: kInvalidValue (another scheme, nothing after it, a space or control character),
  // kOversize (longer than kMaxGatewayUriSize).
  Status set_gateway(std::string_view uri);
  // Errors: kInvalidValue (empty), kOversize (longer than kMaxPskSize).
  Status set_psk(std::span<const std::uint8_t> psk);
  // Errors: kInvalidValue (not kModelKekSize bytes).
  Status set_model_kek(std::span<const std::uint8_t> key);
  // Errors: kInvalidValue (not kAttestationKeySize bytes).
  Status set_attestation_key(std::span<const std::uint8_t> key);
  // Errors: kInvalidValue (kid not an id, see check_id), kOversize (kid longer than
  // kMaxKidSize), kDuplicateKey (a key with this kid is there already), kFull (kMaxTrustKeys
  // keys already).
  Status add_trust_key(std::string_view kid, const crypto::EcPublicKey& public_key);

 private:
  std::array<char, kMaxIdSize> device_id_{};
  std::size_t device_id_size_ = 0;
  std::array<char, kMaxGatewayUriSize> gateway_{};
  std::size_t gateway_size_ = 0;
  std::array<std::uint8_t, kMaxPskSize> psk_{};
  std::size_t psk_size_ = 0;
  std::array<std::uint8_t, kModelKekSize> model_kek_{};
  bool has_model_kek_ = false;
  std::array<std::uint8_t, kAttestationKeySize> attestation_key_{};
  bool has_attestation_key_ = false;
  std::array<TrustKey, kMaxTrustKeys> trust_keys_{};
  std::size_t trust_key_count_ = 0;
};

// What is wrong with a provisioning text; describe() words it for an operator.
enum class Reason : std::uint8_t {
  kNone,
  kLineTooLong,        // a line (comments too) longer than kMaxLineSize
  kNotKeyValue,        // a line that is neither blank, a comment nor key=value
  kUnknownKey,         // `key` is not a provisioning key
  kDuplicateKey,       // a single-valued `key` given a second time
  kBadDeviceId,        // device_id is not an id (check_id)
  kBadGateway,         // gateway is not a coap:// or coaps:// URI (see set_gateway)
  kBadPsk,             // psk is not 1..kMaxPskSize bytes of hex
  kBadModelKek,        // model_kek is not kModelKekSize bytes of hex
  kBadAttestationKey,  // attestation_key is not kAttestationKeySize bytes of hex
  kBadTrustKey,        // trust_key is not <kid>:<65 bytes of hex>
  kDuplicateTrustKid,  // a second trust_key with kid `key`
  kTooManyTrustKeys,   // more than kMaxTrustKeys trust_key lines
  kMissingKey,         // required `key` absent (line is 0)
};

struct ParseError {
  std::size_t line = 0;  // 1-based; 0 when the problem is not on one line (kMissingKey)
  Reason reason = Reason::kNone;
  // The key (kUnknownKey, kDuplicateKey, kMissingKey) or kid (kDuplicateTrustKid) involved;
  // a view into the parsed text or a static string.
  std::string_view key;
};

// Parses provisioning text: `key=value` lines ending in LF or CRLF, `#` comment lines and
// blank lines; trailing spaces, tabs and CRs of a line are ignored, nothing else is. Keys:
// device_id, psk, attestation_key (required, once), gateway and model_kek (optional, once),
// trust_key=<kid>:<hex> (0..kMaxTrustKeys, distinct kids). Hex is exactly two digits per
// byte, either case. Errors: kOversize (kLineTooLong, kTooManyTrustKeys), kMalformed
// (kNotKeyValue), kUnknownCriticalField (kUnknownKey), kDuplicateKey (kDuplicateKey,
// kDuplicateTrustKid), kInvalidValue (a bad value), kMissingField (kMissingKey). `error`
// (optional) says where and why.
Result<Provisioning> parse(std::string_view text, ParseError* error = nullptr);

// The largest text format() writes; a buffer of this size always suffices.
inline constexpr std::size_t kMaxFormattedSize =
    kHeaderComment.size() + 1 + (sizeof("device_id=") + kMaxIdSize) +
    (sizeof("gateway=") + kMaxGatewayUriSize) + (sizeof("psk=") + 2 * kMaxPskSize) +
    (sizeof("model_kek=") + 2 * kModelKekSize) +
    (sizeof("attestation_key=") + 2 * kAttestationKeySize) +
    kMaxTrustKeys * (sizeof("trust_key=:") + kMaxKidSize + 2 * crypto::kEcPublicKeySize);

// Writes the record as parse() reads it: the header comment, then device_id, gateway (when
// set), psk, model_kek (when set), attestation_key, one trust_key line per key, each line
// ending in LF, hex in lowercase. Returns the number of characters written.
// Errors: kMissingField (no device id, PSK or attestation key), kBufferTooSmall.
Result<std::size_t> format(const Provisioning& record, std::span<char> out);

// Writes "line N: <what is wrong>" (or just what is wrong when the line is 0) into `out`,
// cut short if `out` is too small, and returns the characters written: for example
// "line 3: model_kek is not 16 hex bytes" or "unknown key 'pks'".
std::size_t describe(const ParseError& error, std::span<char> out);

}  // namespace spindle::provisioning
