#include <iostream>
#include <set>
#include <stdexcept>

#include "command_line_private.hpp"

#include "spindle/cli/command_line.hpp"
#include "spindle/cli/files.hpp"
#include "spindle/cli/guarded_main.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::ctl {

bool parse_command(const Args& args, const std::string& usage,
                   const po::options_description& options, po::variables_map* vm) {
  return cli::parse_or_help(po::command_line_parser(args), options, vm, usage);
}

po::options_description GatewayOptions::describe() {
  po::options_description options("gateway");
  options.add_options()("api", po::value(&api)->default_value(api),
                        "the gateway's operator API (--http-address:--http-port)")(
      "token-file", po::value(&token_file),
      "file holding the API bearer token (the gateway writes DATA-DIR/api-token)");
  return options;
}

GatewayClient GatewayOptions::connect() const {
  if (token_file.empty()) {
    throw cli::UsageError(
        "--token-file is required to talk to the gateway: give the gateway's "
        "DATA-DIR/api-token");
  }
  return GatewayClient(api, cli::read_trimmed_text(token_file));
}

std::vector<TrustKeySpec> parse_trust_keys(const std::vector<std::string>& specs) {
  std::vector<TrustKeySpec> keys;
  for (const std::string& spec : specs) {
    const auto equals = spec.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
      throw cli::UsageError("--trust-key '" + spec + "' is not KID=PUBFILE");
    }
    TrustKeySpec key;
    key.kid = spec.substr(0, equals);
    check_kid(key.kid);
    key.public_key = cli::read_hex_key<crypto::kEcPublicKeySize>(
        spec.substr(equals + 1), "a public key (65-byte SEC1 P-256 point in hex, KID.pub)");
    keys.push_back(key);
  }
  return keys;
}

std::vector<std::string> checked_device_ids(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& id : ids) {
    if (const Status s = check_id(id); !s.ok()) {
      throw cli::UsageError("--device '" + id + "' is not a device id (" + s.name() +
                            "): ids are 1.." + std::to_string(kMaxIdSize) +
                            " characters of A-Z a-z 0-9 . _ -");
    }
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

void check_kid(const std::string& kid) {
  if (const Status s = check_id(kid); !s.ok()) {
    throw cli::UsageError("key id '" + kid + "' is not valid (" + s.name() + "): use 1.." +
                          std::to_string(kMaxIdSize) + " characters of A-Z a-z 0-9 . _ -");
  }
}

crypto::EcPrivateKey read_signing_key(const std::string& path) {
  const auto key = cli::read_hex_key<crypto::kEcPrivateKeySize>(
      path, "a signing key (32-byte P-256 private scalar in hex, KID.key)");
  crypto::EcPublicKey unused{};
  if (!crypto::ec_public_from_private(key, &unused).ok()) {
    throw std::invalid_argument(path + " is not a valid P-256 private key");
  }
  return key;
}

std::string device_path(const std::string& device_id) {
  return "/api/v1/devices/" + device_id;
}

void not_provisioned(const std::string& device_id) {
  throw std::runtime_error("device " + device_id +
                           " is not provisioned: run spindlectl provision " + "--device " +
                           device_id);
}

Package load_package(const std::string& path, const std::vector<TrustKeySpec>& trusted) {
  const ByteVector file = cli::read_file(path);
  const auto fail = [&](Status status, const std::string& kid) -> Package {
    switch (status.error()) {
      case Error::kBadMagic:
        throw std::runtime_error(path + " is not a Spindle package (spindlectl pack writes them)");
      case Error::kUnsupportedVersion:
        throw std::runtime_error(path + " is in a package format this spindlectl does not read");
      case Error::kSizeMismatch:
      case Error::kDigestMismatch:
        throw std::runtime_error(path + ": the encrypted model does not match its signed " +
                                 (status.error() == Error::kSizeMismatch ? "size" : "digest") +
                                 " (" + status.name() + "): the file is damaged or altered");
      case Error::kUnknownKey:
        throw std::runtime_error(path + " is signed by key '" + kid +
                                 "', which is not a trusted key here (--trust-key " + kid +
                                 "=PUBFILE, or --kid)");
      case Error::kBadSignature:
        throw std::runtime_error(path + ": the signature does not verify with key '" + kid +
                                 "': the package was altered, or signed by another key of that id");
      default:
        throw std::runtime_error(path + " is not a valid package (" + status.name() + ")");
    }
  };
  auto decoded = read_package(file);
  if (!decoded.ok()) return fail(decoded.status(), "");
  if (trusted.empty()) return std::move(decoded).value();
  std::vector<cose::TrustedKey> keys;
  for (const TrustKeySpec& key : trusted)
    keys.push_back({crypto::as_bytes(key.kid), key.public_key});
  auto verified = verify_package(file, keys);
  if (!verified.ok()) return fail(verified.status(), decoded->kid);
  return std::move(verified).value();
}

bool upload_model(GatewayClient& gateway, const Package& package) {
  const std::string digest = cli::to_hex(package.info.payload_digest);
  int last_percent = -1;
  const ApiAnswer answer =
      gateway.post_bytes("/api/v1/models?model_id=" + package.info.model_id, package.ciphertext,
                         [&](std::size_t sent, std::size_t total) {
                           const int percent = static_cast<int>(100 * sent / total);
                           if (percent == last_percent) return;
                           last_percent = percent;
                           std::cerr << "\rspindlectl: uploading " << package.info.model_id << ": "
                                     << sent << "/" << total << " bytes (" << percent << "%)"
                                     << (sent == total ? "\n" : "") << std::flush;
                         });
  const nlohmann::json model = gateway.expect(answer, {200, 201}, "uploading model " + digest);
  if (model.value("digest", std::string()) != digest) {
    throw std::runtime_error("uploading model " + digest + ": the gateway stored it as " +
                             model.value("digest", std::string("?")));
  }
  return answer.status == 201;
}

}  // namespace spindle::ctl
