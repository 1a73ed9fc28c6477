// protocol/crypto: published test vectors (RFC 3394, RFC 5869, RFC 4231, RFC 6979, FIPS
// 180-2) and the failure behaviour callers rely on.
#include "spindle/protocol/crypto.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "test_support.hpp"

namespace spindle::crypto {
namespace {

using test::from_hex;
using test::to_hex;

template <std::size_t N>
std::array<std::uint8_t, N> arr(std::string_view hex) {
  const auto v = from_hex(hex);
  EXPECT_EQ(v.size(), N);
  std::array<std::uint8_t, N> out{};
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}

TEST(Sha256, MatchesFips180AbcVector) {
  EXPECT_EQ(to_hex(Sha256::of(as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, StreamingInPiecesEqualsOneShot) {
  std::vector<std::uint8_t> data(1000);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::uint8_t>(i * 13);
  Sha256 sha;
  sha.update({data.data(), 1});
  sha.update({data.data() + 1, 63});
  sha.update({data.data() + 64, 0});
  sha.update({data.data() + 64, 936});
  EXPECT_EQ(sha.finish(), Sha256::of(data));
}

TEST(Sha256, CopyForksARunningDigest) {
  Sha256 a;
  a.update(as_bytes("spin"));
  Sha256 b = a;
  a.update(as_bytes("dle"));
  b.update(as_bytes("dle"));
  EXPECT_EQ(a.finish(), b.finish());
}

TEST(HmacSha256, MatchesRfc4231TestCase2) {
  EXPECT_EQ(to_hex(hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HkdfSha256, MatchesRfc5869TestCase1) {
  const auto ikm = from_hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const auto salt = from_hex("000102030405060708090a0b0c");
  const auto info = from_hex("f0f1f2f3f4f5f6f7f8f9");
  std::array<std::uint8_t, 42> okm{};
  ASSERT_TRUE(hkdf_sha256(salt, ikm, info, okm).ok());
  EXPECT_EQ(to_hex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfSha256, RefusesOutputLongerThan255Blocks) {
  std::vector<std::uint8_t> okm(255 * 32 + 1);
  EXPECT_EQ(hkdf_sha256({}, as_bytes("ikm"), {}, okm), Status(Error::kInvalidValue));
}

struct KeyWrapVector {
  const char* name;
  const char* kek;
  const char* key;
  const char* wrapped;
};

class AesKeyWrapRfc3394 : public ::testing::TestWithParam<KeyWrapVector> {};

TEST_P(AesKeyWrapRfc3394, WrapsAndUnwrapsThePublishedVector) {
  const auto kek = from_hex(GetParam().kek);
  const auto key = from_hex(GetParam().key);
  std::vector<std::uint8_t> wrapped(key.size() + 8);
  ASSERT_TRUE(aes_key_wrap(kek, key, wrapped).ok());
  EXPECT_EQ(to_hex(wrapped), to_hex(from_hex(GetParam().wrapped)));
  std::vector<std::uint8_t> unwrapped(key.size());
  ASSERT_TRUE(aes_key_unwrap(kek, wrapped, unwrapped).ok());
  EXPECT_EQ(unwrapped, key);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3394, AesKeyWrapRfc3394,
    ::testing::Values(
        KeyWrapVector{"Section41Kek128Key128", "000102030405060708090A0B0C0D0E0F",
                      "00112233445566778899AABBCCDDEEFF",
                      "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
        KeyWrapVector{"Section42Kek192Key128", "000102030405060708090A0B0C0D0E0F1011121314151617",
                      "00112233445566778899AABBCCDDEEFF",
                      "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
        KeyWrapVector{"Section43Kek256Key128",
                      "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                      "00112233445566778899AABBCCDDEEFF",
                      "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
        KeyWrapVector{"Section46Kek256Key256",
                      "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                      "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                      "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A"
                      "02DD21"}),
    [](const ::testing::TestParamInfo<KeyWrapVector>& param_info) {
      return param_info.param.name;
    });

TEST(AesKeyWrap, UnwrapWithTheWrongKekIsAnAuthenticationFailure) {
  const auto key = from_hex("00112233445566778899AABBCCDDEEFF");
  std::array<std::uint8_t, 24> wrapped{};
  ASSERT_TRUE(aes_key_wrap(from_hex("000102030405060708090A0B0C0D0E0F"), key, wrapped).ok());
  std::array<std::uint8_t, 16> out{};
  EXPECT_EQ(aes_key_unwrap(from_hex("000102030405060708090A0B0C0D0E0E"), wrapped, out),
            Status(Error::kAuthFailed));
  EXPECT_EQ(out, (std::array<std::uint8_t, 16>{}));  // nothing of the wrong key leaks out
}

TEST(AesKeyWrap, RefusesBadLengths) {
  std::array<std::uint8_t, 32> out{};
  const auto kek = from_hex("000102030405060708090A0B0C0D0E0F");
  EXPECT_EQ(aes_key_wrap(from_hex("0001"), from_hex("00112233445566778899AABBCCDDEEFF"), out),
            Status(Error::kBadKey));
  EXPECT_EQ(aes_key_wrap(kek, from_hex("0011223344556677"), out), Status(Error::kInvalidValue));
  EXPECT_EQ(aes_key_unwrap(kek, from_hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CF"), out),
            Status(Error::kInvalidValue));
  std::array<std::uint8_t, 8> small{};
  EXPECT_EQ(aes_key_wrap(kek, from_hex("00112233445566778899AABBCCDDEEFF"), small),
            Status(Error::kBufferTooSmall));
}

TEST(AesCcm, RoundTripsAndAppendsA16ByteTag) {
  const ContentKey key = arr<16>("404142434445464748494a4b4c4d4e4f");
  const CcmNonce nonce = arr<7>("10111213141516");
  std::vector<std::uint8_t> plaintext(70000);  // beyond the 64 KiB limit of 2-byte L
  for (std::size_t i = 0; i < plaintext.size(); ++i)
    plaintext[i] = static_cast<std::uint8_t>(i);
  std::vector<std::uint8_t> sealed(plaintext.size() + kCcmTagSize);
  ASSERT_TRUE(aes_ccm_encrypt(key, nonce, {}, plaintext, sealed).ok());
  EXPECT_NE(std::vector<std::uint8_t>(sealed.begin(), sealed.begin() + 64),
            std::vector<std::uint8_t>(plaintext.begin(), plaintext.begin() + 64));
  std::vector<std::uint8_t> opened(plaintext.size());
  ASSERT_TRUE(aes_ccm_decrypt(key, nonce, {}, sealed, opened).ok());
  EXPECT_EQ(opened, plaintext);
}

TEST(AesCcm, TamperedCiphertextFailsAuthenticationAndYieldsNoPlaintext) {
  const ContentKey key = arr<16>("404142434445464748494a4b4c4d4e4f");
  const CcmNonce nonce = arr<7>("10111213141516");
  const auto plaintext = from_hex("2021222324252627");
  std::vector<std::uint8_t> sealed(plaintext.size() + kCcmTagSize);
  ASSERT_TRUE(aes_ccm_encrypt(key, nonce, as_bytes("aad"), plaintext, sealed).ok());
  std::vector<std::uint8_t> opened(plaintext.size(), 0xAA);
  sealed[3] ^= 1;
  EXPECT_EQ(aes_ccm_decrypt(key, nonce, as_bytes("aad"), sealed, opened),
            Status(Error::kAuthFailed));
  EXPECT_EQ(opened, std::vector<std::uint8_t>(plaintext.size(), 0));
  sealed[3] ^= 1;
  EXPECT_EQ(aes_ccm_decrypt(key, nonce, as_bytes("other aad"), sealed, opened),
            Status(Error::kAuthFailed));
}

// The model payload rule: AES-CCM with the model id as associated data. The expected bytes
// were computed with python3-cryptography, AESCCM(key, tag_length=16).encrypt(nonce,
// plaintext, b"vib-ae"): the ciphertext is plain CCM's, the tag is what the id changes.
constexpr std::string_view kPayloadKey = "404142434445464748494a4b4c4d4e4f";
constexpr std::string_view kPayloadNonce = "10111213141516";
constexpr std::string_view kPayloadPlaintext = "202122232425262728292a2b2c2d2e2f";
constexpr std::string_view kPayloadSealedForVibAe =
    "7162015bc051951e5918aeaf3c11f3d47ca9846e6fdfc7027bea3dc79c2b2a6b";

TEST(ModelPayload, SealsAsAesCcmWithTheModelIdAsAssociatedData) {
  const auto plaintext = from_hex(kPayloadPlaintext);
  std::vector<std::uint8_t> sealed(plaintext.size() + kCcmTagSize);
  ASSERT_TRUE(
      seal_model_payload(arr<16>(kPayloadKey), arr<7>(kPayloadNonce), "vib-ae", plaintext, sealed)
          .ok());
  EXPECT_EQ(to_hex(sealed), kPayloadSealedForVibAe);
}

TEST(ModelPayload, OpensInPlaceWhatItSealed) {
  const ContentKey key = arr<16>(kPayloadKey);
  const CcmNonce nonce = arr<7>(kPayloadNonce);
  std::vector<std::uint8_t> plaintext(70000);  // beyond the 64 KiB limit of 2-byte L
  for (std::size_t i = 0; i < plaintext.size(); ++i)
    plaintext[i] = static_cast<std::uint8_t>(i * 13 + 1);
  std::vector<std::uint8_t> buffer(plaintext.size() + kCcmTagSize);
  ASSERT_TRUE(seal_model_payload(key, nonce, "vib-ae", plaintext, buffer).ok());
  // As the installer does: the plaintext overwrites the ciphertext it came from.
  ASSERT_TRUE(open_model_payload(key, nonce, "vib-ae", buffer, buffer).ok());
  EXPECT_TRUE(std::equal(plaintext.begin(), plaintext.end(), buffer.begin()));
}

TEST(ModelPayload, AnotherModelIdFailsAuthenticationAndYieldsNoPlaintext) {
  const auto sealed = from_hex(kPayloadSealedForVibAe);
  std::vector<std::uint8_t> opened(sealed.size() - kCcmTagSize, 0xAA);
  for (const std::string_view other : {"vib-ae2", "vib-a", "VIB-AE", "kmeans"}) {
    EXPECT_EQ(
        open_model_payload(arr<16>(kPayloadKey), arr<7>(kPayloadNonce), other, sealed, opened),
        Status(Error::kAuthFailed))
        << other;
    EXPECT_EQ(opened, std::vector<std::uint8_t>(opened.size(), 0)) << other;
  }
}

TEST(ModelPayload, ATamperedTagOrCiphertextFailsAuthentication) {
  const ContentKey key = arr<16>(kPayloadKey);
  const CcmNonce nonce = arr<7>(kPayloadNonce);
  auto sealed = from_hex(kPayloadSealedForVibAe);
  std::vector<std::uint8_t> opened(sealed.size() - kCcmTagSize);
  ASSERT_TRUE(open_model_payload(key, nonce, "vib-ae", sealed, opened).ok());
  EXPECT_EQ(to_hex(opened), kPayloadPlaintext);
  for (const std::size_t at : {sealed.size() - 1, sealed.size() - kCcmTagSize, std::size_t{0}}) {
    sealed[at] ^= 0x01;
    EXPECT_EQ(open_model_payload(key, nonce, "vib-ae", sealed, opened), Status(Error::kAuthFailed))
        << at;
    sealed[at] ^= 0x01;
  }
}

TEST(ModelPayload, RefusesAnEmptyModelIdAShortInputAndASmallBuffer) {
  const ContentKey key = arr<16>(kPayloadKey);
  const CcmNonce nonce = arr<7>(kPayloadNonce);
  const auto plaintext = from_hex(kPayloadPlaintext);
  const auto sealed = from_hex(kPayloadSealedForVibAe);
  std::vector<std::uint8_t> out(sealed.size());
  EXPECT_EQ(seal_model_payload(key, nonce, "", plaintext, out), Status(Error::kInvalidValue));
  EXPECT_EQ(open_model_payload(key, nonce, "", sealed, out), Status(Error::kInvalidValue));
  EXPECT_EQ(open_model_payload(key, nonce, "vib-ae", std::span(sealed).first(kCcmTagSize - 1), out),
            Status(Error::kTruncated));
  std::vector<std::uint8_t> small(plaintext.size() - 1);
  EXPECT_EQ(seal_model_payload(key, nonce, "vib-ae", plaintext, small),
            Status(Error::kBufferTooSmall));
  EXPECT_EQ(open_model_payload(key, nonce, "vib-ae", sealed, small),
            Status(Error::kBufferTooSmall));
}

// RFC 6979 appendix A.2.5: P-256, SHA-256, message "sample".
constexpr std::string_view kRfc6979Private =
    "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
constexpr std::string_view kRfc6979Public =
    "0460FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
    "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
constexpr std::string_view kRfc6979SampleSignature =
    "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
    "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8";

TEST(EcdsaP256, PublicKeyFromPrivateMatchesRfc6979) {
  EcPublicKey pub{};
  ASSERT_TRUE(ec_public_from_private(arr<32>(kRfc6979Private), &pub).ok());
  EXPECT_EQ(to_hex(pub), to_hex(from_hex(kRfc6979Public)));
}

TEST(EcdsaP256, DeterministicSignatureMatchesRfc6979AndVerifies) {
  EcSignature sig{};
  const Digest digest = Sha256::of(as_bytes("sample"));
  ASSERT_TRUE(ecdsa_sign(arr<32>(kRfc6979Private), digest, &sig).ok());
  EXPECT_EQ(to_hex(sig), to_hex(from_hex(kRfc6979SampleSignature)));
  EXPECT_TRUE(ecdsa_verify(arr<65>(kRfc6979Public), digest, sig).ok());
}

TEST(EcdsaP256, SignatureOverAnotherDigestIsRejected) {
  EXPECT_EQ(ecdsa_verify(arr<65>(kRfc6979Public), Sha256::of(as_bytes("sample!")),
                         arr<64>(kRfc6979SampleSignature)),
            Status(Error::kBadSignature));
}

TEST(EcdsaP256, ZeroOrOutOfRangeSignatureIsABadSignatureNotACrash) {
  EXPECT_EQ(ecdsa_verify(arr<65>(kRfc6979Public), Sha256::of(as_bytes("sample")), EcSignature{}),
            Status(Error::kBadSignature));
  EcSignature all_ones{};
  all_ones.fill(0xFF);
  EXPECT_EQ(ecdsa_verify(arr<65>(kRfc6979Public), Sha256::of(as_bytes("sample")), all_ones),
            Status(Error::kBadSignature));
}

TEST(EcdsaP256, PointOffTheCurveIsABadKey) {
  EcPublicKey pub = arr<65>(kRfc6979Public);
  pub[64] ^= 1;
  EXPECT_EQ(ecdsa_verify(pub, Sha256::of(as_bytes("sample")), arr<64>(kRfc6979SampleSignature)),
            Status(Error::kBadKey));
}

TEST(EcdsaP256, ZeroPrivateKeyIsRefused) {
  EcSignature sig{};
  EXPECT_EQ(ecdsa_sign(EcPrivateKey{}, Sha256::of(as_bytes("x")), &sig), Status(Error::kBadKey));
}

int counting_random(void* context, unsigned char* out, std::size_t length) {
  auto* counter = static_cast<std::uint8_t*>(context);
  for (std::size_t i = 0; i < length; ++i)
    out[i] = static_cast<std::uint8_t>((*counter)++ * 151);
  return 0;
}

TEST(EcdsaP256, GeneratedKeyPairSignsAndVerifies) {
  std::uint8_t counter = 1;
  EcPrivateKey priv{};
  EcPublicKey pub{};
  ASSERT_TRUE(ec_generate({counting_random, &counter}, &priv, &pub).ok());
  EcPublicKey derived{};
  ASSERT_TRUE(ec_public_from_private(priv, &derived).ok());
  EXPECT_EQ(derived, pub);
  EcSignature sig{};
  const Digest digest = Sha256::of(as_bytes("model"));
  ASSERT_TRUE(ecdsa_sign(priv, digest, &sig).ok());
  EXPECT_TRUE(ecdsa_verify(pub, digest, sig).ok());
}

TEST(DeviceKeys, DifferPerDeviceAndPerPurposeAndAreStable) {
  const auto master = from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  std::array<std::uint8_t, 16> a{}, b{}, c{}, a_again{};
  ASSERT_TRUE(derive_device_key(master, "node-1", KeyPurpose::kModelKek, a).ok());
  ASSERT_TRUE(derive_device_key(master, "node-2", KeyPurpose::kModelKek, b).ok());
  ASSERT_TRUE(derive_device_key(master, "node-1", KeyPurpose::kDtlsPsk, c).ok());
  ASSERT_TRUE(derive_device_key(master, "node-1", KeyPurpose::kModelKek, a_again).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, a_again);
}

TEST(DeviceKeys, RefuseEmptyIdAndShortMaster) {
  std::array<std::uint8_t, 16> out{};
  const auto master = from_hex("00112233445566778899aabbccddeeff");
  EXPECT_EQ(derive_device_key(master, "", KeyPurpose::kModelKek, out),
            Status(Error::kInvalidValue));
  EXPECT_EQ(derive_device_key(from_hex("0011"), "node-1", KeyPurpose::kModelKek, out),
            Status(Error::kBadKey));
}

}  // namespace
}  // namespace spindle::crypto
