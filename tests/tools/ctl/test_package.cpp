// tools/ctl package: the .spkg format round trip, every way a package can be altered or
// misused refused, and the per-device manifest a deployment signs from it.
#include "spindle/ctl/package.hpp"

#include <gtest/gtest.h>

#include "spindle/protocol/cbor_writer.hpp"
#include "spindle/protocol/manifest.hpp"
#include "test_support.hpp"

namespace spindle::ctl {
namespace {

using crypto::as_bytes;

struct Signer {
  crypto::EcPrivateKey priv{};
  crypto::EcPublicKey pub{};
  std::string kid;
};

Signer signer(std::string_view seed, std::string kid = "op-1") {
  Signer s;
  s.priv = crypto::Sha256::of(as_bytes(seed));
  EXPECT_TRUE(crypto::ec_public_from_private(s.priv, &s.pub).ok());
  s.kid = std::move(kid);
  return s;
}

PackageInfo description() {
  PackageInfo info;
  info.model_id = "vib-ae";
  info.version = 7;
  info.board = "nrf52840dk";
  info.requirements = {.arena_bytes = 1776, .flash_bytes = 1040, .op_set = 0x3e};
  info.input = {.feature_count = 3, .sample_rate_hz = 3200, .window_length = 1024, .axes = 1};
  info.threshold = 0.75F;
  info.baseline = {{0.5F, 0.25F}, {-1.0F, 2.0F}, {3.0F, 0.0F}};
  info.self_tests = {{{1, 2, 3}, {4, 5, 6}}, {{0xff, 0x80, 0}, {7, 8, 9}}};
  return info;
}

const ByteVector kContainer(1024, 0x5a);  // the format does not look inside
constexpr crypto::ContentKey kContentKey = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr crypto::CcmNonce kNonce = {9, 8, 7, 6, 5, 4, 3};

ByteVector sealed(const Signer& s, const PackageInfo& info = description()) {
  const auto file = seal_package(info, kContainer, kContentKey, kNonce, s.priv, s.kid);
  EXPECT_TRUE(file.ok()) << file.status().name();
  return file.ok() ? *file : ByteVector();
}

std::vector<cose::TrustedKey> trusting(const Signer& s) {
  return {{as_bytes(s.kid), s.pub}};
}

TEST(Package, InfoRoundTripsEveryField) {
  PackageInfo info = description();
  info.payload_digest = crypto::Sha256::of(as_bytes("payload"));
  info.payload_size = 1040;
  info.nonce = kNonce;
  info.wrapped_key.fill(0x42);
  const auto encoded = encode_info(info);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  const auto decoded = decode_info(*encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  EXPECT_EQ(decoded->model_id, info.model_id);
  EXPECT_EQ(decoded->version, info.version);
  EXPECT_EQ(decoded->board, info.board);
  EXPECT_EQ(decoded->payload_digest, info.payload_digest);
  EXPECT_EQ(decoded->payload_size, info.payload_size);
  EXPECT_EQ(decoded->nonce, info.nonce);
  EXPECT_EQ(decoded->wrapped_key, info.wrapped_key);
  EXPECT_EQ(decoded->requirements.arena_bytes, 1776U);
  EXPECT_EQ(decoded->requirements.flash_bytes, 1040U);
  EXPECT_EQ(decoded->requirements.op_set, 0x3eU);
  EXPECT_EQ(decoded->input.feature_count, 3);
  EXPECT_EQ(decoded->input.sample_rate_hz, 3200U);
  EXPECT_EQ(decoded->input.window_length, 1024);
  EXPECT_EQ(decoded->input.axes, 1);
  EXPECT_EQ(decoded->threshold, 0.75F);
  ASSERT_EQ(decoded->baseline.size(), 3U);
  EXPECT_EQ(decoded->baseline[1].mean, -1.0F);
  EXPECT_EQ(decoded->baseline[1].stddev, 2.0F);
  EXPECT_EQ(decoded->self_tests, info.self_tests);
}

TEST(Package, InfoCarriesTheCalibrationUnderKey13AndManifestsGetItUnderKey12) {
  PackageInfo info = description();
  info.payload_size = 1040;
  info.has_calibration = true;
  info.calibration = {.normalization_windows = 200,
                      .threshold_windows = 300,
                      .threshold_quantile = 0.995F,
                      .threshold_margin = 1.5F,
                      .threshold_min = 0.5F,
                      .threshold_max = 4.0F};
  const auto encoded = encode_info(info);
  ASSERT_TRUE(encoded.ok()) << encoded.status().name();
  const auto decoded = decode_info(*encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status().name();
  ASSERT_TRUE(decoded->has_calibration);
  EXPECT_EQ(decoded->calibration.normalization_windows, 200U);
  EXPECT_EQ(decoded->calibration.threshold_windows, 300U);
  EXPECT_EQ(decoded->calibration.threshold_max, 4.0F);
  EXPECT_EQ(decoded->board, info.board);
  ByteVector wrapped(kWrappedKeySize, 1);
  const auto m = manifest_view(*decoded, "node-1", wrapped);
  ASSERT_TRUE(m.ok());
  ByteVector buffer(4096);
  const auto payload = manifest::encode(*m, buffer);
  ASSERT_TRUE(payload.ok());
  const auto back = manifest::decode(*payload);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_calibration);
  EXPECT_EQ(back->calibration.threshold_min, 0.5F);
}

TEST(Package, InfoCarriesTheBoardAndNoDeviceId) {
  PackageInfo info = description();
  info.payload_size = 1040;
  const auto encoded = encode_info(info);
  ASSERT_TRUE(encoded.ok());
  // Not a manifest: key 12 is the board's text, not the manifest's calibration map, and key
  // 3 is absent.
  EXPECT_FALSE(manifest::decode(*encoded).ok());
  const std::string text(encoded->begin(), encoded->end());
  EXPECT_NE(text.find("nrf52840dk"), std::string::npos);
  EXPECT_EQ(text.find("package"), std::string::npos);  // no stand-in device id leaks out
}

TEST(Package, InfoWithADeviceIdIsRefused) {
  PackageInfo info = description();
  info.payload_size = 1040;
  auto encoded = encode_info(info);
  ASSERT_TRUE(encoded.ok());
  ByteVector with_device = *encoded;
  // Bump the map's entry count and append 3 => "node-1".
  ASSERT_EQ(with_device[0] & 0xe0, 0xa0);
  with_device[0] = static_cast<std::uint8_t>(with_device[0] + 1);
  const ByteVector entry = test::from_hex("03 66 6e6f64652d31");
  with_device.insert(with_device.end(), entry.begin(), entry.end());
  EXPECT_EQ(decode_info(with_device).status(), Status(Error::kDuplicateKey));
}

TEST(Package, InfoWithoutABoardIsRefused) {
  // A manifest payload, which has a device id but no board.
  PackageInfo info = description();
  info.payload_size = 1040;
  ByteVector wrapped(kWrappedKeySize, 1);
  const auto m = manifest_view(info, "node-1", wrapped);
  ASSERT_TRUE(m.ok());
  ByteVector buffer(4096);
  const auto payload = manifest::encode(*m, buffer);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(decode_info(*payload).status(), Status(Error::kMissingField));
}

TEST(Package, SealedPackageReadsBackEveryField) {
  const Signer s = signer("operator");
  const ByteVector file = sealed(s);
  const auto package = verify_package(file, trusting(s));
  ASSERT_TRUE(package.ok()) << package.status().name();
  EXPECT_EQ(package->kid, "op-1");
  EXPECT_EQ(package->ciphertext.size(), kContainer.size() + crypto::kCcmTagSize);
  EXPECT_EQ(package->info.payload_size, package->ciphertext.size());
  EXPECT_EQ(package->info.payload_digest, crypto::Sha256::of(package->ciphertext));
  EXPECT_EQ(package->info.nonce, kNonce);
  EXPECT_EQ(package->info.model_id, "vib-ae");
  EXPECT_EQ(package->info.board, "nrf52840dk");
  EXPECT_EQ(package->info.self_tests, description().self_tests);
  // The content key is not in the file, only wrapped under the signer's package KEK.
  const std::string text(file.begin(), file.end());
  EXPECT_EQ(text.find(std::string(kContentKey.begin(), kContentKey.end())), std::string::npos);
  const auto key = unwrap_content_key(package->info, s.priv, s.kid);
  ASSERT_TRUE(key.ok()) << key.status().name();
  EXPECT_EQ(*key, kContentKey);
  const auto plain = decrypt_payload(*package, *key);
  ASSERT_TRUE(plain.ok()) << plain.status().name();
  EXPECT_EQ(*plain, kContainer);
}

TEST(Package, FileIsTheDocumentedArray) {
  const ByteVector file = sealed(signer("operator"));
  // 84 (array 4), 6f "spindle-package", 01, then the signed info as a byte string.
  EXPECT_EQ(test::to_hex({file.data(), 18}), "846f7370696e646c652d7061636b61676501");
}

TEST(Package, PackageKekDependsOnKeyAndKid) {
  const Signer a = signer("a");
  const auto kek = derive_package_kek(a.priv, "op-1");
  ASSERT_TRUE(kek.ok());
  EXPECT_NE(*kek, *derive_package_kek(a.priv, "op-2"));
  EXPECT_NE(*kek, *derive_package_kek(signer("b").priv, "op-1"));
  EXPECT_EQ(derive_package_kek(a.priv, "").status(), Status(Error::kInvalidValue));
}

TEST(Package, AnotherSigningKeyCannotUnwrapTheContentKey) {
  const Signer s = signer("operator");
  const auto package = read_package(sealed(s));
  ASSERT_TRUE(package.ok());
  EXPECT_EQ(unwrap_content_key(package->info, signer("other").priv, s.kid).status(),
            Status(Error::kAuthFailed));
  EXPECT_EQ(unwrap_content_key(package->info, s.priv, "other-kid").status(),
            Status(Error::kAuthFailed));
}

TEST(Package, EveryAlteredByteOfTheSignedInfoFailsVerification) {
  const Signer s = signer("operator");
  const ByteVector file = sealed(s);
  const auto package = read_package(file);
  ASSERT_TRUE(package.ok());
  // The signed info starts after the array head, the magic, the version and its bstr head.
  const std::size_t start = 18 + 2 + 1;
  for (std::size_t i = start; i < start + package->signed_info.size() - 2; i += 7) {
    ByteVector tampered = file;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(verify_package(tampered, trusting(s)).ok()) << "byte " << i;
  }
}

TEST(Package, AlteredCiphertextIsADigestMismatch) {
  const Signer s = signer("operator");
  ByteVector file = sealed(s);
  file[file.size() - 100] ^= 0x80;
  EXPECT_EQ(verify_package(file, trusting(s)).status(), Status(Error::kDigestMismatch));
  EXPECT_EQ(read_package(file).status(), Status(Error::kDigestMismatch));
}

TEST(Package, WrongKeysAreRefused) {
  const Signer s = signer("operator");
  const ByteVector file = sealed(s);
  Signer impostor = signer("impostor");
  EXPECT_EQ(verify_package(file, trusting(impostor)).status(), Status(Error::kBadSignature));
  impostor.kid = "other";
  EXPECT_EQ(verify_package(file, trusting(impostor)).status(), Status(Error::kUnknownKey));
}

TEST(Package, PackageSignatureDoesNotVerifyAsAManifest) {
  const Signer s = signer("operator");
  const auto package = read_package(sealed(s));
  ASSERT_TRUE(package.ok());
  const auto trusted = trusting(s);
  EXPECT_EQ(cose::verify(package->signed_info, trusted).status(), Status(Error::kBadSignature));
}

TEST(Package, OtherFilesAreRefused) {
  EXPECT_EQ(read_package(kContainer).status(), Status(Error::kBadMagic));
  EXPECT_EQ(read_package({}).status(), Status(Error::kBadMagic));
  ByteVector file = sealed(signer("operator"));
  file[17] = 0x02;  // format version 2
  EXPECT_EQ(read_package(file).status(), Status(Error::kUnsupportedVersion));
  file = sealed(signer("operator"));
  file.push_back(0);
  EXPECT_EQ(read_package(file).status(), Status(Error::kTrailingBytes));
  for (std::size_t n = 0; n < 400; n += 13)
    EXPECT_FALSE(read_package({file.data(), n}).ok()) << n;
}

TEST(Package, SealRefusesWhatTheManifestDecoderWould) {
  const Signer s = signer("operator");
  PackageInfo info = description();
  info.model_id = "bad id";
  EXPECT_EQ(seal_package(info, kContainer, kContentKey, kNonce, s.priv, s.kid).status(),
            Status(Error::kInvalidValue));
  info = description();
  info.baseline.pop_back();  // 2 rows for 3 features
  EXPECT_EQ(seal_package(info, kContainer, kContentKey, kNonce, s.priv, s.kid).status(),
            Status(Error::kInvalidValue));
  info = description();
  info.board.clear();
  EXPECT_EQ(seal_package(info, kContainer, kContentKey, kNonce, s.priv, s.kid).status(),
            Status(Error::kInvalidValue));
  EXPECT_EQ(seal_package(description(), {}, kContentKey, kNonce, s.priv, s.kid).status(),
            Status(Error::kInvalidValue));
  EXPECT_EQ(seal_package(description(), kContainer, kContentKey, kNonce, s.priv, "").status(),
            Status(Error::kInvalidValue));
}

TEST(Package, DeviceManifestVerifiesUnwrapsAndDecryptsToTheContainer) {
  const Signer s = signer("operator");
  const auto package = read_package(sealed(s));
  ASSERT_TRUE(package.ok());
  const auto content_key = unwrap_content_key(package->info, s.priv, s.kid);
  ASSERT_TRUE(content_key.ok());
  std::array<std::uint8_t, 16> kek{};
  const ByteVector master(32, 0x33);
  ASSERT_TRUE(crypto::derive_device_key(master, "node-1", crypto::KeyPurpose::kModelKek, kek).ok());

  const auto signed_manifest =
      device_manifest(package->info, *content_key, "node-1", kek, s.priv, s.kid);
  ASSERT_TRUE(signed_manifest.ok()) << signed_manifest.status().name();
  // What the gateway and the node do: verify without external AAD, decode.
  const auto trusted = trusting(s);
  const auto verified = cose::verify(*signed_manifest, trusted);
  ASSERT_TRUE(verified.ok()) << verified.status().name();
  const auto m = manifest::decode(verified->payload);
  ASSERT_TRUE(m.ok()) << m.status().name();
  EXPECT_EQ(m->device_id, "node-1");
  EXPECT_EQ(m->model_id, "vib-ae");
  EXPECT_EQ(m->version, 7U);
  EXPECT_TRUE(std::equal(m->payload_digest.begin(), m->payload_digest.end(),
                         package->info.payload_digest.begin()));
  EXPECT_EQ(m->payload_size, package->info.payload_size);
  EXPECT_EQ(m->baseline_count, 3U);
  EXPECT_EQ(m->self_test_count, 2U);

  crypto::ContentKey unwrapped{};
  ASSERT_TRUE(crypto::aes_key_unwrap(kek, m->encryption.wrapped_key, unwrapped).ok());
  crypto::CcmNonce nonce{};
  std::copy(m->encryption.nonce.begin(), m->encryption.nonce.end(), nonce.begin());
  ByteVector plain(package->ciphertext.size() - crypto::kCcmTagSize);
  ASSERT_TRUE(
      crypto::open_model_payload(unwrapped, nonce, m->model_id, package->ciphertext, plain).ok());
  EXPECT_EQ(plain, kContainer);

  // Another device's KEK does not unwrap it.
  std::array<std::uint8_t, 16> other{};
  ASSERT_TRUE(
      crypto::derive_device_key(master, "node-2", crypto::KeyPurpose::kModelKek, other).ok());
  EXPECT_EQ(crypto::aes_key_unwrap(other, m->encryption.wrapped_key, unwrapped),
            Status(Error::kAuthFailed));
}

TEST(Package, ADeviceManifestCarriesTheActivationSignedWithIt) {
  const Signer s = signer("operator");
  const auto package = read_package(sealed(s));
  ASSERT_TRUE(package.ok());
  const auto content_key = unwrap_content_key(package->info, s.priv, s.kid);
  ASSERT_TRUE(content_key.ok());
  const std::array<std::uint8_t, 16> kek{1};
  const auto window = parse_activation("window:23:30-01:00");
  ASSERT_TRUE(window.ok());
  const auto signed_manifest = device_manifest(package->info, *content_key, "node-1", kek, s.priv,
                                               s.kid, manifest::ManifestRole::kActive, *window);
  ASSERT_TRUE(signed_manifest.ok()) << signed_manifest.status().name();
  const auto trusted = trusting(s);
  const auto verified = cose::verify(*signed_manifest, trusted);
  ASSERT_TRUE(verified.ok());
  const auto m = manifest::decode(verified->payload);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->activation.mode, manifest::ActivationMode::kWindow);
  EXPECT_EQ(m->activation.window_start_min, 23 * 60 + 30);
  EXPECT_EQ(m->activation.window_length_min, 90);
}

TEST(Package, ActivationTextIsNowIdleOrAUtcWindow) {
  EXPECT_EQ(parse_activation("now")->mode, manifest::ActivationMode::kImmediate);
  EXPECT_EQ(parse_activation("idle")->mode, manifest::ActivationMode::kIdle);
  const auto day = parse_activation("window:02:00-04:15");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->window_start_min, 120);
  EXPECT_EQ(day->window_length_min, 135);
  const auto wraps = parse_activation("window:22:00-00:00");
  ASSERT_TRUE(wraps.ok());
  EXPECT_EQ(wraps->window_start_min, 1320);
  EXPECT_EQ(wraps->window_length_min, 120);
  for (const char* bad : {"", "later", "window:", "window:2:00-04:00", "window:24:00-01:00",
                          "window:01:60-02:00", "window:01:00-01:00", "window:01:00 02:00",
                          "window:01:00-02:00x", "Idle", "window:aa:bb-cc:dd"}) {
    EXPECT_EQ(parse_activation(bad).status(), Status(Error::kInvalidValue)) << bad;
  }
}

}  // namespace
}  // namespace spindle::ctl
