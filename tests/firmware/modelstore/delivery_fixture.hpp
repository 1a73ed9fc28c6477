// What the installer tests deliver: real signed manifests, real AES-CCM payloads of real
// model containers, a block server answering as the gateway does (stateless Block2 with
// ETag and Size2, blockwise::block2_slice), and a flash file with the native_sim board's
// geometry. Only the network and the gateway's status resource are replaced, by the
// in-memory BlockServer and RecordingReporter below.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "spindle/app/pipeline.hpp"
#include "spindle/boards/board_lookup.hpp"
#include "spindle/features/feature_extractor.hpp"
#include "spindle/inference/interpreter.hpp"
#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/modelstore/installer.hpp"
#include "spindle/modelstore/model_store.hpp"
#include "spindle/os/posix/file_flash.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/manifest.hpp"

namespace spindle::modelstore::test {

using ByteVector = std::vector<std::uint8_t>;

inline board::BoardProfile native_sim_board() {
  std::string problem;
  auto profile = boards::load_board("native_sim", &problem);
  EXPECT_TRUE(profile.ok()) << problem;
  return *profile;
}

inline crypto::EcPrivateKey fixed_private_key(std::uint8_t seed) {
  crypto::EcPrivateKey key{};
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<std::uint8_t>(seed + 7 * i + 1);
  return key;
}

inline const std::string kDevice = "node-7";
inline const std::string kKid = "ops-1";

// One model as the operator ships it: container, ciphertext, content key.
struct Model {
  std::string id;
  std::uint64_t version = 0;
  ByteVector container;  // plaintext
  ByteVector payload;    // ciphertext || tag
  crypto::ContentKey content_key{};
  crypto::CcmNonce nonce{};
  std::vector<std::pair<ByteVector, ByteVector>> self_tests;
  std::uint32_t arena_bytes = 0;

  std::string digest_hex() const {
    const auto digest = crypto::Sha256::of(payload);
    std::string text(64, '\0');
    (void)hex::encode(digest, text);
    return text;
  }
};

// A seeded random autoencoder on the board's feature vector, hidden width `hidden`
// (a larger width gives a larger payload).
inline Model make_model(const std::string& id, std::uint64_t version, std::uint32_t seed,
                        std::size_t hidden = 8) {
  const std::size_t features = features::feature_count(3);
  const std::vector<std::size_t> widths = {features, hidden, features};
  auto random = modelkit::random_autoencoder(widths, seed);
  EXPECT_TRUE(random.ok());
  auto packed = modelkit::pack_autoencoder(random->model, random->calibration);
  EXPECT_TRUE(packed.ok());
  Model m;
  m.id = id;
  m.version = version;
  m.container = packed->container;
  m.arena_bytes = packed->arena_bytes;
  for (std::size_t i = 0; i < m.content_key.size(); ++i)
    m.content_key[i] = static_cast<std::uint8_t>(seed * 31 + i);
  for (std::size_t i = 0; i < m.nonce.size(); ++i)
    m.nonce[i] = static_cast<std::uint8_t>(seed + i);
  m.payload.resize(m.container.size() + crypto::kCcmTagSize);
  EXPECT_TRUE(
      crypto::seal_model_payload(m.content_key, m.nonce, m.id, m.container, m.payload).ok());
  // Self-test vectors from the int8 runtime itself, as spindlectl pack computes them.
  inference::Interpreter interpreter;
  std::vector<std::uint8_t> arena(64 * 1024);
  EXPECT_TRUE(interpreter.load(m.container, arena).ok());
  for (int t = 0; t < 2; ++t) {
    ByteVector input(interpreter.int8_input_size());
    for (std::size_t i = 0; i < input.size(); ++i)
      input[i] = static_cast<std::uint8_t>((i * 37 + static_cast<std::size_t>(t) * 11) & 0xFF);
    EXPECT_TRUE(
        interpreter.invoke_int8({reinterpret_cast<const std::int8_t*>(input.data()), input.size()})
            .ok());
    const auto out = interpreter.int8_output();
    m.self_tests.push_back(
        {input, ByteVector(reinterpret_cast<const std::uint8_t*>(out.data()),
                           reinterpret_cast<const std::uint8_t*>(out.data()) + out.size())});
  }
  return m;
}

// Everything the manifest says, with knobs for the bad-input tests.
struct ManifestOptions {
  std::string device = kDevice;
  std::uint8_t key_seed = 1;  // signing key
  std::string kid = kKid;
  std::optional<std::uint32_t> arena_bytes;  // default: the model's
  bool wrong_kek = false;
  bool bad_self_test = false;
  bool flip_signature = false;
  bool shadow = false;              // manifest key 13: run it in shadow
  manifest::Activation activation;  // manifest key 14: when it may take over
};

inline std::array<std::uint8_t, 16> device_kek() {
  std::array<std::uint8_t, 16> kek{};
  for (std::size_t i = 0; i < kek.size(); ++i)
    kek[i] = static_cast<std::uint8_t>(0xA0 + i);
  return kek;
}

inline ByteVector sign_manifest(const Model& model, const ManifestOptions& options = {}) {
  std::array<std::uint8_t, 16> kek = device_kek();
  if (options.wrong_kek) kek[0] ^= 1;
  std::array<std::uint8_t, 24> wrapped{};
  EXPECT_TRUE(crypto::aes_key_wrap(kek, model.content_key, wrapped).ok());
  const crypto::Digest digest = crypto::Sha256::of(model.payload);
  manifest::Manifest m;
  m.model_id = model.id;
  m.version = model.version;
  m.device_id = options.device;
  m.payload_digest = digest;
  m.payload_size = static_cast<std::uint32_t>(model.payload.size());
  m.encryption.nonce = model.nonce;
  m.encryption.wrapped_key = wrapped;
  m.requirements.arena_bytes = options.arena_bytes.value_or(model.arena_bytes);
  m.requirements.flash_bytes = m.payload_size;
  m.requirements.op_set = 0x2E;  // fully connected, relu, quantize, reconstruction error
  m.input = {static_cast<std::uint16_t>(features::feature_count(3)), 3200, 1024, 3};
  m.threshold = 1.0F;
  m.role = options.shadow ? manifest::ManifestRole::kShadow : manifest::ManifestRole::kActive;
  m.activation = options.activation;
  std::vector<ByteVector> expected;
  for (const auto& [input, output] : model.self_tests) {
    expected.push_back(output);
    if (options.bad_self_test) expected.back()[0] ^= 1;
  }
  m.self_test_count = model.self_tests.size();
  for (std::size_t i = 0; i < m.self_test_count; ++i)
    m.self_tests[i] = {model.self_tests[i].first, expected[i]};
  ByteVector payload(4096);
  const auto encoded = manifest::encode(m, payload);
  EXPECT_TRUE(encoded.ok()) << encoded.status().name();
  ByteVector out(4096 + cose::kSign1Overhead);
  const auto signed_bytes =
      cose::sign(fixed_private_key(options.key_seed), crypto::as_bytes(options.kid), *encoded, out);
  EXPECT_TRUE(signed_bytes.ok());
  ByteVector result(signed_bytes->begin(), signed_bytes->end());
  if (options.flip_signature) result.back() ^= 0x01;
  return result;
}

// A decision about `model` as spindlectl signs it, with knobs for the bad-input tests.
struct DecisionOptions {
  std::string device = kDevice;
  std::uint8_t key_seed = 1;
  std::string kid = kKid;
  bool wrong_digest = false;
  bool flip_signature = false;
};

inline ByteVector sign_decision(decision::Action action, const Model& model,
                                const DecisionOptions& options = {}) {
  crypto::Digest digest = crypto::Sha256::of(model.payload);
  if (options.wrong_digest) digest[0] ^= 1;
  decision::Decision d;
  d.device_id = options.device;
  d.action = action;
  d.model_id = model.id;
  d.version = model.version;
  d.payload_digest = digest;
  ByteVector out(decision::kMaxSignedSize);
  const auto signed_bytes =
      decision::sign(d, fixed_private_key(options.key_seed), crypto::as_bytes(options.kid), out);
  EXPECT_TRUE(signed_bytes.ok()) << signed_bytes.status().name();
  ByteVector result(signed_bytes->begin(), signed_bytes->end());
  if (options.flip_signature) result.back() ^= 0x01;
  return result;
}

// Serves payloads at m/<digest> the way the gateway does, and lets a test fail or corrupt
// chosen requests.
class BlockServer final : public BlockSource {
 public:
  void publish(const Model& model) { payloads_["m/" + model.digest_hex()] = model.payload; }

