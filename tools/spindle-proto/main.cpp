// spindle-proto: Spindle's protocol module on the command line.
//
// Keys and other short secrets are exchanged as hex text files so that shell scripts and
// the Python interop tests can read and write them without a CBOR or PEM library.
#include <sys/random.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "golden_examples.hpp"
#include "spindle/cli/random.hpp"
#include "spindle/host/files.hpp"
#include "spindle/host/text.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"

namespace po = boost::program_options;
using namespace spindle;
using ByteVector = std::vector<std::uint8_t>;

namespace {

// A failure the user can act on: printed as "spindle-proto: <message>", exit status 1.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void fail(const std::string& message) {
  throw UsageError(message);
}

void check(Status status, const std::string& what) {
  if (!status.ok()) fail(what + ": " + status.name());
}

// The tool's own error style over spindle::host's files and hex.
ByteVector read_file(const std::string& path) {
  std::string problem;
  auto bytes = host::read_file(path, &problem);
  if (!bytes.ok()) fail(problem);
  return std::move(bytes).value();
}

void write_file(const std::string& path, std::span<const std::uint8_t> bytes) {
  std::string problem;
  if (!host::write_file(path, bytes, host::Visibility::kPublic, host::Existing::kReplace, &problem)
           .ok()) {
    fail(problem);
  }
}

using host::to_hex;

ByteVector from_hex(const std::string& text, const std::string& what) {
  auto bytes = host::parse_hex(text);
  if (!bytes.ok()) fail(what + " is not hex (" + bytes.status().name() + ")");
  return std::move(bytes).value();
}

ByteVector read_hex_file(const std::string& path) {
  const ByteVector raw = read_file(path);
  return from_hex(std::string(raw.begin(), raw.end()), path);
}

