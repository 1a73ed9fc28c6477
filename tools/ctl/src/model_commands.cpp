// spindlectl pack, push and deploy: a model container becomes a signed package, its
// ciphertext goes to the gateway, and each device gets a manifest signed for it.
#include <cmath>
#include <iostream>
#include <stdexcept>

#include "command_line_private.hpp"
#include "spindle/cli/board_file.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/ctl/pack.hpp"

namespace spindle::ctl {

std::string short_digest(const crypto::Digest& digest) {
  return cli::to_hex(digest).substr(0, 12);
}

bool model_on_gateway(GatewayClient& gateway, const std::string& digest) {
  const nlohmann::json answer =
      gateway.expect(gateway.get("/api/v1/models"), {200}, "listing models");
  for (const auto& model : answer.value("models", nlohmann::json::array())) {
    if (model.is_object() && model.value("digest", std::string()) == digest) return true;
  }
  return false;
}

// The model KEK of one device, from GET /api/v1/devices/{id}/keys.
ByteVector device_kek(GatewayClient& gateway, const std::string& device_id) {
  const std::string path = device_path(device_id) + "/keys";
  const ApiAnswer answer = gateway.get(path);
  if (answer.status == 404) {
    // Either the device is unknown, or the gateway predates the keys endpoint.
    if (gateway.get(device_path(device_id)).status == 404) not_provisioned(device_id);
    throw std::runtime_error("the gateway at " + gateway.url() + " has no GET " + path +
                             " (404: " + GatewayClient::error_of(answer) +
                             "): it is older than this spindlectl; upgrade spindle-gateway");
  }
  const nlohmann::json keys = gateway.expect(answer, {200}, "fetching the keys of " + device_id);
  const ByteVector kek =
      cli::parse_hex(keys.value("model_kek", std::string()), "the model_kek of " + device_id);
  if (kek.size() != 16) {
    throw std::runtime_error("the gateway's model_kek of " + device_id + " is " +
                             std::to_string(kek.size()) + " bytes, not 16");
  }
  return kek;
}

SigningPackage open_signing_package(const std::string& package_path, const std::string& key_path,
                                    const std::string& kid) {
  check_kid(kid);
  SigningPackage out;
  out.signing_key = read_signing_key(key_path);
  out.kid = kid;
  TrustKeySpec own{kid, {}};
  (void)crypto::ec_public_from_private(out.signing_key, &own.public_key);  // checked on reading
  out.package = load_package(package_path, {own});
  const auto content_key = unwrap_content_key(out.package.info, out.signing_key, kid);
  if (!content_key.ok() || !decrypt_payload(out.package, *content_key).ok()) {
    throw std::runtime_error(package_path + ": the content key does not unwrap with " + key_path +
                             " (" + content_key.status().name() +
                             "), or does not decrypt the model: the package is damaged");
  }
  out.content_key = *content_key;
  return out;
}

manifest::Activation activation_option(const std::string& text) {
  const auto activation = parse_activation(text);
  if (!activation.ok()) {
    throw cli::UsageError("--activation \"" + text +
                          "\" is not now, idle or window:HH:MM-HH:MM (UTC, start != end)");
  }
  return *activation;
}

ByteVector sign_device_manifest(const SigningPackage& signing, const std::string& device_id,
                                std::span<const std::uint8_t> kek, manifest::ManifestRole role,
                                const manifest::Activation& activation) {
  const auto manifest = device_manifest(signing.package.info, signing.content_key, device_id, kek,
                                        signing.signing_key, signing.kid, role, activation);
  if (manifest.status() == Status(Error::kOversize)) {
    throw std::runtime_error("the manifest for " + device_id + " would be larger than the " +
                             std::to_string(kMaxSignedManifestSize) +
                             " bytes a node keeps: pack with fewer --self-tests or no "
                             "--baseline");
  }
  if (!manifest.ok()) {
    throw std::runtime_error("building the manifest for " + device_id + ": " +
                             manifest.status().name());
  }
  return *manifest;
}

int cmd_pack(const Args& args) {
  std::string model_path, board_name, key_path, kid, baseline_path, calibration_path, out_path;
  PackRequest request;
  std::size_t self_tests = request.self_tests;
  bool shadow = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")(
      "model", po::value<std::string>(&model_path)->required(),
      "the plaintext model container (SPMC)")("model-id", po::value(&request.model_id)->required(),
                                              "model id (1..32 of A-Z a-z 0-9 . _ -)")(
      "version", po::value(&request.version)->required(),
      "version, above every version deployed before (anti-rollback)")(
      "board", po::value(&board_name)->required(),
      "the target board: a name under boards/ or a path to a board.conf")(
      "signing-key", po::value(&key_path), "the private key file (KID.key from keygen)")(
      "kid", po::value(&kid), "the signing key's id")(
      "shadow", po::bool_switch(&shadow),
      "also require that the model fits the board's shadow memory, to run beside the active "
      "model (spindlectl rollout start --shadow)")(
      "threshold", po::value(&request.threshold)->default_value(request.threshold),
      "anomaly score above which a window is flagged")(
      "baseline", po::value(&baseline_path),
      "training statistics: a CSV file of \"mean,stddev\" lines, one per feature")(
      "calibration", po::value(&calibration_path),
      "per-machine calibration (the trainer's DIR/calibration file): nodes adapt the model to "
      "their machine before raising alarms; needs --baseline")(
      "self-tests", po::value(&self_tests)->default_value(self_tests),
      "self-test vectors to compute and ship, 0..4")(
      "seed", po::value(&request.seed)->default_value(request.seed),
      "seed of the self-test inputs")("out", po::value(&out_path)->required(),
                                      "the package file to write (.spkg)");
  po::variables_map vm;
  if (!parse_command(
          args,
          "usage: spindlectl pack --model FILE --model-id ID --version N --board NAME|PATH\n"
          "                       --signing-key KID.key --kid KID --out FILE.spkg\n"
          "                       [--threshold X] [--baseline FILE] [--calibration FILE]\n"
          "                       [--self-tests N] [--seed S]\n\n"
          "Checks the model against the board's budgets (arena, op set, slot size, feature\n"
          "vector), computes self-test vectors with the node's int8 runtime, encrypts the model\n"
          "under a fresh content key and signs the package.",
          options, &vm)) {
    return 0;
  }
  if (key_path.empty() || kid.empty()) {
    throw cli::UsageError(
        "pack needs --signing-key KID.key and --kid KID: every package is signed (make a key "
        "pair with spindlectl keygen)");
  }
  check_kid(kid);
  if (self_tests > kMaxSelfTests) {
    throw cli::UsageError("--self-tests " + std::to_string(self_tests) + ": give 0.." +
                          std::to_string(kMaxSelfTests));
  }
  if (!std::isfinite(request.threshold)) throw cli::UsageError("--threshold must be finite");
  request.self_tests = self_tests;
  request.board = cli::load_board(board_name);
  const crypto::EcPrivateKey signing_key = read_signing_key(key_path);
  request.container = cli::read_file(model_path);
  if (!baseline_path.empty()) {
    const ByteVector text = cli::read_file(baseline_path);
    request.baseline = parse_baseline_csv({reinterpret_cast<const char*>(text.data()), text.size()},
                                          baseline_path);
  }
  if (!calibration_path.empty()) {
    const ByteVector text = cli::read_file(calibration_path);
    request.calibration = parse_calibration(
        {reinterpret_cast<const char*>(text.data()), text.size()}, calibration_path);
    request.has_calibration = true;
  }

