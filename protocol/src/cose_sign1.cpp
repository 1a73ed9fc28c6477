#include "spindle/protocol/cose_sign1.hpp"

#include <algorithm>
#include <string_view>

#include "spindle/protocol/cbor_reader.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::cose {
namespace {

constexpr std::int64_t kHeaderAlg = 1;
constexpr std::int64_t kHeaderCrit = 2;
constexpr std::int64_t kHeaderKid = 4;
constexpr std::size_t kMaxHeaderEntries = 8;

// Feeds one CBOR head (and nothing else) to the hash.
template <typename Encode>
void hash_head(crypto::Sha256& sha, Encode&& encode) {
  std::uint8_t head[9];
  cbor::Writer writer(head);
  encode(writer);
  sha.update({head, writer.size()});
}

Result<std::span<const std::uint8_t>> encode_protected(std::span<const std::uint8_t> kid,
                                                       std::span<std::uint8_t> out) {
  cbor::Writer writer(out);
  writer.map(2).integer(kHeaderAlg).integer(crypto::kCoseAlgEs256).integer(kHeaderKid).bytes(kid);
  return writer.finish();
}

Status decode_protected(std::span<const std::uint8_t> encoded, Sign1* out) {
  cbor::Reader reader(encoded);
  cbor::KeySet seen;
  SPINDLE_TRY(cbor::read_int_map(reader, kMaxHeaderEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kHeaderAlg: {
        SPINDLE_TRY_ASSIGN(out->alg, reader.read_int());
        return kOk;
      }
      case kHeaderCrit:
        return Error::kUnknownCriticalField;
      case kHeaderKid: {
        SPINDLE_TRY_ASSIGN(out->kid, reader.read_bytes(kMaxKidSize));
        return kOk;
      }
      default:
        // RFC 9052: header parameters not listed in `crit` may be ignored.
        return reader.skip();
    }
  }));
  SPINDLE_TRY(reader.finish());
  if (!seen.has(kHeaderAlg) || !seen.has(kHeaderKid)) return Error::kMissingField;
  return kOk;
}

}  // namespace

crypto::Digest sig_structure_digest(std::span<const std::uint8_t> protected_header,
                                    std::span<const std::uint8_t> external_aad,
                                    std::span<const std::uint8_t> payload) {
  static constexpr std::string_view kContext = "Signature1";
  crypto::Sha256 sha;
  hash_head(sha, [](cbor::Writer& w) { w.array(4); });
  std::uint8_t context[1 + kContext.size()];
  cbor::Writer context_writer(context);
  context_writer.text(kContext);
  sha.update({context, context_writer.size()});
  hash_head(sha, [&](cbor::Writer& w) { w.bytes_head(protected_header.size()); });
  sha.update(protected_header);
  hash_head(sha, [&](cbor::Writer& w) { w.bytes_head(external_aad.size()); });
  sha.update(external_aad);
  hash_head(sha, [&](cbor::Writer& w) { w.bytes_head(payload.size()); });
  sha.update(payload);
  return sha.finish();
}

Result<std::span<const std::uint8_t>> sign(const crypto::EcPrivateKey& key,
                                           std::span<const std::uint8_t> kid,
                                           std::span<const std::uint8_t> payload,
                                           std::span<std::uint8_t> out,
                                           std::span<const std::uint8_t> external_aad) {
  if (kid.size() > kMaxKidSize) return Error::kOversize;
  std::uint8_t protected_buffer[kMaxProtectedSize];
  SPINDLE_TRY_ASSIGN(const auto protected_header, encode_protected(kid, protected_buffer));
  crypto::EcSignature signature{};
  SPINDLE_TRY(crypto::ecdsa_sign(key, sig_structure_digest(protected_header, external_aad, payload),
                                 &signature));
  cbor::Writer writer(out);
  writer.tag(kTagSign1).array(4).bytes(protected_header).map(0).bytes(payload).bytes(signature);
  return writer.finish();
}

Result<Sign1> decode(std::span<const std::uint8_t> message) {
  cbor::Reader reader(message);
  SPINDLE_TRY_ASSIGN(const std::uint64_t tag, reader.read_tag());
  if (tag != kTagSign1) return Error::kInvalidValue;
  SPINDLE_TRY_ASSIGN(const std::size_t count, reader.read_array(4));
  if (count != 4) return Error::kMalformed;
  Sign1 sign1;
  SPINDLE_TRY_ASSIGN(sign1.protected_header, reader.read_bytes(kMaxProtectedSize));
  SPINDLE_TRY(decode_protected(sign1.protected_header, &sign1));
  // The unprotected bucket carries nothing Spindle relies on; its contents are skipped,
  // but it must still be a well-formed map without duplicate labels.
  cbor::KeySet unprotected_seen;
  SPINDLE_TRY(cbor::read_int_map(reader, kMaxHeaderEntries, unprotected_seen,
                                 [&](std::int64_t) { return reader.skip(); }));
  SPINDLE_TRY_ASSIGN(sign1.payload, reader.read_bytes(message.size()));
  SPINDLE_TRY_ASSIGN(sign1.signature, reader.read_bytes(crypto::kEcSignatureSize * 2));
  SPINDLE_TRY(reader.finish());
  return sign1;
}

Result<Sign1> verify(std::span<const std::uint8_t> message,
                     std::span<const TrustedKey> trusted_keys,
                     std::span<const std::uint8_t> external_aad) {
  SPINDLE_TRY_ASSIGN(const Sign1 sign1, decode(message));
  if (sign1.alg != crypto::kCoseAlgEs256) return Error::kUnsupportedAlgorithm;
  const auto key = std::find_if(trusted_keys.begin(), trusted_keys.end(), [&](const TrustedKey& k) {
    return std::equal(k.kid.begin(), k.kid.end(), sign1.kid.begin(), sign1.kid.end());
  });
  if (key == trusted_keys.end()) return Error::kUnknownKey;
  if (sign1.signature.size() != crypto::kEcSignatureSize) return Error::kInvalidValue;
  crypto::EcSignature signature{};
  std::copy(sign1.signature.begin(), sign1.signature.end(), signature.begin());
  SPINDLE_TRY(crypto::ecdsa_verify(
      key->public_key, sig_structure_digest(sign1.protected_header, external_aad, sign1.payload),
      signature));
  return sign1;
}

}  // namespace spindle::cose
