// spindle-gateway's configuration: command-line flags and an optional INI-style config
// file with the same keys (flags win).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "spindle/gateway/coap_server.hpp"
#include "spindle/gateway/http_api.hpp"
#include "spindle/gateway/rollout_driver.hpp"

namespace spindle::gateway {

struct GatewayConfig {
  std::filesystem::path data_dir;
  std::filesystem::path master_secret_file;  // default: data_dir/site-master.key
  std::filesystem::path api_token_file;      // default: data_dir/api-token
  std::vector<std::string> trust_keys;       // "KID=FILE"
  std::string log_level = "info";
  bool synchronous_full = true;
  CoapServerOptions coap;
  HttpApiOptions http;
  RolloutDriverOptions rollouts;
};

// Parses argv (and --config). Throws std::runtime_error naming the bad flag or value;
// returns false (after printing help) when --help was asked.
bool parse_options(int argc, char** argv, GatewayConfig& config);

}  // namespace spindle::gateway
