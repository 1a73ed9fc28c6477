// The mbedTLS adapter: the one place where mbedTLS return codes become Spindle Status codes.
#include "spindle/protocol/crypto.hpp"

#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ccm.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/hmac_drbg.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <array>

#include <cstring>
#include <new>

namespace spindle::crypto {
namespace {

Status from_mbedtls(int rc) {
  switch (rc) {
    case 0:
      return kOk;
    case MBEDTLS_ERR_CCM_AUTH_FAILED:
      return Error::kAuthFailed;
    case MBEDTLS_ERR_ECP_VERIFY_FAILED:
      return Error::kBadSignature;
    case MBEDTLS_ERR_ECP_INVALID_KEY:
    case MBEDTLS_ERR_AES_INVALID_KEY_LENGTH:
      return Error::kBadKey;
    case MBEDTLS_ERR_CCM_BAD_INPUT:
    case MBEDTLS_ERR_HKDF_BAD_INPUT_DATA:
      return Error::kInvalidValue;
    default:
      return Error::kCryptoFailure;
  }
}

const mbedtls_md_info_t* sha256_info() {
  return mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
}

// RAII for an mbedTLS context with init/free functions.
template <typename T, void (*Init)(T*), void (*Free)(T*)>
struct Scoped {
  T v;
  Scoped() { Init(&v); }
  ~Scoped() { Free(&v); }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;
};
using Mpi = Scoped<mbedtls_mpi, mbedtls_mpi_init, mbedtls_mpi_free>;
using Point = Scoped<mbedtls_ecp_point, mbedtls_ecp_point_init, mbedtls_ecp_point_free>;
using Aes = Scoped<mbedtls_aes_context, mbedtls_aes_init, mbedtls_aes_free>;
using Ccm = Scoped<mbedtls_ccm_context, mbedtls_ccm_init, mbedtls_ccm_free>;

struct Group {
  mbedtls_ecp_group group;
  Group() {
    mbedtls_ecp_group_init(&group);
    loaded = mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP256R1) == 0;
  }
  ~Group() { mbedtls_ecp_group_free(&group); }
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  bool loaded = false;
};
// A deterministic DRBG used only for side-channel blinding inside mbedTLS, seeded from
// the secret and the message, so signing needs no outside randomness (as RFC 6979 intends).
struct BlindingDrbg {
  mbedtls_hmac_drbg_context v;
  BlindingDrbg(Bytes a, Bytes b) {
    mbedtls_hmac_drbg_init(&v);
    std::uint8_t seed[kEcPrivateKeySize + kSha256Size] = {};
    const std::size_t a_len = a.size() < kEcPrivateKeySize ? a.size() : kEcPrivateKeySize;
    const std::size_t b_len = b.size() < kSha256Size ? b.size() : kSha256Size;
    if (a_len) std::memcpy(seed, a.data(), a_len);
    if (b_len) std::memcpy(seed + a_len, b.data(), b_len);
    ok = mbedtls_hmac_drbg_seed_buf(&v, sha256_info(), seed, a_len + b_len) == 0;
    mbedtls_platform_zeroize(seed, sizeof seed);
  }
  ~BlindingDrbg() { mbedtls_hmac_drbg_free(&v); }
  BlindingDrbg(const BlindingDrbg&) = delete;
  BlindingDrbg& operator=(const BlindingDrbg&) = delete;
  bool ok = false;
};

Status load_private(const Group& g, const EcPrivateKey& key, Mpi& d) {
  SPINDLE_TRY(from_mbedtls(mbedtls_mpi_read_binary(&d.v, key.data(), key.size())));
  if (mbedtls_ecp_check_privkey(&g.group, &d.v) != 0) return Error::kBadKey;
  return kOk;
}

Status write_public(const Group& g, const Point& q, EcPublicKey* out) {
  std::size_t length = 0;
  SPINDLE_TRY(from_mbedtls(mbedtls_ecp_point_write_binary(
      &g.group, &q.v, MBEDTLS_ECP_PF_UNCOMPRESSED, &length, out->data(), out->size())));
  return length == kEcPublicKeySize ? kOk : Status(Error::kCryptoFailure);
}

}  // namespace

// ---- SHA-256 ----

namespace {

static_assert(sizeof(mbedtls_sha256_context) <= Sha256::kContextStorage &&
                  alignof(mbedtls_sha256_context) <= 8,
              "Sha256's opaque storage cannot hold this mbedTLS's context");

mbedtls_sha256_context* context_in(unsigned char* storage) {
  return static_cast<mbedtls_sha256_context*>(static_cast<void*>(storage));
}
const mbedtls_sha256_context* context_in(const unsigned char* storage) {
  return static_cast<const mbedtls_sha256_context*>(static_cast<const void*>(storage));
}

}  // namespace

