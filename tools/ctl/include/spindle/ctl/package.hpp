// The model package (.spkg, tools/ctl/package.cddl): what `spindlectl pack` writes and
// `push` and `deploy` read. A package is an encrypted model container and its signed
// description, everything a manifest holds except the device it is meant for:
//
//   package = ["spindle-package", 1, signed_info: bstr (COSE_Sign1), ciphertext: bstr]
//
// signed_info is ES256-signed with external AAD "spindle-package-v1", so a package
// signature never verifies as a manifest. Its payload is manifest.cddl's map with the
// device id (key 3) left out and the board name added (key 12); the content key in it is
// wrapped (AES-KW) under a key derived from the signing key, so the file holds nothing
// usable without that key and may be copied freely. Deploying turns the description into
// one signed manifest per device (device_manifest()).
//
// Host-only (it allocates); errors are the project's Status codes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/status.hpp"

namespace spindle::ctl {

using ByteVector = std::vector<std::uint8_t>;

inline constexpr std::string_view kPackageMagic = "spindle-package";
inline constexpr std::uint64_t kPackageFormatVersion = 1;
// External AAD of the package signature (RFC 9052 section 4.3).
inline constexpr std::string_view kPackageSignatureContext = "spindle-package-v1";
// HKDF-SHA256 salt of the package KEK; the ikm is the signing key, the info its kid.
inline constexpr std::string_view kPackageKekSalt = "spindle-package-kek-v1";
// A signed description: a manifest's size, in practice well under 4 KiB.
inline constexpr std::size_t kMaxSignedInfoBytes = 16 * 1024;

inline constexpr std::size_t kWrappedKeySize = crypto::kContentKeySize + crypto::kKeyWrapOverhead;
using WrappedKey = std::array<std::uint8_t, kWrappedKeySize>;
using PackageKek = std::array<std::uint8_t, 16>;  // AES-128 key wrap, as device KEKs

struct SelfTestVector {
  ByteVector input;            // int8 input tensor
  ByteVector expected_output;  // the exact int8 output
  friend bool operator==(const SelfTestVector&, const SelfTestVector&) = default;
};

// The signed description. Field meanings are manifest.cddl's.
struct PackageInfo {
  std::string model_id;
  std::uint64_t version = 0;
  std::string board;  // the board profile the model was checked against (CONFIG_BOARD)
  crypto::Digest payload_digest{};
  std::uint32_t payload_size = 0;
  crypto::CcmNonce nonce{};
  WrappedKey wrapped_key{};  // the content key under the package KEK
  manifest::Requirements requirements;
  manifest::InputSpec input;
  float threshold = 0.0F;
  std::vector<manifest::FeatureBaseline> baseline;  // empty or input.feature_count entries
  std::vector<SelfTestVector> self_tests;           // 0..kMaxSelfTests
  bool has_calibration = false;                     // per-machine calibration (manifest key 12)
  manifest::Calibration calibration;
};

struct Package {
  PackageInfo info;
  std::string kid;         // the signer's key id
  ByteVector signed_info;  // the COSE_Sign1, as in the file
  ByteVector ciphertext;   // the model payload: AES-CCM ciphertext and tag
};

// The key that wraps a package's content key. Errors: kInvalidValue (an empty kid).
Result<PackageKek> derive_package_kek(const crypto::EcPrivateKey& signing_key,
                                      std::string_view kid);

// A manifest with `info`'s fields, bound to `device_id` with `wrapped_key`. Views into the
// arguments, which must outlive it. Errors: kOversize (more baseline entries or self-tests
// than a manifest holds).
Result<manifest::Manifest> manifest_view(const PackageInfo& info, std::string_view device_id,
                                         std::span<const std::uint8_t> wrapped_key);

// The signed-info payload. Errors: what manifest::encode refuses (kInvalidValue for an
// invalid id or an inconsistent input spec, kOversize, ...), kInvalidValue for a board name
// that is empty or longer than kMaxBoardNameSize.
Result<ByteVector> encode_info(const PackageInfo& info);
// Errors: the CBOR reader's, kMissingField (no board), kDuplicateKey (also a device id,
// key 3, which a package must not carry), and whatever manifest::decode refuses.
Result<PackageInfo> decode_info(std::span<const std::uint8_t> payload);

// Encrypts `container` under `content_key` and `nonce` (AES-CCM, AAD = model id), fills in
// the payload digest, size, nonce and package-wrapped key of `info`, signs the
// description and returns the package file. The caller draws key and nonce fresh for
// every package. Errors: encode_info()'s, kBadKey (the signing key), kInvalidValue (an
// empty container or kid), kOversize (a payload of 4 GiB or more).
Result<ByteVector> seal_package(PackageInfo info, std::span<const std::uint8_t> container,
                                const crypto::ContentKey& content_key,
                                const crypto::CcmNonce& nonce,
                                const crypto::EcPrivateKey& signing_key, std::string_view kid);

// Decodes a package file without checking its signature, and checks the ciphertext
// against the signed digest and size. Errors: the CBOR reader's, kBadMagic (not a
// package), kUnsupportedVersion, cose::decode()'s, decode_info()'s, kSizeMismatch,
// kDigestMismatch.
Result<Package> read_package(std::span<const std::uint8_t> file);
// read_package() and the signature against `trusted_keys`: on success every byte of the
// package is the signer's. Errors: read_package()'s, cose::verify()'s (kUnknownKey,
// kBadSignature, ...).
Result<Package> verify_package(std::span<const std::uint8_t> file,
                               std::span<const cose::TrustedKey> trusted_keys);

// The content key, unwrapped with the signing key. Errors: kAuthFailed (another key).
Result<crypto::ContentKey> unwrap_content_key(const PackageInfo& info,
                                              const crypto::EcPrivateKey& signing_key,
                                              std::string_view kid);
// The plaintext model container. Errors: kAuthFailed (wrong key, or altered ciphertext).
Result<ByteVector> decrypt_payload(const Package& package, const crypto::ContentKey& content_key);

// The signed manifest (COSE_Sign1, no external AAD) that deploys `info` to one device:
// its fields, `device_id`, the content key wrapped with the device's model KEK, and the
// role (active, or shadow beside the active model).
// Errors: manifest_view()'s and manifest::encode()'s, aes_key_wrap's (kInvalidValue for
// a KEK that is not 16, 24 or 32 bytes), cose::sign's; kOversize when the signed manifest
// is larger than kMaxSignedManifestSize (a node could not keep it).
Result<ByteVector> device_manifest(const PackageInfo& info, const crypto::ContentKey& content_key,
                                   std::string_view device_id,
                                   std::span<const std::uint8_t> device_kek,
                                   const crypto::EcPrivateKey& signing_key, std::string_view kid,
                                   manifest::ManifestRole role = manifest::ManifestRole::kActive,
                                   const manifest::Activation& activation = {});

// An operator's --activation (docs/firmware/activation.md): "now" (at once, the default),
// "idle", or "window:HH:MM-HH:MM" in UTC (the end is exclusive and may be past midnight:
// "window:23:00-02:00"). Errors: kInvalidValue (anything else, an hour past 23, a minute
// past 59, a window that ends where it starts).
Result<manifest::Activation> parse_activation(std::string_view text);

// A decision (promote, discard, revert) signed as a COSE_Sign1 with the decision's external
// AAD. Errors: decision::sign()'s.
Result<ByteVector> signed_decision(const decision::Decision& d,
                                   const crypto::EcPrivateKey& signing_key, std::string_view kid);

}  // namespace spindle::ctl
