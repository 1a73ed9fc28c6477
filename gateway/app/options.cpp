#include "options.hpp"

#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace spindle::gateway {

namespace po = boost::program_options;

bool parse_options(int argc, char** argv, GatewayConfig& config) {
  std::string config_file;
  std::string data_dir = "spindle-data";
  std::string master_file;
  std::string token_file;
  std::string synchronous = "full";
  int coap_port = -1;
  int http_port = 8080;
  po::options_description general("spindle-gateway: CoAP/DTLS gateway for Spindle sensor nodes");
  general.add_options()("help,h", "print this help")(
      "config", po::value(&config_file), "INI-style file with any of the options below")(
      "data-dir", po::value(&data_dir)->default_value(data_dir),
      "directory for the database, model payloads, the site master secret and the API token")(
      "master-secret-file", po::value(&master_file),
      "site master secret (hex) from which device keys derive; created when missing "
      "(default: DATA-DIR/site-master.key)")(
      "log-level", po::value(&config.log_level)->default_value(config.log_level),
      "trace, debug, info, warn, error")(
      "synchronous", po::value(&synchronous)->default_value(synchronous),
      "full: a commit is on disk before its acknowledgement; normal: survives a crash of "
      "the gateway but not of the machine");
  po::options_description coap("CoAP");
  coap.add_options()("coap-address",
                     po::value(&config.coap.address)->default_value(config.coap.address),
                     "address to bind (IPv4 or IPv6 literal)")(
      "coap-port", po::value(&coap_port), "UDP port (default 5684, or 5683 with --insecure)")(
      "insecure", po::bool_switch(&config.coap.insecure),
      "plain UDP without DTLS: development only, any peer can act as any device")(
      "max-request-payload",
      po::value(&config.coap.max_request_payload)->default_value(config.coap.max_request_payload),
      "largest request body accepted (bytes); larger get 4.13")(
      "peer-rate", po::value(&config.coap.peer_rate)->default_value(config.coap.peer_rate),
      "requests per second one peer may send (then 4.29)")(
      "peer-burst", po::value(&config.coap.peer_burst)->default_value(config.coap.peer_burst),
      "burst size of the per-peer rate limit")(
      "peer-block-rate",
      po::value(&config.coap.peer_block_rate)->default_value(config.coap.peer_block_rate),
      "model payload blocks per second one peer may fetch (then 4.29)")(
      "peer-block-burst",
      po::value(&config.coap.peer_block_burst)->default_value(config.coap.peer_block_burst),
      "burst size of the per-peer model download limit")(
      "max-sessions", po::value(&config.coap.max_sessions)->default_value(config.coap.max_sessions),
      "idle sessions kept before the oldest is freed")(
      "session-timeout",
      po::value(&config.coap.session_timeout_s)->default_value(config.coap.session_timeout_s),
      "seconds after which an idle session is freed");
  po::options_description http("Operator API");
  http.add_options()("http-address",
                     po::value(&config.http.address)->default_value(config.http.address),
                     "address of the HTTP API")(
      "http-port", po::value(&http_port)->default_value(http_port), "TCP port of the HTTP API")(
      "api-token-file", po::value(&token_file),
      "bearer token of the API; created when missing (default: DATA-DIR/api-token)")(
      "trust-key", po::value(&config.trust_keys)->composing(),
      "KID=FILE: a manifest signing key (hex SEC1 public key) deployments must verify "
      "against; repeatable")(
      "max-capture-bytes",
      po::value(&config.http.max_capture_bytes)->default_value(config.http.max_capture_bytes),
      "largest data capture accepted, counted at the largest window the protocol allows "
      "(bytes); larger requests are refused");
  drift::Options& drift = config.coap.drift;
  DriftCaptureOptions& drift_capture = config.coap.drift_capture;
  std::string drift_policy = drift_policy_name(drift_capture.policy);
  po::options_description drift_options("Drift detection (docs/gateway/drift.md)");
  drift_options.add_options()(
      "drift-raise-score", po::value(&drift.raise_score)->default_value(drift.raise_score),
      "a feature's score (max of |mean shift| in reference standard deviations and "
      "|ln stddev ratio| / drift-variance-scale) above which a summary counts toward drifting")(
      "drift-clear-score", po::value(&drift.clear_score)->default_value(drift.clear_score),
      "score below which a summary counts toward clearing (<= drift-raise-score)")(
      "drift-raise-after", po::value(&drift.raise_after)->default_value(drift.raise_after),
      "consecutive summaries above drift-raise-score before a feature drifts")(
      "drift-clear-after", po::value(&drift.clear_after)->default_value(drift.clear_after),
      "consecutive summaries below drift-clear-score before a drifting feature clears")(
      "drift-variance-scale", po::value(&drift.variance_scale)->default_value(drift.variance_scale),
      "the |ln(stddev / reference stddev)| that scores 1")(
      "drift-relative-sd-floor",
      po::value(&drift.relative_sd_floor)->default_value(drift.relative_sd_floor),
      "the reference stddev is at least this fraction of |reference mean|")(
      "drift-absolute-sd-floor",
      po::value(&drift.absolute_sd_floor)->default_value(drift.absolute_sd_floor),
      "... and at least this (feature units)")(
      "drift-policy", po::value(&drift_policy)->default_value(drift_policy),
      "what a device that starts drifting gets: off or notify (events and metrics only), or "
      "capture (also a features capture, for retraining)")(
      "drift-capture-windows",
      po::value(&drift_capture.windows)->default_value(drift_capture.windows),
      "features windows of an automatic drift capture (1..10000)")(
      "drift-capture-daily-cap",
      po::value(&drift_capture.daily_cap)->default_value(drift_capture.daily_cap),
      "automatic drift captures per device in any 24 hours (>= 1); at most one is open at a "
      "time");
  std::int64_t rollout_interval_ms = config.rollouts.interval.count();
  po::options_description rollout_options("Rollouts");
  rollout_options.add_options()(
      "rollout-interval-ms", po::value(&rollout_interval_ms)->default_value(rollout_interval_ms),
      "how often every unfinished rollout's gates are evaluated and its stages stepped "
      "(100..600000)");
  po::options_description all;
  all.add(general).add(coap).add(http).add(drift_options).add(rollout_options);

  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, all), vm);
  if (vm.count("help")) {
    std::cout << all << "\n";
    return false;
  }
  if (vm.count("config")) {
    std::ifstream in(vm["config"].as<std::string>());
    if (!in) throw std::runtime_error("cannot read --config " + vm["config"].as<std::string>());
    po::store(po::parse_config_file(in, all), vm);
  }
  po::notify(vm);

  if (rollout_interval_ms < 100 || rollout_interval_ms > 600000) {
    throw std::runtime_error("--rollout-interval-ms must be 100..600000, not " +
                             std::to_string(rollout_interval_ms));
  }
  config.rollouts.interval = std::chrono::milliseconds(rollout_interval_ms);
  config.data_dir = data_dir;
  config.master_secret_file = master_file.empty() ? config.data_dir / "site-master.key"
                                                  : std::filesystem::path(master_file);
  config.api_token_file =
      token_file.empty() ? config.data_dir / "api-token" : std::filesystem::path(token_file);
  if (synchronous != "full" && synchronous != "normal") {
    throw std::runtime_error("--synchronous must be full or normal, not '" + synchronous + "'");
  }
  config.synchronous_full = synchronous == "full";
  if (coap_port < 0) coap_port = config.coap.insecure ? 5683 : 5684;
  if (coap_port == 0 || coap_port > 65535) throw std::runtime_error("--coap-port must be 1..65535");
  if (http_port < 0 || http_port > 65535) throw std::runtime_error("--http-port must be 0..65535");
  config.coap.port = static_cast<std::uint16_t>(coap_port);
  config.http.port = static_cast<std::uint16_t>(http_port);
  if (config.coap.peer_rate <= 0 || config.coap.peer_burst < 1 ||
      config.coap.peer_block_rate <= 0 || config.coap.peer_block_burst < 1) {
    throw std::runtime_error(
        "--peer-rate and --peer-block-rate must be > 0, --peer-burst and --peer-block-burst >= 1");
  }
  if (!drift::validate(drift).ok()) {
    throw std::runtime_error(
        "--drift-raise-score and --drift-clear-score must be > 0 with clear <= raise, "
        "--drift-raise-after and --drift-clear-after >= 1, --drift-variance-scale > 0, and "
        "the sd floors >= 0");
  }
  const auto policy = drift_policy_from_name(drift_policy);
  if (!policy.ok()) {
    throw std::runtime_error("--drift-policy must be off, notify or capture, not '" + drift_policy +
                             "'");
  }
  drift_capture.policy = *policy;
  if (!validate(drift_capture).ok()) {
    throw std::runtime_error(
        "--drift-capture-windows must be 1..10000 and --drift-capture-daily-cap >= 1");
  }
  if (config.coap.max_request_payload < 64) {
    throw std::runtime_error("--max-request-payload must be at least 64 bytes");
  }
  return true;
}

}  // namespace spindle::gateway