Sha256::Sha256() : context_{} {
  mbedtls_sha256_init(::new (static_cast<void*>(context_)) mbedtls_sha256_context);
  reset();
}
Sha256::Sha256(const Sha256& other) : context_{} {
  mbedtls_sha256_context* context = ::new (static_cast<void*>(context_)) mbedtls_sha256_context;
  mbedtls_sha256_init(context);
  mbedtls_sha256_clone(context, context_in(other.context_));
}
Sha256& Sha256::operator=(const Sha256& other) {
  if (this != &other) mbedtls_sha256_clone(context_in(context_), context_in(other.context_));
  return *this;
}
Sha256::~Sha256() {
  mbedtls_sha256_free(context_in(context_));
}

void Sha256::reset() {
  // Cannot fail for SHA-256 in software; the return value exists for hardware back ends.
  (void)mbedtls_sha256_starts_ret(context_in(context_), 0);
}
void Sha256::update(Bytes data) {
  if (!data.empty()) {
    (void)mbedtls_sha256_update_ret(context_in(context_), data.data(), data.size());
  }
}
Digest Sha256::finish() {
  Digest digest{};
  (void)mbedtls_sha256_finish_ret(context_in(context_), digest.data());
  reset();
  return digest;
}
Digest Sha256::of(Bytes data) {
  Sha256 sha;
  sha.update(data);
  return sha.finish();
}

Digest hmac_sha256(Bytes key, Bytes message) {
  Digest mac{};
  (void)mbedtls_md_hmac(sha256_info(), key.data(), key.size(), message.data(), message.size(),
                        mac.data());
  return mac;
}

Status hkdf_sha256(Bytes salt, Bytes ikm, Bytes info, MutableBytes out) {
  if (out.empty() || out.size() > 255 * kSha256Size) return Error::kInvalidValue;
  return from_mbedtls(mbedtls_hkdf(sha256_info(), salt.data(), salt.size(), ikm.data(), ikm.size(),
                                   info.data(), info.size(), out.data(), out.size()));
}