  Result<blockwise::Response> fetch(std::string_view path,
                                    const blockwise::BlockOption& block) override {
    ++requests_;
    requested_blocks_.push_back(block.num);
    if (fail_after_ >= 0 && requests_ > fail_after_) return Error::kUnavailable;
    const auto found = payloads_.find(std::string(path));
    blockwise::Response r;
    if (found == payloads_.end()) {
      r.code = blockwise::coap_code(4, 4);
      return r;
    }
    const ByteVector& bytes = found->second;
    const auto slice = blockwise::block2_slice(bytes.size(), block, blockwise::kMaxSzx);
    if (!slice.ok()) {
      r.code = blockwise::coap_code(4, 2);
      return r;
    }
    body_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(slice->offset),
                 bytes.begin() + static_cast<std::ptrdiff_t>(slice->offset + slice->length));
    if (corrupt_block_ && *corrupt_block_ == slice->option.num && !body_.empty()) {
      body_[body_.size() / 2] ^= 0x40;
      corrupt_block_.reset();  // once
    }
    const auto length = blockwise::encode_block_option(slice->option, option_);
    r.has_block2 = true;
    r.block2 = {option_.data(), *length};
    const auto digest = crypto::Sha256::of(bytes);
    std::copy(digest.begin(), digest.begin() + 8, etag_.begin());
    r.etag = etag_;
    r.has_size2 = true;
    r.size2 = static_cast<std::uint32_t>(bytes.size());
    r.payload = body_;
    return r;
  }

  int requests_ = 0;
  int fail_after_ = -1;  // requests answered before the link "goes down"
  std::optional<std::uint32_t> corrupt_block_;
  std::vector<std::uint32_t> requested_blocks_;

 private:
  std::map<std::string, ByteVector> payloads_;
  ByteVector body_;
  std::array<std::uint8_t, 3> option_{};
  std::array<std::uint8_t, 8> etag_{};
};

class RecordingReporter final : public Reporter {
 public:
  struct Entry {
    std::string model_id;
    std::uint64_t version = 0;
    status_report::InstallState state{};
    Error reason = Error::kOk;
    std::string detail;
  };
  void report(const status_report::UpdateReport& r) override {
    entries.push_back(
        {std::string(r.model_id), r.version, r.state, r.reason, std::string(r.detail)});
  }
  std::vector<std::string> states() const {
    std::vector<std::string> out;
    for (const auto& e : entries)
      out.emplace_back(status_report::install_state_name(e.state));
    return out;
  }
  std::vector<Entry> entries;
};

}  // namespace spindle::modelstore::test