  std::vector<std::string> notes;
  ByteVector file;
  try {
    if (shadow) {
      std::vector<std::string> ignored;
      PackageInfo info = describe_model(request, &ignored);
      info.payload_size =
          static_cast<std::uint32_t>(request.container.size() + crypto::kCcmTagSize);
      check_shadow_fit(info, request.board);
    }
    file = pack(request, signing_key, kid, &notes);
  } catch (const PackRefused& e) {
    throw std::runtime_error(model_path + " refused for board " +
                             std::string(request.board.name()) + ": " + e.what());
  }
  for (const std::string& note : notes)
    std::cerr << "spindlectl pack: note: " << note << "\n";
  cli::write_file(out_path, file);
  const Package package = load_package(out_path, {});
  const PackageInfo& info = package.info;
  std::cout << "packed " << info.model_id << " v" << info.version << " for " << info.board << " -> "
            << out_path << "\n  payload " << info.payload_size << " bytes of "
            << request.board.model_capacity() << ", arena " << info.requirements.arena_bytes
            << " of " << request.board.model_arena_bytes << " bytes, " << info.input.feature_count
            << " features, " << info.self_tests.size() << " self-tests, " << info.baseline.size()
            << " baseline rows" << (info.has_calibration ? ", per-machine calibration" : "")
            << "\n  digest " << cli::to_hex(info.payload_digest) << ", signed by " << kid << "\n";
  return 0;
}