bool equal_constant_time(Bytes a, Bytes b) {
  if (a.size() != b.size()) return false;
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

// ---- AES Key Wrap (RFC 3394 section 2.2.1 / 2.2.2, index-based form) ----

namespace {
constexpr std::uint8_t kKeyWrapIv[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};

bool valid_kek(Bytes kek) {
  return kek.size() == 16 || kek.size() == 24 || kek.size() == 32;
}

void xor_counter(std::uint8_t a[8], std::uint64_t t) {
  for (int k = 7; k >= 0; --k) {
    a[k] = static_cast<std::uint8_t>(a[k] ^ (t & 0xFF));
    t >>= 8;
  }
}

}  // namespace

Status aes_key_wrap(Bytes kek, Bytes key, MutableBytes out) {
  if (!valid_kek(kek)) return Error::kBadKey;
  if (key.size() < 16 || key.size() % 8 != 0) return Error::kInvalidValue;
  if (out.size() < key.size() + kKeyWrapOverhead) return Error::kBufferTooSmall;
  Aes aes;
  SPINDLE_TRY(from_mbedtls(
      mbedtls_aes_setkey_enc(&aes.v, kek.data(), static_cast<unsigned>(kek.size() * 8))));
  const std::size_t n = key.size() / 8;
  std::uint8_t a[8];
  std::memcpy(a, kKeyWrapIv, 8);
  std::uint8_t* r = out.data() + 8;
  std::memmove(r, key.data(), key.size());
  std::uint8_t block[16];
  for (std::uint64_t j = 0; j <= 5; ++j) {
    for (std::size_t i = 1; i <= n; ++i) {
      std::memcpy(block, a, 8);
      std::memcpy(block + 8, r + (i - 1) * 8, 8);
      SPINDLE_TRY(from_mbedtls(mbedtls_aes_crypt_ecb(&aes.v, MBEDTLS_AES_ENCRYPT, block, block)));
      std::memcpy(a, block, 8);
      xor_counter(a, n * j + i);
      std::memcpy(r + (i - 1) * 8, block + 8, 8);
    }
  }
  std::memcpy(out.data(), a, 8);
  mbedtls_platform_zeroize(block, sizeof block);
  return kOk;
}

Status aes_key_unwrap(Bytes kek, Bytes wrapped, MutableBytes out) {
  if (!valid_kek(kek)) return Error::kBadKey;
  if (wrapped.size() < 24 || wrapped.size() % 8 != 0) return Error::kInvalidValue;
  const std::size_t key_size = wrapped.size() - kKeyWrapOverhead;
  if (out.size() < key_size) return Error::kBufferTooSmall;
  Aes aes;
  SPINDLE_TRY(from_mbedtls(
      mbedtls_aes_setkey_dec(&aes.v, kek.data(), static_cast<unsigned>(kek.size() * 8))));
  const std::size_t n = key_size / 8;
  std::uint8_t a[8];
  std::memcpy(a, wrapped.data(), 8);
  std::uint8_t* r = out.data();
  std::memmove(r, wrapped.data() + 8, key_size);
  std::uint8_t block[16];
  for (std::uint64_t j = 6; j-- > 0;) {
    for (std::size_t i = n; i >= 1; --i) {
      std::memcpy(block, a, 8);
      xor_counter(block, n * j + i);
      std::memcpy(block + 8, r + (i - 1) * 8, 8);
      SPINDLE_TRY(from_mbedtls(mbedtls_aes_crypt_ecb(&aes.v, MBEDTLS_AES_DECRYPT, block, block)));
      std::memcpy(a, block, 8);
      std::memcpy(r + (i - 1) * 8, block + 8, 8);
    }
  }
  mbedtls_platform_zeroize(block, sizeof block);
  if (!equal_constant_time({a, 8}, {kKeyWrapIv, 8})) {
    mbedtls_platform_zeroize(r, key_size);
    return Error::kAuthFailed;
  }
  return kOk;
}

// ---- AES-CCM ----

Status aes_ccm_encrypt(const ContentKey& key, const CcmNonce& nonce, Bytes aad, Bytes plaintext,
                       MutableBytes out) {
  if (out.size() < plaintext.size() + kCcmTagSize) return Error::kBufferTooSmall;
  Ccm ccm;
  SPINDLE_TRY(from_mbedtls(mbedtls_ccm_setkey(&ccm.v, MBEDTLS_CIPHER_ID_AES, key.data(), 128)));
  return from_mbedtls(mbedtls_ccm_encrypt_and_tag(
      &ccm.v, plaintext.size(), nonce.data(), nonce.size(), aad.data(), aad.size(),
      plaintext.data(), out.data(), out.data() + plaintext.size(), kCcmTagSize));
}

Status aes_ccm_decrypt(const ContentKey& key, const CcmNonce& nonce, Bytes aad,
                       Bytes ciphertext_and_tag, MutableBytes out) {
  if (ciphertext_and_tag.size() < kCcmTagSize) return Error::kTruncated;
  const std::size_t length = ciphertext_and_tag.size() - kCcmTagSize;
  if (out.size() < length) return Error::kBufferTooSmall;
  Ccm ccm;
  SPINDLE_TRY(from_mbedtls(mbedtls_ccm_setkey(&ccm.v, MBEDTLS_CIPHER_ID_AES, key.data(), 128)));
  // mbedTLS zeroes the output itself when the tag does not match.
  return from_mbedtls(mbedtls_ccm_auth_decrypt(
      &ccm.v, length, nonce.data(), nonce.size(), aad.data(), aad.size(), ciphertext_and_tag.data(),
      out.data(), ciphertext_and_tag.data() + length, kCcmTagSize));
}

// ---- The model payload ----

Status seal_model_payload(const ContentKey& key, const CcmNonce& nonce, std::string_view model_id,
                          Bytes plaintext, MutableBytes out) {
  if (model_id.empty()) return Error::kInvalidValue;
  return aes_ccm_encrypt(key, nonce, as_bytes(model_id), plaintext, out);
}

Status open_model_payload(const ContentKey& key, const CcmNonce& nonce, std::string_view model_id,
                          Bytes sealed, MutableBytes out) {
  if (model_id.empty()) return Error::kInvalidValue;
  return aes_ccm_decrypt(key, nonce, as_bytes(model_id), sealed, out);
}

// ---- ECDSA P-256 ----

Status ec_generate(RandomSource random, EcPrivateKey* private_key, EcPublicKey* public_key) {
  if (random.fill == nullptr) return Error::kInvalidValue;
  Group g;
  if (!g.loaded) return Error::kCryptoFailure;
  Mpi d;
  Point q;
  SPINDLE_TRY(
      from_mbedtls(mbedtls_ecp_gen_keypair(&g.group, &d.v, &q.v, random.fill, random.context)));
  SPINDLE_TRY(from_mbedtls(mbedtls_mpi_write_binary(&d.v, private_key->data(), kEcPrivateKeySize)));
  return write_public(g, q, public_key);
}

Status ec_public_from_private(const EcPrivateKey& private_key, EcPublicKey* public_key) {
  Group g;
  if (!g.loaded) return Error::kCryptoFailure;
  Mpi d;
  SPINDLE_TRY(load_private(g, private_key, d));
  BlindingDrbg drbg(private_key, {});
  if (!drbg.ok) return Error::kCryptoFailure;
  Point q;
  SPINDLE_TRY(from_mbedtls(
      mbedtls_ecp_mul(&g.group, &q.v, &d.v, &g.group.G, mbedtls_hmac_drbg_random, &drbg.v)));
  return write_public(g, q, public_key);
}

Status ecdsa_sign(const EcPrivateKey& private_key, const Digest& digest, EcSignature* signature) {
  Group g;
  if (!g.loaded) return Error::kCryptoFailure;
  Mpi d;
  SPINDLE_TRY(load_private(g, private_key, d));
  BlindingDrbg drbg(private_key, digest);
  if (!drbg.ok) return Error::kCryptoFailure;
  Mpi r;
  Mpi s;
  SPINDLE_TRY(from_mbedtls(mbedtls_ecdsa_sign_det_ext(&g.group, &r.v, &s.v, &d.v, digest.data(),
                                                      digest.size(), MBEDTLS_MD_SHA256,
                                                      mbedtls_hmac_drbg_random, &drbg.v)));
  SPINDLE_TRY(from_mbedtls(mbedtls_mpi_write_binary(&r.v, signature->data(), 32)));
  return from_mbedtls(mbedtls_mpi_write_binary(&s.v, signature->data() + 32, 32));
}

Status ecdsa_verify(const EcPublicKey& public_key, const Digest& digest,
                    const EcSignature& signature) {
  Group g;
  if (!g.loaded) return Error::kCryptoFailure;
  Point q;
  if (mbedtls_ecp_point_read_binary(&g.group, &q.v, public_key.data(), public_key.size()) != 0 ||
      mbedtls_ecp_check_pubkey(&g.group, &q.v) != 0) {
    return Error::kBadKey;
  }
  Mpi r;
  Mpi s;
  SPINDLE_TRY(from_mbedtls(mbedtls_mpi_read_binary(&r.v, signature.data(), 32)));
  SPINDLE_TRY(from_mbedtls(mbedtls_mpi_read_binary(&s.v, signature.data() + 32, 32)));
  const int rc = mbedtls_ecdsa_verify(&g.group, digest.data(), digest.size(), &q.v, &r.v, &s.v);
  // Out-of-range r or s is reported by mbedTLS as a bad input; to a verifier it is simply a
  // signature that does not verify.
  if (rc == MBEDTLS_ERR_ECP_BAD_INPUT_DATA) return Error::kBadSignature;
  return from_mbedtls(rc);
}

// ---- Per-device keys ----

std::string_view key_purpose_label(KeyPurpose purpose) {
  // Indexed by KeyPurpose; the labels are HKDF info strings, so they never change.
  constexpr std::array<std::string_view, 3> kLabels = {"model-kek", "dtls-psk", "attestation"};
  const auto index = static_cast<std::size_t>(purpose);
  return index < kLabels.size() ? kLabels[index] : "unknown";
}

Status derive_device_key(Bytes master_secret, std::string_view device_id, KeyPurpose purpose,
                         MutableBytes out) {
  constexpr std::size_t kMaxDeviceId = 64;
  if (device_id.empty() || device_id.size() > kMaxDeviceId) return Error::kInvalidValue;
  if (master_secret.size() < 16) return Error::kBadKey;
  // info = purpose label || 0x00 || device id: the separator keeps ("ab","c") and ("a","bc")
  // apart.
  const std::string_view label = key_purpose_label(purpose);
  std::uint8_t info[16 + 1 + kMaxDeviceId];
  std::memcpy(info, label.data(), label.size());
  info[label.size()] = 0;
  std::memcpy(info + label.size() + 1, device_id.data(), device_id.size());
  static constexpr std::string_view kSalt = "spindle-device-key-v1";
  return hkdf_sha256(as_bytes(kSalt), master_secret, {info, label.size() + 1 + device_id.size()},
                     out);
}

}  // namespace spindle::crypto
