// spindlectl keygen and provision: the operator's signing key pair and the nodes' secrets.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <vector>

#include "command_line_private.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/cli/random.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/provisioning.hpp"

namespace spindle::ctl {
namespace {

void make_directory(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw std::runtime_error("cannot create --out-dir " + dir + ": " + error.message());
}

// A key from the gateway's answer: exactly `size` bytes in hex.
std::vector<std::uint8_t> key_bytes(const nlohmann::json& device, const char* field,
                                    std::size_t size) {
  const std::string text = device.value(field, std::string());
  std::vector<std::uint8_t> bytes(size + 1);
  const auto used = hex::decode(text, bytes);
  if (!used.ok() || *used != size) {
    throw std::runtime_error("the gateway's answer for " + device.value("id", std::string("?")) +
                             " has no " + std::to_string(size) + "-byte " + field);
  }
  bytes.resize(size);
  return bytes;
}

// The answer's key for the record; the setter refuses only what key_bytes already has.
void set_key(const Status& set, const nlohmann::json& device, const char* field) {
  if (!set.ok()) {
    throw std::runtime_error("the gateway's answer for " + device.value("id", std::string("?")) +
                             " has an unusable " + field + " (" + set.name() + ")");
  }
}

}  // namespace

int cmd_keygen(const Args& args) {
  std::string kid;
  std::string out_dir;
  bool force = false;
  po::options_description options("options");
  options.add_options()("help,h", "this help")("kid", po::value(&kid)->required(),
                                               "key id: names the files and the gateway's "
                                               "--trust-key KID=...")(
      "out-dir", po::value(&out_dir)->required(), "directory for KID.key and KID.pub")(
      "force", po::bool_switch(&force), "replace an existing key pair");
  po::variables_map vm;
  if (!parse_command(args,
                     "usage: spindlectl keygen --kid KID --out-dir DIR [--force]\n\n"
                     "Makes an ES256 (P-256) signing key pair: DIR/KID.key, the private scalar in "
                     "hex (mode 0600),\nand DIR/KID.pub, the SEC1 uncompressed public key in hex.",
                     options, &vm)) {
    return 0;
  }
  check_kid(kid);
  make_directory(out_dir);
  const std::string key_path = out_dir + "/" + kid + ".key";
  const std::string pub_path = out_dir + "/" + kid + ".pub";
  for (const std::string& path : {key_path, pub_path}) {
    if (!force && std::filesystem::exists(path)) {
      throw std::runtime_error(path +
                               " already exists: refusing to replace a signing key "
                               "(--force does; nodes and gateways that trust the old key then "
                               "refuse what the new one signs)");
    }
  }
  crypto::EcPrivateKey private_key{};
  crypto::EcPublicKey public_key{};
  if (const Status s =
          crypto::ec_generate({cli::system_random, nullptr}, &private_key, &public_key);
      !s.ok()) {
    throw std::runtime_error(std::string("generating the key pair failed: ") + s.name());
  }
  cli::write_text_file(key_path, cli::to_hex(private_key) + "\n", cli::Visibility::kSecret);
  cli::write_text_file(pub_path, cli::to_hex(public_key) + "\n");
  std::cout << "wrote " << key_path << " (private, mode 0600) and " << pub_path << "\n"
            << "trust it: spindle-gateway --trust-key " << kid << "=" << pub_path << "\n";
  return 0;
}

int cmd_provision(const Args& args) {
  GatewayOptions gateway_options;
  std::vector<std::string> devices;
  std::string coap_uri = "coaps://127.0.0.1:5684";
  std::vector<std::string> trust_specs;
  std::string out_dir;
  po::options_description options("options");
  options.add_options()("help,h", "this help")(
      "device", po::value(&devices)->required()->composing(), "device id (repeatable)")(
      "coap-uri", po::value(&coap_uri)->default_value(coap_uri),
      "the gateway as the nodes reach it: coaps://host:port (or coap:// for development)")(
      "trust-key", po::value(&trust_specs)->required()->composing(),
      "KID=PUBFILE: a signing key the nodes trust (repeatable)")(
      "out-dir", po::value(&out_dir)->required(), "directory for the ID.provision files");
  options.add(gateway_options.describe());
  po::variables_map vm;
  if (!parse_command(
          args,
          "usage: spindlectl provision --device ID [--device ID ...] --trust-key KID=PUBFILE\n"
          "                            --out-dir DIR [--coap-uri URI] --token-file FILE\n\n"
          "Provisions the devices on the gateway (idempotent: a known device gets its same keys)\n"
          "and writes each one's node provisioning file DIR/ID.provision (mode 0600), which\n"
          "spindle-node --provision reads.",
          options, &vm)) {
    return 0;
  }
  const std::vector<std::string> ids = checked_device_ids(devices);
  if (ids.size() > kMaxBatch) {
    throw cli::UsageError(std::to_string(ids.size()) + " devices: provision at most " +
                          std::to_string(kMaxBatch) + " per run");
  }
  // What every device's record shares, checked before the gateway is asked for anything.
  provisioning::Provisioning shared;
  if (!shared.set_gateway(coap_uri).ok()) {
    throw cli::UsageError(
        "--coap-uri '" + coap_uri + "' must start with coaps:// or coap:// and be at most " +
        std::to_string(provisioning::kMaxGatewayUriSize) + " characters without spaces");
  }
  for (const TrustKeySpec& key : parse_trust_keys(trust_specs)) {
    const Status added = shared.add_trust_key(key.kid, key.public_key);
    if (added == Error::kDuplicateKey) {
      throw cli::UsageError("--trust-key " + key.kid + " is given twice");
    }
    if (!added.ok()) {
      throw cli::UsageError("at most " + std::to_string(provisioning::kMaxTrustKeys) +
                            " --trust-key: a node holds no more");
    }
  }
  GatewayClient gateway = gateway_options.connect();
  make_directory(out_dir);

  nlohmann::json request = {{"devices", nlohmann::json::array()}};
  for (const std::string& id : ids)
    request["devices"].push_back({{"id", id}});
  const nlohmann::json answer =
      gateway.expect(gateway.post_json("/api/v1/devices", request), {200, 201}, "provisioning");
  if (!answer.contains("devices") || !answer["devices"].is_array()) {
    throw std::runtime_error("provisioning: the gateway's answer has no \"devices\" array");
  }
  for (const std::string& id : ids) {
    const auto device = std::find_if(answer["devices"].begin(), answer["devices"].end(),
                                     [&](const nlohmann::json& d) {
                                       return d.is_object() && d.value("id", std::string()) == id;
                                     });
    if (device == answer["devices"].end()) {
      throw std::runtime_error("provisioning: the gateway's answer leaves out " + id);
    }
    provisioning::Provisioning record = shared;
    set_key(record.set_device_id(id), *device, "id");
    set_key(record.set_psk(key_bytes(*device, "psk", 16)), *device, "psk");
    set_key(record.set_model_kek(key_bytes(*device, "model_kek", provisioning::kModelKekSize)),
            *device, "model_kek");
    set_key(record.set_attestation_key(
                key_bytes(*device, "attestation_key", provisioning::kAttestationKeySize)),
            *device, "attestation_key");
    std::string text(provisioning::kMaxFormattedSize, '\0');
    const auto used = provisioning::format(record, text);
    if (!used.ok()) {
      throw std::runtime_error("formatting the provisioning file of " + id +
                               " failed: " + used.status().name());
    }
    text.resize(*used);
    const std::string path = out_dir + "/" + id + ".provision";
    cli::write_text_file(path, text, cli::Visibility::kSecret);
    std::cout << id << ": "
              << (device->value("created", false) ? "provisioned" : "already provisioned")
              << ", wrote " << path << "\n";
  }
  return 0;
}

}  // namespace spindle::ctl
