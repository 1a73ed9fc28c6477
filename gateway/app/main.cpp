// spindle-gateway: wires the store, the group-commit writer, the CoAP server and the
// operator API together, and shuts them down in the order that loses nothing: stop taking
// requests, answer what is committed, commit what is queued.
#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "options.hpp"
#include "spindle/gateway/coap_server.hpp"
#include "spindle/gateway/http_api.hpp"
#include "spindle/gateway/metrics.hpp"
#include "spindle/gateway/site_keys.hpp"
#include "spindle/gateway/store.hpp"
#include "spindle/gateway/writer.hpp"
#include "spindle/host/files.hpp"
#include "spindle/host/text.hpp"
#include "spindle/protocol/hex.hpp"

namespace {

using namespace spindle;
using namespace spindle::gateway;

[[noreturn]] void fail(const std::string& message) {
  throw std::runtime_error(message);
}

// A file's text without surrounding whitespace (a token, a public key in hex).
std::string read_trimmed(const std::filesystem::path& path) {
  std::string problem;
  auto text = host::read_trimmed_text(path.string(), &problem);
  if (!text.ok()) fail(problem);
  return std::move(text).value();
}

// The API token: read from its file, or made (32 random bytes, hex) and written 0600.
std::string load_or_create_token(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) {
    std::string token = read_trimmed(path);
    if (token.size() < 16) fail(path.string() + " holds a token shorter than 16 characters");
    return token;
  }
  std::array<std::uint8_t, 32> secret{};
  if (getrandom(secret.data(), secret.size(), 0) != static_cast<ssize_t>(secret.size())) {
    fail("no randomness for a new API token");
  }
  const std::string token = host::to_hex(secret);
  std::string problem;
  if (!host::write_text_file(path.string(), token + "\n", host::Visibility::kSecret,
                             host::Existing::kReplace, &problem)
           .ok()) {
    fail(problem);
  }
  spdlog::info("api: created a new bearer token in {}", path.string());
  return token;
}

std::vector<TrustedSigner> load_signers(const std::vector<std::string>& specs) {
  std::vector<TrustedSigner> signers;
  for (const std::string& spec : specs) {
    const auto equals = spec.find('=');
    if (equals == std::string::npos || equals == 0) {
      fail("--trust-key '" + spec + "' is not KID=FILE");
    }
    TrustedSigner signer;
    signer.kid = spec.substr(0, equals);
    const std::string text = read_trimmed(spec.substr(equals + 1));
    const auto size = hex::decode(text, signer.public_key);
    if (!size.ok() || *size != signer.public_key.size()) {
      fail("--trust-key " + spec + ": not a hex SEC1 uncompressed P-256 public key (65 bytes)");
    }
    signers.push_back(signer);
  }
  return signers;
}

std::unique_ptr<Store> open_store(const GatewayConfig& config) {
  SqliteOptions options;
  options.synchronous_full = config.synchronous_full;
  auto store = open_sqlite_store(config.data_dir, options);
  if (!store.ok()) {
    fail("cannot open the store in " + config.data_dir.string() + ": " + store.status().name());
  }
  return std::move(store).value();
}

int run(const GatewayConfig& config) {
  std::filesystem::create_directories(config.data_dir);
  std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all);

  // Signals go to one thread that asks the servers to stop; every other thread (the
  // writer's included, started below) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto keys = SiteKeys::load_or_create(config.master_secret_file);
  if (!keys.ok()) fail("cannot load the site master secret " + config.master_secret_file.string());
  HttpApiOptions http = config.http;
  http.token = load_or_create_token(config.api_token_file);
  http.signers = load_signers(config.trust_keys);
  if (http.signers.empty()) {
    spdlog::warn("api: no --trust-key given: deployments will be refused");
  }
  if (config.coap.insecure) {
    spdlog::warn(
        "coap: --insecure: plain UDP without DTLS; any peer can act as any device. "
        "Development only.");
  }

  Metrics metrics;
  Writer writer(open_store(config), metrics);
  CoapServer coap(config.coap, writer, open_store(config), *keys, metrics);
  RolloutDriver rollouts(writer, open_store(config), coap, metrics, config.rollouts);
  HttpApi api(http, writer, open_store(config), *keys, metrics, coap, &rollouts);
  if (!coap.start().ok()) fail("the CoAP server did not start");
  rollouts.start();
  if (!api.start().ok()) fail("the HTTP API did not start");
  spdlog::info("spindle-gateway: ready (data in {}, API on {}:{})", config.data_dir.string(),
               http.address, api.port());

  std::thread api_thread([&api] { api.run(); });
  std::atomic<bool> finished{false};
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    if (finished.load()) return;
    spdlog::info("spindle-gateway: signal {} received, shutting down", signal);
    coap.stop();
    api.stop();
    // A second signal while the queue drains: the operator does not want to wait. What is
    // acknowledged is on disk already; what is not will be sent again by the nodes.
    sigwait(&signals, &signal);
    if (finished.load()) return;
    spdlog::warn("spindle-gateway: second signal {}: exiting without draining", signal);
    std::_Exit(1);
  });

  const Status served = coap.run();
  api.stop();
  api_thread.join();
  rollouts.stop();
  writer.stop();  // everything accepted is committed ...
  coap.drain();   // ... and answered
  finished.store(true);
  pthread_kill(signal_thread.native_handle(), SIGTERM);  // releases sigwait if still waiting
  signal_thread.join();
  if (!served.ok()) {
    spdlog::error("spindle-gateway: stopped after a CoAP I/O failure");
    return 1;
  }
  spdlog::info("spindle-gateway: stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("gateway"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  GatewayConfig config;
  try {
    if (!parse_options(argc, argv, config)) return 0;
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    return run(config);
  } catch (const std::exception& error) {
    spdlog::error("spindle-gateway: {}", error.what());
    return 2;
  }
}