void write_hex_file(const std::string& path, std::span<const std::uint8_t> bytes) {
  const std::string text = to_hex(bytes) + "\n";
  write_file(path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

template <std::size_t N>
std::array<std::uint8_t, N> exactly(const ByteVector& bytes, const std::string& what) {
  if (bytes.size() != N) {
    fail(what + " must be " + std::to_string(N) + " bytes, got " + std::to_string(bytes.size()));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

using cli::random_bytes;
using cli::system_random;

crypto::KeyPurpose parse_purpose(const std::string& name) {
  for (const auto p : {crypto::KeyPurpose::kModelKek, crypto::KeyPurpose::kDtlsPsk,
                       crypto::KeyPurpose::kAttestation}) {
    if (crypto::key_purpose_label(p) == name) return p;
  }
  fail("unknown key purpose '" + name + "' (use model-kek, dtls-psk or attestation)");
}

// ---- the encrypted model payload: ciphertext || tag, bound to the model id (the rule is
// crypto::seal_model_payload's), content key wrapped for one device ----

struct Sealed {
  ByteVector ciphertext;
  crypto::CcmNonce nonce{};
  std::array<std::uint8_t, crypto::kContentKeySize + crypto::kKeyWrapOverhead> wrapped_key{};
};

Sealed seal(std::span<const std::uint8_t> kek, std::string_view model_id,
            std::span<const std::uint8_t> plaintext) {
  Sealed sealed;
  const crypto::ContentKey content_key = random_bytes<crypto::kContentKeySize>();
  sealed.nonce = random_bytes<crypto::kCcmNonceSize>();
  sealed.ciphertext.resize(plaintext.size() + crypto::kCcmTagSize);
  check(
      crypto::seal_model_payload(content_key, sealed.nonce, model_id, plaintext, sealed.ciphertext),
      "encrypting the payload");
  check(crypto::aes_key_wrap(kek, content_key, sealed.wrapped_key), "wrapping the content key");
  return sealed;
}

ByteVector unseal(std::span<const std::uint8_t> kek, const crypto::CcmNonce& nonce,
                  std::span<const std::uint8_t> wrapped_key, std::string_view model_id,
                  std::span<const std::uint8_t> ciphertext) {
  crypto::ContentKey content_key{};
  check(crypto::aes_key_unwrap(kek, wrapped_key, content_key),
        "unwrapping the content key (wrong device key?)");
  if (ciphertext.size() < crypto::kCcmTagSize) fail("ciphertext shorter than its tag");
  ByteVector plaintext(ciphertext.size() - crypto::kCcmTagSize);
  check(crypto::open_model_payload(content_key, nonce, model_id, ciphertext, plaintext),
        "decrypting the payload (wrong model id, or altered?)");
  return plaintext;
}

// ---- commands ----

using Args = std::vector<std::string>;

po::variables_map parse(const Args& args, const po::options_description& options) {
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(options).run(), vm);
  if (vm.count("help")) {
    std::cout << options;
    std::exit(0);
  }
  po::notify(vm);
  return vm;
}

int cmd_keygen(const Args& args) {
  std::string private_path;
  std::string public_path;
  po::options_description o("spindle-proto keygen: make an ES256 signing key pair (hex files)");
  o.add_options()("help", "this help")("private", po::value(&private_path)->required(),
                                       "private key file to write (keep secret)")(
      "public", po::value(&public_path)->required(), "public key file to write");
  parse(args, o);
  crypto::EcPrivateKey priv{};
  crypto::EcPublicKey pub{};
  check(crypto::ec_generate({system_random, nullptr}, &priv, &pub), "generating the key pair");
  write_hex_file(private_path, priv);
  write_hex_file(public_path, pub);
  std::cout << "wrote " << private_path << " and " << public_path << "\n";
  return 0;
}

int cmd_derive(const Args& args) {
  std::string master_path;
  std::string device;
  std::string purpose;
  std::size_t length = 16;
  po::options_description o("spindle-proto derive: derive a per-device key (HKDF-SHA256)");
  o.add_options()("help", "this help")("master", po::value(&master_path)->required(),
                                       "site master secret (hex file)")(
      "device", po::value(&device)->required(), "device id")(
      "purpose", po::value(&purpose)->required(), "model-kek | dtls-psk | attestation")(
      "length", po::value(&length)->default_value(16), "key length in bytes");
  parse(args, o);
  const ByteVector master = read_hex_file(master_path);
  ByteVector key(length);
  check(crypto::derive_device_key(master, device, parse_purpose(purpose), key), "deriving");
  std::cout << to_hex(key) << "\n";
  return 0;
}

int cmd_sign(const Args& args) {
  std::string key_path, kid, in, out;
  po::options_description o("spindle-proto sign: wrap a payload in COSE_Sign1 (ES256)");
  o.add_options()("help", "this help")("key", po::value(&key_path)->required(),
                                       "private key (hex file)")(
      "kid", po::value(&kid)->required(), "key id to put in the protected header")(
      "in", po::value(&in)->required(), "payload file")("out", po::value(&out)->required(),
                                                        "COSE_Sign1 file to write");
  parse(args, o);
  const auto key = exactly<crypto::kEcPrivateKeySize>(read_hex_file(key_path), key_path);
  const ByteVector payload = read_file(in);
  ByteVector buffer(payload.size() + cose::kSign1Overhead);
  const auto signed_message = cose::sign(key, crypto::as_bytes(kid), payload, buffer);
  check(signed_message.status(), "signing");
  write_file(out, *signed_message);
  return 0;
}

int cmd_verify(const Args& args) {
  std::string public_path, kid, in, payload_out;
  po::options_description o("spindle-proto verify: verify a COSE_Sign1 against a trusted key");
  o.add_options()("help", "this help")("public", po::value(&public_path)->required(),
                                       "trusted public key (hex file)")(
      "kid", po::value(&kid)->required(), "the key id the trusted key is known by")(
      "in", po::value(&in)->required(), "COSE_Sign1 file")("payload-out", po::value(&payload_out),
                                                           "write the verified payload here");
  parse(args, o);
  const cose::TrustedKey trusted{
      crypto::as_bytes(kid),
      exactly<crypto::kEcPublicKeySize>(read_hex_file(public_path), public_path)};
  const ByteVector message = read_file(in);
  const auto verified = cose::verify(message, {&trusted, 1});
  check(verified.status(), "verification failed");
  if (!payload_out.empty()) write_file(payload_out, verified->payload);
  std::cout << "verified: kid " << kid << ", payload " << verified->payload.size() << " bytes\n";
  return 0;
}

// The payload is bound to the model id a manifest will name (AES-CCM associated data), so
// encrypt and decrypt need it; an empty one is refused here with a message, not as the
// bare invalid-value seal_model_payload would give.
const char* const kModelIdHelp =
    "model id the payload is bound to (AES-CCM associated data); the manifest must name "
    "the same id or the node cannot decrypt it";

std::string required_model_id(const std::string& model_id) {
  if (model_id.empty()) fail("--model-id must not be empty: the payload is bound to it");
  return model_id;
}

int cmd_encrypt(const Args& args) {
  std::string kek_path, model_id, in, out;
  po::options_description o(
      "spindle-proto encrypt: AES-CCM-encrypt a model payload under a fresh content key, bound "
      "to its model id, and wrap that key (AES-KW) for one device. Prints nonce and wrapped key "
      "as hex.");
  o.add_options()("help", "this help")("kek", po::value(&kek_path)->required(),
                                       "the device's model key-encryption key (hex file)")(
      "model-id", po::value(&model_id)->required(), kModelIdHelp)(
      "in", po::value(&in)->required(), "plaintext file")("out", po::value(&out)->required(),
                                                          "ciphertext file to write");
  parse(args, o);
  const Sealed sealed = seal(read_hex_file(kek_path), required_model_id(model_id), read_file(in));
  write_file(out, sealed.ciphertext);
  std::cout << "nonce " << to_hex(sealed.nonce) << "\nwrapped_key " << to_hex(sealed.wrapped_key)
            << "\n";
  return 0;
}

int cmd_decrypt(const Args& args) {
  std::string kek_path, model_id, nonce, wrapped, in, out;
  po::options_description o(
      "spindle-proto decrypt: unwrap the content key and decrypt a model payload as a node "
      "does");
  o.add_options()("help", "this help")("kek", po::value(&kek_path)->required(),
                                       "the device's model key-encryption key (hex file)")(
      "model-id", po::value(&model_id)->required(), kModelIdHelp)(
      "nonce", po::value(&nonce)->required(), "nonce (hex)")(
      "wrapped-key", po::value(&wrapped)->required(), "wrapped content key (hex)")(
      "in", po::value(&in)->required(), "ciphertext file")("out", po::value(&out)->required(),
                                                           "plaintext file to write");
  parse(args, o);
  const ByteVector plaintext = unseal(
      read_hex_file(kek_path), exactly<crypto::kCcmNonceSize>(from_hex(nonce, "nonce"), "nonce"),
      from_hex(wrapped, "wrapped key"), required_model_id(model_id), read_file(in));
  write_file(out, plaintext);
  return 0;
}

void print_manifest(const manifest::Manifest& m) {
  std::cout << "manifest: model " << m.model_id << " v" << m.version << " for " << m.device_id
            << "\n  payload " << m.payload_size << " bytes, sha256 " << to_hex(m.payload_digest)
            << "\n  needs arena " << m.requirements.arena_bytes << " B, flash "
            << m.requirements.flash_bytes << " B, ops 0x" << std::hex << m.requirements.op_set
            << std::dec << "\n  input " << m.input.feature_count << " features, "
            << m.input.sample_rate_hz << " Hz, window " << m.input.window_length << ", "
            << unsigned{m.input.axes} << " axes; threshold " << m.threshold << "\n  baseline "
            << m.baseline_count << " features, " << m.self_test_count << " self-test vectors\n";
}

int cmd_decode(const Args& args) {
  std::string type, in;
  po::options_description o(
      "spindle-proto decode: decode a message strictly and print it (or the reason it is "
      "refused)");
  o.add_options()("help", "this help")("type", po::value(&type)->required(),
                                       "registration | manifest | cose | status | telemetry")(
      "in", po::value(&in)->required(), "message file");
  parse(args, o);
  const ByteVector bytes = read_file(in);
  if (type == "manifest") {
    const auto m = manifest::decode(bytes);
    check(m.status(), "manifest refused");
    print_manifest(*m);
  } else if (type == "cose") {
    const auto s = cose::decode(bytes);
    check(s.status(), "COSE_Sign1 refused");
    std::cout << "COSE_Sign1: alg " << s->alg << ", kid "
              << std::string(s->kid.begin(), s->kid.end()) << ", payload " << s->payload.size()
              << " bytes (signature not checked; use verify)\n";
  } else if (type == "registration") {
    const auto r = registration::decode(bytes);
    check(r.status(), "registration refused");
    std::cout << "registration: board " << r->board << ", firmware " << r->firmware_version
              << ", active slot " << r->active_slot << "\n";
    for (std::size_t i = 0; i < r->slots.size(); ++i) {
      std::cout << "  slot " << i << ": state " << unsigned(r->slots[i].state) << " "
                << r->slots[i].model_id << " v" << r->slots[i].version << "\n";
    }
  } else if (type == "status") {
    const auto s = status_report::decode(bytes);
    check(s.status(), "status report refused");
    if (s->kind == status_report::Kind::kUpdate) {
      std::cout << "update: " << s->update.model_id << " v" << s->update.version << " state "
                << unsigned(s->update.state) << " reason " << error_name(s->update.reason) << " "
                << s->update.detail << "\n";
    } else {
      std::cout << "attestation: nonce " << to_hex(s->attestation.nonce) << " digest "
                << to_hex(s->attestation.active_digest) << " firmware "
                << s->attestation.firmware_version << "\n";
    }
  } else if (type == "telemetry") {
    std::vector<senml::Record> records(256);
    const auto n = senml::decode(bytes, records);
    check(n.status(), "telemetry refused");
    for (std::size_t i = 0; i < *n; ++i) {
      const auto& r = records[i];
      std::cout << r.base_name << r.name << " = " << r.resolved_number() << " " << r.resolved_unit()
                << " at " << std::fixed << r.resolved_time() << std::defaultfloat
                << (r.has_seq ? " seq " + std::to_string(r.seq) : "") << "\n";
    }
  } else {
    fail("unknown message type '" + type + "'");
  }
  return 0;
}

int cmd_vectors(const Args& args) {
  std::string dir;
  po::options_description o("spindle-proto vectors: write the golden vectors and descriptions");
  o.add_options()("help", "this help")("out", po::value(&dir)->required(), "directory");
  parse(args, o);
  std::filesystem::create_directories(dir);
  for (const auto& v : examples::golden_vectors()) {
    write_file(dir + "/" + v.file, v.bytes);
    const std::string md = "# " + v.file + "\n\n" + v.description + "\n\n" +
                           std::to_string(v.bytes.size()) + " bytes, SHA-256 " +
                           to_hex(crypto::Sha256::of(v.bytes)) +
                           ".\n\nInputs: `protocol/examples/golden_examples.cpp`. Regenerate with "
                           "`spindle-proto vectors --out protocol/vectors`.\n";
    write_file(dir + "/" + v.file + ".md",
               {reinterpret_cast<const std::uint8_t*>(md.data()), md.size()});
    std::cout << v.file << " (" << v.bytes.size() << " bytes)\n";
  }
  return 0;
}

// A narrated walk through what the protocol module guarantees, on fixed demo inputs.
int cmd_demo(const Args& args) {
  po::options_description o(
      "spindle-proto demo: package, sign, encrypt, verify and decrypt a model");
  o.add_options()("help", "this help");
  parse(args, o);
  const std::string device = "node-0001";
  const ByteVector master = examples::test_master_secret();
  std::array<std::uint8_t, 16> kek{};
  check(crypto::derive_device_key(master, device, crypto::KeyPurpose::kModelKek, kek), "derive");
  std::cout << "1. derived the model key-encryption key of " << device
            << " from the site master secret (HKDF-SHA256)\n";

  const std::string model_id = "vib-ae";
  ByteVector model(4096);
  for (std::size_t i = 0; i < model.size(); ++i)
    model[i] = static_cast<std::uint8_t>(i * 7 + 3);
  const Sealed sealed = seal(kek, model_id, model);
  const crypto::Digest digest = crypto::Sha256::of(sealed.ciphertext);
  std::cout << "2. encrypted a " << model.size() << "-byte model " << model_id
            << " with AES-CCM under a fresh content key (the model id as associated data) and "
            << "wrapped that key for " << device << " (AES-KW)\n";

  manifest::Manifest m;
  m.model_id = model_id;
  m.version = 7;
  m.device_id = device;
  m.payload_digest = digest;
  m.payload_size = static_cast<std::uint32_t>(sealed.ciphertext.size());
  m.encryption.nonce = sealed.nonce;
  m.encryption.wrapped_key = sealed.wrapped_key;
  m.requirements = {.arena_bytes = 4096, .flash_bytes = 8192, .op_set = 0x1f};
  m.input = {.feature_count = 8, .sample_rate_hz = 3200, .window_length = 1024, .axes = 3};
  m.threshold = 0.8F;
  std::array<std::uint8_t, 1024> manifest_buffer{};
  const auto payload = manifest::encode(m, manifest_buffer);
  check(payload.status(), "encode manifest");
  std::array<std::uint8_t, 1024 + cose::kSign1Overhead> signed_buffer{};
  const std::string kid = examples::test_signing_kid();
  const auto signed_manifest =
      cose::sign(examples::test_signing_key(), crypto::as_bytes(kid), *payload, signed_buffer);
  check(signed_manifest.status(), "sign manifest");
  std::cout << "3. signed the manifest (" << payload->size()
            << " bytes) as COSE_Sign1/ES256: " << signed_manifest->size() << " bytes\n";

  crypto::EcPublicKey pub{};
  check(crypto::ec_public_from_private(examples::test_signing_key(), &pub), "public key");
  const cose::TrustedKey trusted{crypto::as_bytes(kid), pub};
  const auto verified = cose::verify(*signed_manifest, {&trusted, 1});
  check(verified.status(), "verify");
  const auto decoded = manifest::decode(verified->payload);
  check(decoded.status(), "decode manifest");
  std::cout << "4. node side: signature verified, manifest decoded:\n";
  print_manifest(*decoded);

  const bool digest_ok =
      crypto::equal_constant_time(crypto::Sha256::of(sealed.ciphertext), decoded->payload_digest);
  const ByteVector plain = unseal(
      kek,
      exactly<crypto::kCcmNonceSize>(
          ByteVector(decoded->encryption.nonce.begin(), decoded->encryption.nonce.end()), "nonce"),
      decoded->encryption.wrapped_key, decoded->model_id, sealed.ciphertext);
  std::cout << "5. payload digest " << (digest_ok ? "matches" : "DOES NOT MATCH")
            << "; decrypted model is " << (plain == model ? "byte-exact" : "DIFFERENT") << "\n";

  std::cout << "6. what a node refuses:\n";
  ByteVector tampered(signed_manifest->begin(), signed_manifest->end());
  tampered[tampered.size() - 80] ^= 1;  // a byte of the signed payload
  std::cout << "   a manifest altered in transit: "
            << cose::verify(tampered, {&trusted, 1}).status().name() << "\n";
  const cose::TrustedKey other{crypto::as_bytes("another-site"), pub};
  std::cout << "   a manifest signed by a key it does not trust: "
            << cose::verify(*signed_manifest, {&other, 1}).status().name() << "\n";
  std::array<std::uint8_t, 16> other_kek{};
  check(crypto::derive_device_key(master, "node-0002", crypto::KeyPurpose::kModelKek, other_kek),
        "derive");
  crypto::ContentKey stolen{};
  std::cout << "   node-0002 unwrapping the content key meant for " << device << ": "
            << crypto::aes_key_unwrap(other_kek, decoded->encryption.wrapped_key, stolen).name()
            << "\n";
  crypto::ContentKey content_key{};
  check(crypto::aes_key_unwrap(kek, decoded->encryption.wrapped_key, content_key), "unwrap");
  ByteVector relabelled(model.size());
  std::cout << "   this payload under a manifest that names another model: "
            << crypto::open_model_payload(content_key, sealed.nonce, "vib-ae-copy",
                                          sealed.ciphertext, relabelled)
                   .name()
            << "\n";
  return digest_ok && plain == model ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  static const std::map<std::string, int (*)(const Args&)> kCommands = {
      {"keygen", cmd_keygen}, {"derive", cmd_derive},   {"sign", cmd_sign},
      {"verify", cmd_verify}, {"encrypt", cmd_encrypt}, {"decrypt", cmd_decrypt},
      {"decode", cmd_decode}, {"vectors", cmd_vectors}, {"demo", cmd_demo},
  };
  const std::string usage =
      "usage: spindle-proto <command> [options]   (spindle-proto <command> --help)\n"
      "commands: keygen derive sign verify encrypt decrypt decode vectors demo\n";
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << usage;
    return argc < 2 ? 2 : 0;
  }
  const auto command = kCommands.find(argv[1]);
  if (command == kCommands.end()) {
    std::cerr << "spindle-proto: unknown command '" << argv[1] << "'\n" << usage;
    return 2;
  }
  try {
    return command->second(Args(argv + 2, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "spindle-proto " << argv[1] << ": " << e.what() << "\n";
    return 1;
  } catch (const po::error& e) {
    std::cerr << "spindle-proto " << argv[1] << ": " << e.what() << " (see --help)\n";
    return 2;
  }
}