int cmd_push(const Args& args) {
  GatewayOptions gateway_options;
  std::string package_path;
  std::vector<std::string> trust_specs;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("package", po::value(&package_path)->required(),
                                               "the package (.spkg)")(
      "trust-key", po::value(&trust_specs)->composing(),
      "KID=PUBFILE: verify the package's signature first (repeatable)");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(args,
                     "usage: spindlectl push --package FILE.spkg [--trust-key KID=PUBFILE] "
                     "--token-file FILE\n\n"
                     "Uploads the package's encrypted model to the gateway (idempotent) and "
                     "prints its digest.",
                     options, &vm)) {
    return 0;
  }
  const Package package = load_package(package_path, parse_trust_keys(trust_specs));
  GatewayClient gateway = gateway_options.connect();
  const bool created = upload_model(gateway, package);
  std::cout << package.info.model_id << " v" << package.info.version << ": "
            << cli::to_hex(package.info.payload_digest) << " (" << package.info.payload_size
            << " bytes) " << (created ? "uploaded" : "was already on the gateway") << "\n";
  return 0;
}

int cmd_deploy(const Args& args) {
  GatewayOptions gateway_options;
  std::string package_path, key_path, kid, activation_text = "now";
  std::vector<std::string> devices;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("package", po::value(&package_path)->required(),
                                               "the package (.spkg)")(
      "signing-key", po::value(&key_path)->required(), "the private key that signed it (KID.key)")(
      "kid", po::value(&kid)->required(), "its key id")(
      "device", po::value(&devices)->required()->composing(), "target device id (repeatable)")(
      "activation", po::value(&activation_text)->default_value(activation_text), kActivationHelp);
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(
          args,
          "usage: spindlectl deploy --package FILE.spkg --signing-key KID.key --kid KID\n"
          "                         --device ID [--device ID ...] [--activation WHEN]\n"
          "                         --token-file FILE\n\n"
          "Verifies the package, signs one manifest per device (the content key wrapped with\n"
          "that device's key) and deploys them in one request; uploads the model first if the\n"
          "gateway does not have it.",
          options, &vm)) {
    return 0;
  }
  const manifest::Activation activation = activation_option(activation_text);
  const std::vector<std::string> ids = checked_device_ids(devices);
  if (ids.size() > kMaxBatch) {
    throw cli::UsageError(std::to_string(ids.size()) + " devices: deploy to at most " +
                          std::to_string(kMaxBatch) + " per run");
  }
  const SigningPackage signing = open_signing_package(package_path, key_path, kid);
  const Package& package = signing.package;
  const PackageInfo& info = package.info;
  GatewayClient gateway = gateway_options.connect();
  nlohmann::json request = {{"deployments", nlohmann::json::array()}};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const ByteVector kek = device_kek(gateway, ids[i]);
    const ByteVector manifest =
        sign_device_manifest(signing, ids[i], kek, manifest::ManifestRole::kActive, activation);
    request["deployments"].push_back({{"manifest", cli::to_hex(manifest)}});
    std::cerr << "spindlectl deploy: [" << i + 1 << "/" << ids.size() << "] " << ids[i]
              << ": manifest signed (" << manifest.size() << " bytes)\n";
  }
  // Every device is known before anything is written to the gateway.
  const std::string digest = cli::to_hex(info.payload_digest);
  if (!model_on_gateway(gateway, digest)) {
    std::cerr << "spindlectl deploy: model " << digest << " is not on the gateway yet: pushing it "
              << "first\n";
    (void)upload_model(gateway, package);
  }
  const ApiAnswer answer = gateway.post_json("/api/v1/deployments", request);
  if (answer.status == 409) {
    throw std::runtime_error("deploying " + info.model_id + " v" + std::to_string(info.version) +
                             ": " + GatewayClient::error_of(answer) +
                             " (pack the model again with a higher --version)");
  }
  const nlohmann::json stored = gateway.expect(answer, {200, 201}, "deploying " + info.model_id);
  for (const auto& deployment : stored.value("deployments", nlohmann::json::array())) {
    std::cout << deployment.value("device", std::string("?")) << ": deployment "
              << deployment.value("id", 0) << ", " << info.model_id << " v" << info.version
              << " (model " << short_digest(info.payload_digest) << ") pending\n";
  }
  return 0;
}

}  // namespace spindle::ctl
