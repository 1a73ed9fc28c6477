// What spindlectl's commands share: option parsing, the gateway options, key files and
// device ids. Errors are exceptions for guarded_main (tools/cli): cli::UsageError for a
// bad flag or value (exit 2), std::runtime_error for a failure (exit 1).
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "gateway_client_private.hpp"
#include "spindle/ctl/package.hpp"
#include "spindle/protocol/crypto.hpp"

namespace spindle::ctl {

namespace po = boost::program_options;
using Args = std::vector<std::string>;

inline constexpr const char* kProgram = "spindlectl";
// The gateway takes at most this many devices or manifests per request.
inline constexpr std::size_t kMaxBatch = 1000;

// Parses `args` into `vm` and runs the notifiers. Returns false after printing the help
// (`usage`, then the options) when --help was given.
bool parse_command(const Args& args, const std::string& usage,
                   const po::options_description& options, po::variables_map* vm);

// --api and --token-file, for the commands that talk to the gateway.
struct GatewayOptions {
  std::string api = "http://127.0.0.1:8080";
  std::string token_file;

  po::options_description describe();
  // Reads the token and makes the client; cli::UsageError without --token-file.
  GatewayClient connect() const;
};

// A --trust-key KID=PUBFILE: the key id and the public key read from the file.
struct TrustKeySpec {
  std::string kid;
  crypto::EcPublicKey public_key{};
};
std::vector<TrustKeySpec> parse_trust_keys(const std::vector<std::string>& specs);

// The ids as given, each checked (cli::UsageError naming the bad one), duplicates dropped.
std::vector<std::string> checked_device_ids(const std::vector<std::string>& ids);
// A key id: it names key files and the gateway's --trust-key, so it is an id.
void check_kid(const std::string& kid);

crypto::EcPrivateKey read_signing_key(const std::string& path);

std::string device_path(const std::string& device_id);
// The failure for a device the gateway does not know, with the command that fixes it.
[[noreturn]] void not_provisioned(const std::string& device_id);

// Reads a package, verifying its signature when `trusted` is not empty; the error names
// the file and what is wrong with it.
Package load_package(const std::string& path, const std::vector<TrustKeySpec>& trusted);

// Uploads the package's ciphertext (POST /api/v1/models), progress on stderr; returns
// true when the gateway stored it now, false when it had these bytes already.
bool upload_model(GatewayClient& gateway, const Package& package);

// The first 12 hex digits of a digest, for messages.
std::string short_digest(const crypto::Digest& digest);
// Whether the gateway holds the model payload with this digest (hex).
bool model_on_gateway(GatewayClient& gateway, const std::string& digest);
// The model KEK of one device, from GET /api/v1/devices/{id}/keys.
ByteVector device_kek(GatewayClient& gateway, const std::string& device_id);

// A package opened for signing manifests and decisions: verified with the signing key's own
// public key, its content key unwrapped and checked against the ciphertext.
struct SigningPackage {
  Package package;
  crypto::ContentKey content_key{};
  crypto::EcPrivateKey signing_key{};
  std::string kid;
};
SigningPackage open_signing_package(const std::string& package_path, const std::string& key_path,
                                    const std::string& kid);
// The signed manifest of the package for one device, in `role`; the error names the
// device and what to change.
ByteVector sign_device_manifest(const SigningPackage& signing, const std::string& device_id,
                                std::span<const std::uint8_t> kek, manifest::ManifestRole role,
                                const manifest::Activation& activation = {});
// --activation's value (parse_activation), or a UsageError naming the accepted forms.
manifest::Activation activation_option(const std::string& text);
// The help text of --activation, shared by deploy and rollout start.
inline constexpr const char* kActivationHelp =
    "when a node may switch to the model once it is verified: now (default), idle (while the "
    "machine stands still), or window:HH:MM-HH:MM (a daily UTC maintenance window, end "
    "exclusive, may pass midnight); signed into the manifest";

int cmd_keygen(const Args& args);
int cmd_provision(const Args& args);
int cmd_pack(const Args& args);
int cmd_push(const Args& args);
int cmd_deploy(const Args& args);
int cmd_status(const Args& args);
int cmd_attest(const Args& args);
int cmd_calibrate(const Args& args);
int cmd_tags(const Args& args);
int cmd_capture(const Args& args);
int cmd_datasets(const Args& args);
int cmd_rollout(const Args& args);

}  // namespace spindle::ctl
