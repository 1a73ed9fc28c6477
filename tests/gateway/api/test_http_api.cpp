// gateway/api: the operator HTTP API, served on loopback over a real SQLite store and
// group-commit writer, answers what docs/gateway/api.md promises, refuses what it must,
// and tells the CoAP side (a recording FleetListener here) only about committed changes.
#include "spindle/gateway/http_api.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "golden_examples.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/gateway/rollout_driver.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"
#include "test_support.hpp"

namespace spindle::gateway {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kToken = "operator-token-for-tests";

// The CoAP side, reduced to what it was told.
class RecordingListener : public FleetListener {
 public:
  void device_added(std::string device_id) override {
    const std::lock_guard lock(mutex_);
    devices_.push_back(std::move(device_id));
  }
  void model_added(StoredModel model) override {
    const std::lock_guard lock(mutex_);
    models_.push_back(std::move(model));
  }
  void deployment_added(StoredDeployment deployment) override {
    const std::lock_guard lock(mutex_);
    deployments_.push_back(std::move(deployment));
  }
  void challenge_issued(std::string device_id, Challenge challenge) override {
    const std::lock_guard lock(mutex_);
    challenges_.emplace_back(std::move(device_id), challenge);
  }
  void capture_requested(StoredCapture capture) override {
    const std::lock_guard lock(mutex_);
    captures_.push_back(std::move(capture));
  }
  void recalibration_requested(std::string device_id, StoredRecalibration recalibration) override {
    const std::lock_guard lock(mutex_);
    recalibrations_.emplace_back(std::move(device_id), std::move(recalibration));
  }
  void decision_set(std::string device_id, Bytes decision) override {
    const std::lock_guard lock(mutex_);
    decisions_.emplace_back(std::move(device_id), std::move(decision));
  }
  std::vector<std::pair<std::string, Bytes>> decisions() const {
    const std::lock_guard lock(mutex_);
    return decisions_;
  }
  std::vector<std::pair<std::string, StoredRecalibration>> recalibrations() const {
    const std::lock_guard lock(mutex_);
    return recalibrations_;
  }
  std::vector<StoredCapture> captures() const {
    const std::lock_guard lock(mutex_);
    return captures_;
  }

  std::vector<std::string> devices() const {
    const std::lock_guard lock(mutex_);
    return devices_;
  }
  std::vector<StoredModel> models() const {
    const std::lock_guard lock(mutex_);
    return models_;
  }
  std::vector<StoredDeployment> deployments() const {
    const std::lock_guard lock(mutex_);
    return deployments_;
  }
  std::vector<std::pair<std::string, Challenge>> challenges() const {
    const std::lock_guard lock(mutex_);
    return challenges_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> devices_;
  std::vector<StoredModel> models_;
  std::vector<StoredDeployment> deployments_;
  std::vector<std::pair<std::string, Challenge>> challenges_;
  std::vector<StoredCapture> captures_;
  std::vector<std::pair<std::string, Bytes>> decisions_;
  std::vector<std::pair<std::string, StoredRecalibration>> recalibrations_;
};

struct Reply {
  int status = -1;
  json body;
  std::string raw;
  std::string content_type;
  std::string www_authenticate;
};

Bytes payload_of(std::string_view text) {
  return {text.begin(), text.end()};
}

std::string as_text(const Bytes& bytes) {
  return {bytes.begin(), bytes.end()};
}

crypto::EcPrivateKey other_signing_key() {
  return crypto::Sha256::of(crypto::as_bytes("not the trusted key"));
}

struct ManifestSpec {
  std::string device = "node-1";
  std::uint64_t version = 1;
  Bytes payload;
  std::optional<std::uint32_t> size;  // default: the payload's
  crypto::EcPrivateKey key = examples::test_signing_key();
  std::string kid = examples::test_signing_kid();
  manifest::ManifestRole role = manifest::ManifestRole::kActive;
};

Bytes signed_manifest(const ManifestSpec& spec) {
  const crypto::Digest digest = crypto::Sha256::of(spec.payload);
  const std::array<std::uint8_t, 7> nonce{1, 2, 3, 4, 5, 6, 7};
  std::array<std::uint8_t, 24> wrapped_key{};
  wrapped_key.fill(0xa5);
  manifest::Manifest m;
  m.model_id = "vib-ae";
  m.version = spec.version;
  m.device_id = spec.device;
  m.payload_digest = digest;
  m.payload_size = spec.size.value_or(static_cast<std::uint32_t>(spec.payload.size()));
  m.encryption.nonce = nonce;
  m.encryption.wrapped_key = wrapped_key;
  m.requirements = {.arena_bytes = 8192, .flash_bytes = 16384, .op_set = 0x1f};
  m.input = {.feature_count = 8, .sample_rate_hz = 3200, .window_length = 1024, .axes = 3};
  m.threshold = 0.75F;
  m.role = spec.role;
  std::array<std::uint8_t, 2048> payload_buffer{};
  const auto payload = manifest::encode(m, payload_buffer);
  EXPECT_TRUE(payload.ok());
  std::array<std::uint8_t, 2048 + cose::kSign1Overhead> signed_buffer{};
  const auto message = cose::sign(spec.key, crypto::as_bytes(spec.kid), *payload, signed_buffer);
  EXPECT_TRUE(message.ok());
  return {message->begin(), message->end()};
}

json deployment_body(const std::vector<Bytes>& manifests) {
  json entries = json::array();
  for (const auto& manifest : manifests)
    entries.push_back({{"manifest", test::to_hex(manifest)}});
  return {{"deployments", std::move(entries)}};
}

TelemetryRecord number_reading(const std::string& device, std::uint64_t seq,
                               const std::string& name, double time, double value) {
  TelemetryRecord record;
  record.device_id = device;
  record.seq = seq;
  record.name = name;
  record.time = time;
  record.unit.assign(1, '/');  // not = "/": a false -Wrestrict from GCC 12 at -O3
  record.kind = senml::ValueKind::kNumber;
  record.number = value;
  record.received_ms = 1000;
  return record;
}

class HttpApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "spindle-api-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto writer_store = open_sqlite_store(dir_);
    ASSERT_TRUE(writer_store.ok()) << writer_store.status().name();
    writer_ = std::make_unique<Writer>(std::move(writer_store).value(), metrics_);
    start_api(default_options());
  }

  void TearDown() override {
    stop_api();
    if (writer_) writer_->stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  static HttpApiOptions default_options() {
    HttpApiOptions options;
    options.port = 0;
    options.token = kToken;
    TrustedSigner signer;
    signer.kid = examples::test_signing_kid();
    EXPECT_TRUE(
        crypto::ec_public_from_private(examples::test_signing_key(), &signer.public_key).ok());
    options.signers.push_back(signer);
    return options;
  }

  void start_api(HttpApiOptions options) {
    auto reader = open_sqlite_store(dir_);
    ASSERT_TRUE(reader.ok()) << reader.status().name();
    api_ = std::make_unique<HttpApi>(std::move(options), *writer_, std::move(reader).value(), keys_,
                                     metrics_, listener_);
    ASSERT_TRUE(api_->start().ok());
    ASSERT_NE(api_->port(), 0);
    server_thread_ = std::thread([this] { api_->run(); });
  }

  void stop_api() {
    if (!api_) return;
    api_->stop();
    if (server_thread_.joinable()) server_thread_.join();
    api_.reset();
  }

  void restart_api(HttpApiOptions options) {
    stop_api();
    start_api(std::move(options));
  }

  httplib::Headers headers(std::optional<std::string> token = kToken) const {
    if (!token) return {};
    return {{"Authorization", "Bearer " + *token}};
  }

  static Reply reply_of(const httplib::Result& result) {
    Reply reply;
    if (!result) {
      ADD_FAILURE() << "no HTTP answer: " << httplib::to_string(result.error());
      return reply;
    }
    reply.status = result->status;
    reply.raw = result->body;
    reply.content_type = result->get_header_value("Content-Type");
    reply.www_authenticate = result->get_header_value("WWW-Authenticate");
    if (reply.content_type == "application/json") {
      reply.body = json::parse(result->body, nullptr, false);
      EXPECT_FALSE(reply.body.is_discarded()) << result->body;
    }
    return reply;
  }

  httplib::Client client() const {
    httplib::Client client("127.0.0.1", api_->port());
    client.set_read_timeout(10, 0);
    return client;
  }

  Reply get(const std::string& path, std::optional<std::string> token = kToken) const {
    return reply_of(client().Get(path, headers(std::move(token))));
  }

  Reply post(const std::string& path, const std::string& body,
             const std::string& content_type = "application/json",
             std::optional<std::string> token = kToken) const {
    return reply_of(client().Post(path, headers(std::move(token)), body, content_type));
  }

  Reply post_json(const std::string& path, const json& body) const {
    return post(path, body.dump());
  }

  Reply provision(const std::vector<std::string>& ids) const {
    json devices = json::array();
    for (const auto& id : ids)
      devices.push_back({{"id", id}});
    return post_json("/api/v1/devices", {{"devices", devices}});
  }

  Reply upload(const std::string& model_id, const Bytes& payload) const {
    return post("/api/v1/models?model_id=" + model_id, as_text(payload),
                "application/octet-stream");
  }

  void write(const Writer::Work& work) { ASSERT_TRUE(writer_->run(work).ok()); }

  std::size_t history_size(const std::string& device) const {
    const auto reply = get("/api/v1/devices/" + device + "/deployments");
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body.value("deployments", json::array()).size();
  }

  fs::path dir_;
  Metrics metrics_;
  std::unique_ptr<Writer> writer_;
  SiteKeys keys_{examples::test_master_secret()};
  RecordingListener listener_;
  std::unique_ptr<HttpApi> api_;
  std::thread server_thread_;
};

// ---- Authentication, health, metrics ----

TEST_F(HttpApiTest, ApiRefusesRequestsWithoutTheBearerToken) {
  const auto missing = get("/api/v1/devices", std::nullopt);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.www_authenticate.rfind("Bearer", 0), 0U) << missing.www_authenticate;
  EXPECT_TRUE(missing.body.contains("error"));

  const auto wrong = get("/api/v1/devices", std::string("not-the-token"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.www_authenticate.find("invalid_token"), std::string::npos);

  const auto refused = post("/api/v1/devices", R"({"devices":[{"id":"node-1"}]})",
                            "application/json", std::string("not-the-token"));
  EXPECT_EQ(refused.status, 401);
  EXPECT_TRUE(listener_.devices().empty());

  const auto allowed = get("/api/v1/devices");
  EXPECT_EQ(allowed.status, 200);
  EXPECT_EQ(allowed.body, json({{"devices", json::array()}}));
}

TEST_F(HttpApiTest, ApiWithoutAConfiguredTokenRefusesEveryone) {
  auto options = default_options();
  options.token.clear();
  restart_api(options);
  EXPECT_EQ(get("/api/v1/devices", std::string("")).status, 401);
  EXPECT_EQ(get("/api/v1/devices", std::nullopt).status, 401);
  EXPECT_EQ(get("/healthz", std::nullopt).status, 200);
}

TEST_F(HttpApiTest, HealthAndMetricsNeedNoToken) {
  const auto health = get("/healthz", std::nullopt);
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, json({{"status", "ok"}}));

  EXPECT_EQ(get("/api/v1/models", std::nullopt).status, 401);
  // Responses are counted by status class once written, so the count may trail the answer
  // the client already has by a moment.
  Reply metrics;
  for (int attempt = 0; attempt < 200; ++attempt) {
    metrics = get("/metrics", std::nullopt);
    if (metrics.raw.find("spindle_http_requests_total{class=\"4xx\"} 1") != std::string::npos &&
        metrics.raw.find("spindle_http_requests_total{class=\"2xx\"} 0") == std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(metrics.raw.find("spindle_http_requests_total{class=\"4xx\"} 1"), std::string::npos)
      << metrics.raw;
  EXPECT_EQ(metrics.raw.find("spindle_http_requests_total{class=\"2xx\"} 0"), std::string::npos)
      << metrics.raw;
}

TEST_F(HttpApiTest, UnknownPathsAndMethodsAnswerJsonErrors) {
  const auto unknown = get("/api/v1/nothing-here");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_NE(unknown.body.value("error", "").find("/api/v1/nothing-here"), std::string::npos);
  EXPECT_EQ(get("/api/v1/nothing-here", std::nullopt).status, 401);
  EXPECT_EQ(get("/nothing", std::nullopt).status, 404);

  const auto wrong_method = reply_of(client().Delete("/api/v1/devices", headers()));
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_NE(wrong_method.body.value("error", "").find("GET, POST"), std::string::npos)
      << wrong_method.raw;
  EXPECT_EQ(reply_of(client().Put("/api/v1/models", headers(), "{}", "application/json")).status,
            405);
  EXPECT_EQ(reply_of(client().Delete("/nothing", headers())).status, 404);
}

// ---- Devices ----

TEST_F(HttpApiTest, ProvisioningReturnsTheDerivedKeysAndIsIdempotent) {
  const auto first = provision({"node-1", "node-2"});
  ASSERT_EQ(first.status, 200) << first.raw;
  ASSERT_EQ(first.body["devices"].size(), 2U);
  for (const auto& device : first.body["devices"]) {
    const std::string id = device["id"];
    const auto keys = keys_.device_keys(id);
    ASSERT_TRUE(keys.ok());
    EXPECT_TRUE(device["created"].get<bool>());
    EXPECT_EQ(device["psk"], test::to_hex(keys->psk));
    EXPECT_EQ(device["model_kek"], test::to_hex(keys->model_kek));
    EXPECT_EQ(device["attestation_key"], test::to_hex(keys->attestation));
  }
  EXPECT_EQ(listener_.devices(), (std::vector<std::string>{"node-1", "node-2"}));

  const auto again = provision({"node-1", "node-3"});
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_FALSE(again.body["devices"][0]["created"].get<bool>());
  EXPECT_EQ(again.body["devices"][0]["psk"], first.body["devices"][0]["psk"]);
  EXPECT_TRUE(again.body["devices"][1]["created"].get<bool>());
  EXPECT_EQ(listener_.devices(), (std::vector<std::string>{"node-1", "node-2", "node-3"}));

  const auto listed = get("/api/v1/devices");
  ASSERT_EQ(listed.body["devices"].size(), 3U);
  EXPECT_EQ(listed.body["devices"][2]["id"], "node-3");
  EXPECT_TRUE(listed.body["devices"][2]["registration"].is_null());
}

TEST_F(HttpApiTest, ProvisioningRejectsABadEntryNamingItAndStoresNothing) {
  const auto bad_id = provision({"node-1", "bad!id"});
  EXPECT_EQ(bad_id.status, 400);
  const std::string message = bad_id.body.value("error", "");
  EXPECT_NE(message.find("devices[1]"), std::string::npos) << message;
  EXPECT_NE(message.find("bad!id"), std::string::npos) << message;

  EXPECT_EQ(post("/api/v1/devices", "{not json").status, 400);
  EXPECT_EQ(post_json("/api/v1/devices", {{"devices", json::array()}}).status, 400);
  EXPECT_EQ(post("/api/v1/devices", R"({"devices": [{"name": "node-1"}]})").status, 400);
  EXPECT_EQ(post("/api/v1/devices", R"({"devices": ["node-1"]})").status, 400);
  json too_many = json::array();
  for (int i = 0; i < 1001; ++i)
    too_many.push_back({{"id", "node-" + std::to_string(i)}});
  EXPECT_EQ(post_json("/api/v1/devices", {{"devices", too_many}}).status, 400);

  EXPECT_EQ(get("/api/v1/devices").body["devices"].size(), 0U);
  EXPECT_TRUE(listener_.devices().empty());
}

TEST_F(HttpApiTest, DeviceShowsItsRegistrationDecoded) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const crypto::Digest slot_digest = crypto::Sha256::of(crypto::as_bytes("model v3"));
  registration::Registration reg;
  reg.board = "nrf52840dk";
  reg.firmware_version = "0.1.0";
  reg.slots[0] = {registration::SlotState::kActive, "vib-ae", 3, slot_digest};
  reg.active_slot = 0;
  reg.budgets = {
      .sram_bytes = 262144, .arena_bytes = 32768, .model_flash_bytes = 131072, .op_set = 0x3f};
  std::array<std::uint8_t, 512> buffer{};
  const auto body = registration::encode(reg, buffer);
  ASSERT_TRUE(body.ok());
  const Bytes registration_body(body->begin(), body->end());
  write([&](Store& store) {
    return store.save_registration("node-1", registration_body, "rd/1", 300, now_ms());
  });

  const auto device = get("/api/v1/devices/node-1");
  ASSERT_EQ(device.status, 200) << device.raw;
  EXPECT_EQ(device.body["id"], "node-1");
  EXPECT_TRUE(device.body["online"].get<bool>());
  EXPECT_EQ(device.body["location"], "rd/1");
  EXPECT_EQ(device.body["lifetime_s"], 300);
  EXPECT_EQ(device.body["telemetry_records"], 0);
  EXPECT_TRUE(device.body["deployment"].is_null());
  const json& registration = device.body["registration"];
  EXPECT_EQ(registration["board"], "nrf52840dk");
  EXPECT_EQ(registration["firmware_version"], "0.1.0");
  EXPECT_EQ(registration["active_slot"], 0);
  ASSERT_EQ(registration["slots"].size(), 2U);
  EXPECT_EQ(registration["slots"][0], json({{"state", "active"},
                                            {"model_id", "vib-ae"},
                                            {"version", 3},
                                            {"digest", test::to_hex(slot_digest)}}));
  EXPECT_EQ(registration["slots"][1]["state"], "empty");
  EXPECT_TRUE(registration["slots"][1]["digest"].is_null());
  EXPECT_EQ(registration["budgets"], json({{"sram_bytes", 262144},
                                           {"arena_bytes", 32768},
                                           {"model_flash_bytes", 131072},
                                           {"op_set", 0x3f}}));

  const auto listed = get("/api/v1/devices");
  EXPECT_EQ(listed.body["devices"][0]["registration"], registration);

  EXPECT_EQ(get("/api/v1/devices/node-9").status, 404);
  EXPECT_EQ(get("/api/v1/devices/node-9/deployments").status, 404);
  EXPECT_EQ(get("/api/v1/devices/bad!id").status, 400);
}

TEST_F(HttpApiTest, KeysOfAProvisionedDeviceAreTheDerivedOnesAndNothingIsProvisioned) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const auto keys = keys_.device_keys("node-1");
  ASSERT_TRUE(keys.ok());
  const auto reply = get("/api/v1/devices/node-1/keys");
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(reply.body, json({{"device", "node-1"},
                              {"psk", test::to_hex(keys->psk)},
                              {"model_kek", test::to_hex(keys->model_kek)},
                              {"attestation_key", test::to_hex(keys->attestation)}}));
  EXPECT_EQ(reply.body["psk"], provision({"node-1"}).body["devices"][0]["psk"]);

  EXPECT_EQ(get("/api/v1/devices/node-9/keys").status, 404);
  EXPECT_EQ(get("/api/v1/devices/bad!id/keys").status, 400);
  EXPECT_EQ(get("/api/v1/devices/node-1/keys", std::nullopt).status, 401);
  EXPECT_EQ(get("/api/v1/devices/node-1/keys?x=1").status, 400);
  EXPECT_EQ(get("/api/v1/devices").body["devices"].size(), 1U) << "node-9 not provisioned";
}

TEST_F(HttpApiTest, AttestDrawsAFreshChallengeAndHandsItToTheCoapSide) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const std::int64_t before = now_ms();
  const auto first = post("/api/v1/devices/node-1/attest", "");
  ASSERT_EQ(first.status, 201) << first.raw;
  EXPECT_EQ(first.body["device"], "node-1");
  const std::string nonce = first.body["nonce"].get<std::string>();
  EXPECT_EQ(nonce.size(), 2 * kChallengeNonceSize);
  const std::int64_t expires = first.body["expires_ms"].get<std::int64_t>();
  EXPECT_GE(expires, before + kChallengeLifetimeMs);
  EXPECT_LE(expires, now_ms() + kChallengeLifetimeMs);

  const auto second = post("/api/v1/devices/node-1/attest", "");
  ASSERT_EQ(second.status, 201) << second.raw;
  EXPECT_NE(second.body["nonce"], first.body["nonce"]);

  const auto issued = listener_.challenges();
  ASSERT_EQ(issued.size(), 2U);
  EXPECT_EQ(issued[0].first, "node-1");
  EXPECT_EQ(test::to_hex(issued[0].second.nonce), nonce);
  EXPECT_EQ(issued[0].second.expires_ms, expires);

  EXPECT_EQ(post("/api/v1/devices/node-9/attest", "").status, 404);
  EXPECT_EQ(post("/api/v1/devices/bad!id/attest", "").status, 400);
  EXPECT_EQ(post("/api/v1/devices/node-1/attest", "", "application/json", std::nullopt).status,
            401);
  EXPECT_EQ(get("/api/v1/devices/node-1/attest").status, 405);
  EXPECT_EQ(listener_.challenges().size(), 2U);
}

TEST_F(HttpApiTest, ACaptureRequestIsStoredAndHandedToTheCoapSide) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const auto created = post_json("/api/v1/devices/node-1/captures",
                                 {{"windows", 50}, {"kind", "features"}, {"label", "healthy"}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["state"], "requested");
  EXPECT_EQ(created.body["windows_requested"], 50);
  EXPECT_TRUE(created.body["shape"].is_null());
  const auto issued = listener_.captures();
  ASSERT_EQ(issued.size(), 1U);
  EXPECT_EQ(issued[0].id, created.body["id"].get<std::int64_t>());
  EXPECT_EQ(issued[0].label, "healthy");
  // One capture at a time per device.
  const auto busy = post_json("/api/v1/devices/node-1/captures", {{"windows", 1}, {"kind", "raw"}});
  EXPECT_EQ(busy.status, 409) << busy.raw;
  const auto listed = get("/api/v1/captures");
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body["captures"].size(), 1U);
  const std::string path = "/api/v1/captures/" + std::to_string(issued[0].id);
  EXPECT_EQ(get(path).body["label"], "healthy");
  EXPECT_EQ(get("/api/v1/captures/999").status, 404);
  EXPECT_EQ(get("/api/v1/captures/x").status, 400);
}

TEST_F(HttpApiTest, CaptureRequestsOutsideTheRulesAreRefusedWithAReason) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const auto refused = [&](const json& body) {
    return post_json("/api/v1/devices/node-1/captures", body).status;
  };
  EXPECT_EQ(refused({{"windows", 0}, {"kind", "features"}}), 400);
  EXPECT_EQ(refused({{"windows", 10001}, {"kind", "features"}}), 400);
  EXPECT_EQ(refused({{"windows", 5}, {"kind", "wav"}}), 400);
  EXPECT_EQ(refused({{"windows", 5}, {"kind", "raw"}, {"label", "a,b"}}), 400);
  EXPECT_EQ(refused({{"windows", 5}, {"kind", "raw"}, {"colour", "red"}}), 400);
  EXPECT_EQ(post_json("/api/v1/devices/node-9/captures", {{"windows", 5}, {"kind", "raw"}}).status,
            404);
  // Above the capture limit at the largest raw window (48 KiB): 413 naming the numbers.
  HttpApiOptions options = default_options();
  options.max_capture_bytes = 1024 * 1024;
  restart_api(options);
  const auto large =
      post_json("/api/v1/devices/node-1/captures", {{"windows", 100}, {"kind", "raw"}});
  EXPECT_EQ(large.status, 413);
  EXPECT_NE(large.body["error"].get<std::string>().find("1048576"), std::string::npos);
  EXPECT_EQ(refused({{"windows", 100}, {"kind", "features"}}), 201);
}

TEST_F(HttpApiTest, CapturedFeaturesExportAsCsvWithFeatureNames) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const auto created = post_json("/api/v1/devices/node-1/captures",
                                 {{"windows", 2}, {"kind", "features"}, {"label", "ok"}});
  ASSERT_EQ(created.status, 201);
  const std::int64_t id = created.body["id"].get<std::int64_t>();
  write([&](Store& store) -> Status {
    StoredCaptureChunk chunk;
    chunk.capture_id = id;
    chunk.window_count = 2;
    chunk.board = "native_sim";
    chunk.sample_rate_hz = 3200;
    chunk.window_length = 1024;
    chunk.axes = 1;
    chunk.feature_count = 15;
    chunk.data.resize(2 * 15 * 4);
    for (std::size_t i = 0; i < 30; ++i)
      capture::put_value(chunk.data, i, static_cast<float>(i) * 0.5F);
    return store.add_capture_chunk(chunk).status();
  });
  EXPECT_EQ(get("/api/v1/captures/" + std::to_string(id)).body["state"], "complete");
  const auto csv = get("/api/v1/captures/" + std::to_string(id) + "/data?format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.content_type, "text/csv");
  const std::string header = "window,device,label,x_rms,x_peak,";
  EXPECT_EQ(csv.raw.substr(0, header.size()), header);
  EXPECT_NE(csv.raw.find("\n1,node-1,ok,7.5,8,8.5,"), std::string::npos) << csv.raw;
  EXPECT_EQ(get("/api/v1/captures/" + std::to_string(id) + "/data?format=raw").status, 400);
  EXPECT_EQ(get("/api/v1/captures/" + std::to_string(id) + "/data?format=xml").status, 400);
}

TEST_F(HttpApiTest, DeviceShowsItsLatestAttestationVerdict) {
  ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
  EXPECT_TRUE(get("/api/v1/devices/node-1").body["attestation"].is_null());
  const std::string active(64, 'a');
  write([&](Store& store) {
    return store.save_attestation("node-1", {.verdict = AttestationVerdict::kMismatch,
                                             .time_ms = 1234,
                                             .nonce = std::string(32, '0'),
                                             .active_digest = active,
                                             .firmware = "0.1.0",
                                             .expected_digest = std::string(64, 'b')});
  });
  write([&](Store& store) {
    return store.save_attestation("node-2", {.verdict = AttestationVerdict::kMatch,
                                             .time_ms = 1235,
                                             .nonce = std::string(32, '1'),
                                             .active_digest = std::string(64, '0'),
                                             .firmware = "0.1.0",
                                             .expected_digest = ""});
  });
  const json expected = {
      {"verdict", "mismatch"},   {"time_ms", 1234},     {"nonce", std::string(32, '0')},
      {"active_digest", active}, {"firmware", "0.1.0"}, {"expected_digest", std::string(64, 'b')}};
  EXPECT_EQ(get("/api/v1/devices/node-1").body["attestation"], expected);
  const auto listed = get("/api/v1/devices").body["devices"];
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0]["attestation"], expected);
  EXPECT_EQ(listed[1]["attestation"]["verdict"], "match");
  EXPECT_TRUE(listed[1]["attestation"]["expected_digest"].is_null()) << "nothing deployed";
}

TEST_F(HttpApiTest, DeviceShowsItsLatestCalibrationReport) {
  ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
  EXPECT_TRUE(get("/api/v1/devices/node-1").body["calibration"].is_null());
  write([&](Store& store) {
    StoredCalibration c;
    c.model_id = "vib-ae";
    c.version = 4;
    c.state = status_report::CalibrationState::kThresholding;
    c.generation = 2;
    c.windows_done = 450;
    c.windows_total = 600;
    c.threshold = 0.75;
    c.clamp = status_report::ThresholdClamp::kUpper;
    c.normalization = Bytes(16, 0);
    c.updated_ms = 4321;
    return store.save_calibration("node-1", c);
  });
  const json expected = {{"model_id", "vib-ae"}, {"version", 4},        {"state", "thresholding"},
                         {"generation", 2},      {"windows_done", 450}, {"windows_total", 600},
                         {"threshold", 0.75},    {"clamp", "upper"},    {"updated_ms", 4321}};
  EXPECT_EQ(get("/api/v1/devices/node-1").body["calibration"], expected);
  const auto listed = get("/api/v1/devices").body["devices"];
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0]["calibration"], expected);
  EXPECT_TRUE(listed[1]["calibration"].is_null());
}

TEST_F(HttpApiTest, TagsAreSetReplacedAndSelectDevicesWithTheirBoard) {
  ASSERT_EQ(provision({"pump-1", "pump-2", "pump-3"}).status, 200);
  auto set =
      post_json("/api/v1/devices/pump-1/tags", {{"tags", {{"site", "hall-2"}, {"line", "3"}}}});
  ASSERT_EQ(set.status, 200) << set.raw;
  EXPECT_EQ(set.body["tags"]["site"], "hall-2");
  ASSERT_EQ(
      post_json("/api/v1/devices/pump-2/tags", {{"tags", {{"site", "hall-2"}, {"spare", ""}}}})
          .status,
      200);
  ASSERT_EQ(post_json("/api/v1/devices/pump-3/tags", {{"tags", {{"site", "hall-1"}}}}).status, 200);
  EXPECT_EQ(get("/api/v1/devices/pump-1").body["tags"]["line"], "3");
  const auto ids = [&](const std::string& selector) {
    std::vector<std::string> out;
    const auto answer =
        get("/api/v1/devices?selector=" + httplib::detail::encode_query_param(selector));
    EXPECT_EQ(answer.status, 200) << answer.raw;
    for (const auto& d : answer.body["devices"])
      out.push_back(d["id"]);
    return out;
  };
  EXPECT_EQ(ids("site=hall-2"), (std::vector<std::string>{"pump-1", "pump-2"}));
  EXPECT_EQ(ids("site=hall-2,!spare"), (std::vector<std::string>{"pump-1"}));
  EXPECT_EQ(ids("site!=hall-2"), (std::vector<std::string>{"pump-3"}));
  // Replacing: the tags given are all the device keeps.
  ASSERT_EQ(post_json("/api/v1/devices/pump-1/tags", {{"tags", {{"line", "4"}}}}).status, 200);
  EXPECT_EQ(ids("site=hall-2"), (std::vector<std::string>{"pump-2"}));
  // The board a device registered with is a tag the operator need not set.
  registration::Registration reg;
  reg.board = "nucleo_l476rg";
  reg.firmware_version = "0.1.0";
  reg.budgets = {
      .sram_bytes = 131072, .arena_bytes = 8192, .model_flash_bytes = 65536, .op_set = 0x3f};
  std::array<std::uint8_t, 512> buffer{};
  const auto body = registration::encode(reg, buffer);
  ASSERT_TRUE(body.ok()) << body.status().name();
  const Bytes registration_body(body->begin(), body->end());
  write([&](Store& store) {
    return store.save_registration("pump-3", registration_body, "rd/3", 60, 5);
  });
  EXPECT_EQ(ids("board=nucleo_l476rg"), (std::vector<std::string>{"pump-3"}));
}

TEST_F(HttpApiTest, BadTagsAndSelectorsAre400AndAnUnknownDevice404) {
  ASSERT_EQ(provision({"pump-1"}).status, 200);
  for (const json& body :
       {json{{"tags", {{"Site", "a"}}}}, json{{"tags", {{"site", "a b"}}}},
        json{{"tags", {{"site", 3}}}}, json{{"tags", json::array()}}, json{{"labels", {}}}}) {
    const auto refused = post_json("/api/v1/devices/pump-1/tags", body);
    EXPECT_EQ(refused.status, 400) << body << " " << refused.raw;
  }
  EXPECT_EQ(post_json("/api/v1/devices/pump-9/tags", {{"tags", {{"site", "a"}}}}).status, 404);
  const auto bad = get("/api/v1/devices?selector=site%3Da%2C");
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_NE(bad.raw.find("empty term"), std::string::npos) << bad.raw;
}

TEST_F(HttpApiTest, ACalibrationResetIsStoredAndHandedToTheCoapSide) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  write([&](Store& store) {
    StoredCalibration c;
    c.model_id = "vib-ae";
    c.version = 4;
    c.state = status_report::CalibrationState::kCalibrated;
    c.generation = 1;
    c.windows_done = c.windows_total = 600;
    c.threshold = 0.75;
    return store.save_calibration("node-1", c);
  });
  const auto reset = post_json("/api/v1/devices/node-1/calibration/reset", json::object());
  ASSERT_EQ(reset.status, 201) << reset.raw;
  EXPECT_EQ(reset.body["device"], "node-1");
  EXPECT_EQ(reset.body["model_id"], "vib-ae");
  EXPECT_EQ(reset.body["after_generation"], 1);
  EXPECT_EQ(reset.body["next_generation"], 2);
  const auto handed = listener_.recalibrations();
  ASSERT_EQ(handed.size(), 1U);
  EXPECT_EQ(handed[0].first, "node-1");
  EXPECT_EQ(handed[0].second.after_generation, 1U);
  EXPECT_EQ(handed[0].second.model_id, "vib-ae");
  EXPECT_EQ(handed[0].second.version, 4U);
  const auto view = get("/api/v1/devices/node-1").body;
  EXPECT_EQ(view["calibration_reset"]["after_generation"], 1);
  EXPECT_EQ(view["calibration_reset"]["next_generation"], 2);
  const auto events = get("/api/v1/events?kind=calibration-reset").body["events"];
  ASSERT_EQ(events.size(), 1U);
  EXPECT_NE(events[0]["detail"].get<std::string>().find("asked to begin generation 2"),
            std::string::npos)
      << events[0];
}

TEST_F(HttpApiTest, ACalibrationResetWithoutACalibrationIs409AndOfAnUnknownDevice404) {
  ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
  auto refused = post_json("/api/v1/devices/node-1/calibration/reset", json::object());
  EXPECT_EQ(refused.status, 409) << refused.raw;
  EXPECT_NE(refused.body["error"].get<std::string>().find("no calibration report"),
            std::string::npos)
      << refused.raw;
  write([&](Store& store) {
    StoredCalibration c;
    c.model_id = "plain-model";
    c.version = 1;
    c.state = status_report::CalibrationState::kNone;  // a model without calibration
    return store.save_calibration("node-2", c);
  });
  refused = post_json("/api/v1/devices/node-2/calibration/reset", json::object());
  EXPECT_EQ(refused.status, 409) << refused.raw;
  EXPECT_NE(refused.body["error"].get<std::string>().find("state none"), std::string::npos)
      << refused.raw;
  EXPECT_EQ(post_json("/api/v1/devices/node-9/calibration/reset", json::object()).status, 404);
  EXPECT_EQ(post_json("/api/v1/devices/node-1/calibration/reset", {{"generation", 3}}).status, 400);
  EXPECT_TRUE(listener_.recalibrations().empty());
  EXPECT_TRUE(get("/api/v1/devices/node-1").body["calibration_reset"].is_null());
}

TEST_F(HttpApiTest, CapturesShowWhoOpenedThem) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  ASSERT_EQ(
      post_json("/api/v1/devices/node-1/captures", {{"windows", 5}, {"kind", "features"}}).status,
      201);
  write([&](Store& store) {
    SPINDLE_TRY(store.fail_capture(1, "test", 5));
    StoredCapture c;
    c.device_id = "node-1";
    c.kind = "features";
    c.label = "drift:calibration:x_rms";
    c.windows_requested = 300;
    c.origin = CaptureOrigin::kDrift;
    c.origin_event = 77;
    c.created_ms = 6;
    return store.add_capture(c).status();
  });
  const auto listed = get("/api/v1/captures").body["captures"];
  ASSERT_EQ(listed.size(), 2U);
  EXPECT_EQ(listed[0]["origin"], "drift");
  EXPECT_EQ(listed[0]["origin_event"], 77);
  EXPECT_EQ(listed[0]["label"], "drift:calibration:x_rms");
  EXPECT_EQ(listed[1]["origin"], "operator");
  EXPECT_TRUE(listed[1]["origin_event"].is_null());
}

TEST_F(HttpApiTest, DriftOfAnUnknownDeviceIs404AndBeforeAnySummaryHasNoReference) {
  EXPECT_EQ(get("/api/v1/devices/ghost/drift").status, 404);
  EXPECT_EQ(get("/api/v1/devices/bad%20id/drift").status, 400);
  EXPECT_EQ(get("/api/v1/devices/node-1/drift", std::nullopt).status, 401);
  ASSERT_EQ(provision({"node-1"}).status, 200);
  const auto reply = get("/api/v1/devices/node-1/drift");
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(reply.body["device"], "node-1");
  EXPECT_EQ(reply.body["reference"], "none");
  EXPECT_TRUE(reply.body["score"].is_null());
  EXPECT_EQ(reply.body["drifting"], false);
  EXPECT_TRUE(reply.body["since_ms"].is_null());
  EXPECT_EQ(reply.body["summaries"], 0);
  EXPECT_EQ(reply.body["summaries_received"], 0);
  EXPECT_EQ(reply.body["features"], json::array());
  EXPECT_TRUE(reply.body["baseline"].is_null());
  EXPECT_NE(reply.body["reason"].get<std::string>().find("no feature summary received yet"),
            std::string::npos);
}

TEST_F(HttpApiTest, DriftShowsThePrimaryReferenceAndTheBaselineFeatureByFeature) {
  ASSERT_EQ(provision({"node-1"}).status, 200);
  // Three summaries with x_rms at 14: 4 sd above this machine's calibration, 6 above the
  // fleet's training baseline.
  const drift::Reference calibration{
      drift::ReferenceKind::kCalibration, "vib-ae", 4, 2, {{10.0, 1.0}, {5.0, 0.5}}};
  const drift::Reference baseline{
      drift::ReferenceKind::kBaseline, "vib-ae", 4, 0, {{8.0, 1.0}, {5.0, 0.5}}};
  drift::State state;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const drift::Summary summary{
        seq, 1.8e9 + static_cast<double>(seq), 32, {{14.0, 1.0}, {5.0, 0.5}}};
    state = drift::step(state, calibration, baseline, summary, drift::Options{},
                        5000 + static_cast<std::int64_t>(seq))
                .state;
  }
  write([&](Store& store) {
    return store.save_drift_state({"node-1", state.drifting(), drift::encode_state(state), 6000});
  });
  const auto reply = get("/api/v1/devices/node-1/drift");
  ASSERT_EQ(reply.status, 200) << reply.raw;
  const json& body = reply.body;
  EXPECT_EQ(body["device"], "node-1");
  EXPECT_EQ(body["reference"], "calibration");
  EXPECT_EQ(body["model_id"], "vib-ae");
  EXPECT_EQ(body["version"], 4);
  EXPECT_EQ(body["generation"], 2);
  EXPECT_EQ(body["score"], 4.0);
  EXPECT_EQ(body["drifting"], true);
  EXPECT_EQ(body["since_ms"], 5003);
  EXPECT_EQ(body["summaries"], 3);
  EXPECT_EQ(body["summaries_received"], 3);
  EXPECT_EQ(body["updated_ms"], 6000);
  EXPECT_FALSE(body.contains("reason"));
  ASSERT_EQ(body["features"].size(), 2U);
  EXPECT_EQ(body["features"][0], json({{"name", "x_rms"},
                                       {"mean_shift", 4.0},
                                       {"log_variance_ratio", 0.0},
                                       {"score", 4.0},
                                       {"drifting", true}}));
  EXPECT_EQ(body["features"][1]["name"], "x_peak");
  EXPECT_EQ(body["features"][1]["drifting"], false);
  const json& fleet = body["baseline"];
  EXPECT_EQ(fleet["reference"], "baseline");
  EXPECT_TRUE(fleet["generation"].is_null());
  EXPECT_EQ(fleet["features"][0]["mean_shift"], 6.0);
  EXPECT_EQ(fleet["drifting"], true);  // reported; the calibration is what raises events
  EXPECT_EQ(fleet["summaries"], 3);
}

// ---- Models ----

TEST_F(HttpApiTest, ModelUploadRoundTrips) {
  const Bytes payload = payload_of("ciphertext of model vib-ae v1");
  const auto uploaded = upload("vib-ae", payload);
  ASSERT_EQ(uploaded.status, 201) << uploaded.raw;
  const std::string digest = test::to_hex(crypto::Sha256::of(payload));
  EXPECT_EQ(uploaded.body["digest"], digest);
  EXPECT_EQ(uploaded.body["size"], payload.size());
  EXPECT_EQ(uploaded.body["model_id"], "vib-ae");
  ASSERT_EQ(listener_.models().size(), 1U);
  EXPECT_EQ(listener_.models()[0].digest, digest);

  const auto listed = get("/api/v1/models");
  ASSERT_EQ(listed.body["models"].size(), 1U);
  EXPECT_EQ(listed.body["models"][0], uploaded.body);

  // The same bytes again: the existing record, 200 instead of 201.
  const auto again = upload("vib-ae", payload);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, uploaded.body);
  EXPECT_EQ(get("/api/v1/models").body["models"].size(), 1U);

  // curl --data-binary without a Content-Type sends form-urlencoded: still the raw bytes.
  const auto form =
      post("/api/v1/models?model_id=vib-ae", "a=b&c=d", "application/x-www-form-urlencoded");
  EXPECT_EQ(form.status, 201) << form.raw;
  EXPECT_EQ(form.body["size"], 7);
}

TEST_F(HttpApiTest, ModelUploadRefusesBadRequests) {
  const auto missing = post("/api/v1/models", "bytes", "application/octet-stream");
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(missing.body.value("error", "").find("model_id"), std::string::npos);
  const auto bad_id = upload("bad!id", payload_of("bytes"));
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_NE(bad_id.body.value("error", "").find("model_id"), std::string::npos);
  const auto empty = upload("vib-ae", {});
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.value("error", "").find("empty"), std::string::npos);
  EXPECT_EQ(get("/api/v1/models").body["models"].size(), 0U);
}

TEST_F(HttpApiTest, ModelOverTheLimitIs413) {
  auto options = default_options();
  options.max_models_bytes = 1024;
  options.max_body_bytes = 4096;
  restart_api(options);
  EXPECT_EQ(upload("vib-ae", Bytes(1024, 0x42)).status, 201);
  const auto over_model_limit = upload("vib-ae", Bytes(1025, 0x43));
  EXPECT_EQ(over_model_limit.status, 413);
  EXPECT_NE(over_model_limit.body.value("error", "").find("1024"), std::string::npos);
  const auto over_body_limit = upload("vib-ae", Bytes(8192, 0x44));
  EXPECT_EQ(over_body_limit.status, 413);
  EXPECT_TRUE(over_body_limit.body.contains("error"));
  EXPECT_EQ(get("/api/v1/models").body["models"].size(), 1U);
}

// ---- Deployments ----

class DeploymentTest : public HttpApiTest {
 protected:
  void SetUp() override {
    HttpApiTest::SetUp();
    ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
    ASSERT_EQ(upload("vib-ae", payload_).status, 201);
  }

  Reply deploy(const std::vector<Bytes>& manifests) const {
    return post_json("/api/v1/deployments", deployment_body(manifests));
  }

  // A manifest for the uploaded model, signed with the trusted key, unless `change` says
  // otherwise.
  Bytes manifest(const std::string& device, std::uint64_t version,
                 const std::function<void(ManifestSpec&)>& change = {}) const {
    ManifestSpec spec;
    spec.device = device;
    spec.version = version;
    spec.payload = payload_;
    if (change) change(spec);
    return signed_manifest(spec);
  }

  const Bytes payload_ = payload_of("ciphertext of model vib-ae v5");
  const std::string digest_ = test::to_hex(crypto::Sha256::of(payload_));
};

TEST_F(DeploymentTest, AcceptedDeploymentIsStoredAndAnnounced) {
  const Bytes first = manifest("node-1", 5);
  const auto accepted = deploy({first});
  ASSERT_EQ(accepted.status, 201) << accepted.raw;
  ASSERT_EQ(accepted.body["deployments"].size(), 1U);
  const json& created = accepted.body["deployments"][0];
  EXPECT_EQ(created["device"], "node-1");
  EXPECT_EQ(created["model_id"], "vib-ae");
  EXPECT_EQ(created["version"], 5);
  EXPECT_EQ(created["model_digest"], digest_);

  const auto announced = listener_.deployments();
  ASSERT_EQ(announced.size(), 1U);
  EXPECT_EQ(announced[0].id, created["id"].get<std::int64_t>());
  EXPECT_EQ(announced[0].manifest, first);
  EXPECT_EQ(announced[0].state, DeploymentState::kPending);

  const auto current = get("/api/v1/deployments");
  ASSERT_EQ(current.body["deployments"].size(), 1U);
  EXPECT_EQ(current.body["deployments"][0]["id"], created["id"]);
  EXPECT_EQ(current.body["deployments"][0]["state"], "pending");
  // What the node reports shows under its own name.
  const auto deployment_id = created["id"].get<std::int64_t>();
  write([deployment_id](Store& store) {
    return store.set_deployment_state(deployment_id, DeploymentState::kManifestRejected,
                                      "bad-signature", 7);
  });
  EXPECT_EQ(get("/api/v1/deployments").body["deployments"][0]["state"], "manifest-rejected");
  EXPECT_EQ(get("/api/v1/devices/node-1").body["deployment"]["version"], 5);

  // A higher version for the same device, and a first one for another, in one batch.
  const auto next = deploy({manifest("node-1", 6), manifest("node-2", 1)});
  ASSERT_EQ(next.status, 201) << next.raw;
  EXPECT_EQ(listener_.deployments().size(), 3U);
  const auto history = get("/api/v1/devices/node-1/deployments");
  ASSERT_EQ(history.body["deployments"].size(), 2U);
  EXPECT_EQ(history.body["deployments"][0]["version"], 6);  // newest first
  EXPECT_EQ(history.body["deployments"][1]["version"], 5);
  EXPECT_EQ(get("/api/v1/deployments").body["deployments"].size(), 2U);
}

TEST_F(DeploymentTest, RejectedManifestsAreNamedAndNothingIsStored) {
  ASSERT_EQ(deploy({manifest("node-1", 5)}).status, 201);
  const auto error_of = [](const Reply& reply) { return reply.body.value("error", ""); };

  const auto bad_signature =
      deploy({manifest("node-1", 6, [](ManifestSpec& spec) { spec.key = other_signing_key(); })});
  EXPECT_EQ(bad_signature.status, 400);
  EXPECT_NE(error_of(bad_signature).find("bad-signature"), std::string::npos) << bad_signature.raw;

  const auto unknown_key =
      deploy({manifest("node-1", 6, [](ManifestSpec& spec) { spec.kid = "someone-else"; })});
  EXPECT_EQ(unknown_key.status, 400);
  EXPECT_NE(error_of(unknown_key).find("unknown-key"), std::string::npos) << unknown_key.raw;
  EXPECT_NE(error_of(unknown_key).find("someone-else"), std::string::npos) << unknown_key.raw;

  Bytes tampered = manifest("node-1", 6);
  tampered[tampered.size() / 2] ^= 0x01;
  EXPECT_EQ(deploy({tampered}).status, 400);

  const Bytes other_payload = payload_of("never uploaded");
  const auto unknown_model =
      deploy({manifest("node-1", 6, [&](ManifestSpec& spec) { spec.payload = other_payload; })});
  EXPECT_EQ(unknown_model.status, 404);
  EXPECT_NE(error_of(unknown_model)
                .find("model " + test::to_hex(crypto::Sha256::of(other_payload)) +
                      " not uploaded: POST /api/v1/models first"),
            std::string::npos)
      << unknown_model.raw;

  const auto unknown_device = deploy({manifest("node-9", 1)});
  EXPECT_EQ(unknown_device.status, 404);
  EXPECT_NE(error_of(unknown_device).find("node-9"), std::string::npos);

  const auto wrong_size =
      deploy({manifest("node-1", 6, [](ManifestSpec& spec) { spec.size = 99; })});
  EXPECT_EQ(wrong_size.status, 400);
  EXPECT_NE(error_of(wrong_size).find("size-mismatch"), std::string::npos) << wrong_size.raw;

  const auto same_version = deploy({manifest("node-1", 5)});
  EXPECT_EQ(same_version.status, 409);
  EXPECT_NE(error_of(same_version).find("version 5 is not above the deployed version 5"),
            std::string::npos)
      << same_version.raw;
  EXPECT_EQ(deploy({manifest("node-1", 4)}).status, 409);

  // One bad entry stops the whole batch, including the good entry before it.
  const auto batch = deploy({manifest("node-2", 1), manifest("node-1", 3)});
  EXPECT_EQ(batch.status, 409);
  EXPECT_NE(error_of(batch).find("deployments[1]"), std::string::npos) << batch.raw;
  // Versions within one batch must increase too.
  EXPECT_EQ(deploy({manifest("node-2", 2), manifest("node-2", 2)}).status, 409);

  const auto not_hex = post("/api/v1/deployments", R"({"deployments": [{"manifest": "xyz"}]})");
  EXPECT_EQ(not_hex.status, 400);
  EXPECT_NE(error_of(not_hex).find("deployments[0].manifest"), std::string::npos);

  EXPECT_EQ(history_size("node-1"), 1U);
  EXPECT_EQ(history_size("node-2"), 0U);
  EXPECT_EQ(listener_.deployments().size(), 1U);
}

TEST_F(DeploymentTest, NoTrustedKeyMeansNoDeployments) {
  auto options = default_options();
  options.signers.clear();
  restart_api(options);
  const auto refused = deploy({manifest("node-1", 1)});
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body.value("error", ""),
            "no trusted signing key configured: start the gateway with --trust-key KID=FILE");
  EXPECT_EQ(history_size("node-1"), 0U);
}

// ---- Telemetry and events ----

class QueryTest : public HttpApiTest {
 protected:
  void SetUp() override {
    HttpApiTest::SetUp();
    ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
    std::vector<TelemetryRecord> records;
    for (int i = 0; i < 5; ++i) {
      records.push_back(
          number_reading("node-1", static_cast<std::uint64_t>(i + 1), "score", kT0 + i, 0.125 * i));
    }
    records.push_back(number_reading("node-1", 1, "latency", kT0, 0.004));
    records.push_back(number_reading("node-2", 1, "score", kT0, 0.5));
    TelemetryRecord text = number_reading("node-2", 2, "state", kT0 + 1, 0);
    text.kind = senml::ValueKind::kString;
    text.text = "running";
    TelemetryRecord flag = number_reading("node-2", 2, "alarm", kT0 + 1, 0);
    flag.kind = senml::ValueKind::kBool;
    flag.boolean = true;
    TelemetryRecord data = number_reading("node-2", 2, "stats", kT0 + 1, 0);
    data.kind = senml::ValueKind::kData;
    data.data = {0xde, 0xad, 0xbe, 0xef};
    records.insert(records.end(), {text, flag, data});
    write([records](Store& store) { return store.append_telemetry(records).status(); });

    write([](Store& store) {
      SPINDLE_TRY(store.append_event("node-1", "registered", "rd/1", 1000));
      SPINDLE_TRY(store.append_event("node-2", "offline", "lifetime expired", 2000));
      return store.append_event("", "started", "gateway 0.1.0", 3000).status();
    });
  }

  static std::vector<double> times_of(const json& records) {
    std::vector<double> times;
    for (const auto& record : records)
      times.push_back(record["time"].get<double>());
    return times;
  }

  static constexpr double kT0 = 1763800000.0;
};

TEST_F(QueryTest, TelemetryFiltersByDeviceNameAndTime) {
  const auto all = get("/api/v1/telemetry");
  ASSERT_EQ(all.status, 200) << all.raw;
  EXPECT_EQ(all.body["records"].size(), 10U);
  EXPECT_TRUE(all.body["next_after"].is_null());

  const auto scores = get("/api/v1/telemetry?device=node-1&name=score");
  EXPECT_EQ(times_of(scores.body["records"]),
            (std::vector<double>{kT0, kT0 + 1, kT0 + 2, kT0 + 3, kT0 + 4}));
  const json& first = scores.body["records"][0];
  EXPECT_EQ(first["device"], "node-1");
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(first["name"], "score");
  EXPECT_EQ(first["unit"], "/");
  EXPECT_EQ(first["value"], 0.0);

  // from inclusive, to exclusive, fractional seconds allowed.
  const auto window =
      get("/api/v1/telemetry?device=node-1&name=score&from=1763800001&to=1763800003");
  EXPECT_EQ(times_of(window.body["records"]), (std::vector<double>{kT0 + 1, kT0 + 2}));
  const auto fractional = get("/api/v1/telemetry?device=node-1&name=score&from=1763800002.5");
  EXPECT_EQ(times_of(fractional.body["records"]), (std::vector<double>{kT0 + 3, kT0 + 4}));

  const auto values = get("/api/v1/telemetry?device=node-2&from=1763800001");
  ASSERT_EQ(values.body["records"].size(), 3U);
  EXPECT_EQ(values.body["records"][0]["value"], "running");
  EXPECT_EQ(values.body["records"][1]["value"], true);
  EXPECT_EQ(values.body["records"][2]["value"], json({{"hex", "deadbeef"}}));

  EXPECT_EQ(get("/api/v1/devices/node-1").body["telemetry_records"], 6);
}

TEST_F(QueryTest, TelemetryPagesWithAfterAndLimit) {
  std::vector<std::int64_t> ids;
  std::string path = "/api/v1/telemetry?device=node-1&limit=4";
  for (int pages = 0; pages < 5; ++pages) {
    const auto reply = get(path);
    ASSERT_EQ(reply.status, 200) << reply.raw;
    for (const auto& record : reply.body["records"])
      ids.push_back(record["id"].get<std::int64_t>());
    if (reply.body["next_after"].is_null()) break;
    EXPECT_EQ(reply.body["records"].size(), 4U);
    EXPECT_EQ(reply.body["next_after"], ids.back());
    path = "/api/v1/telemetry?device=node-1&limit=4&after=" + std::to_string(ids.back());
  }
  ASSERT_EQ(ids.size(), 6U);
  for (std::size_t i = 1; i < ids.size(); ++i)
    EXPECT_LT(ids[i - 1], ids[i]);
  // A page that ends exactly at the last record says so.
  const auto exact = get("/api/v1/telemetry?device=node-1&limit=6");
  EXPECT_EQ(exact.body["records"].size(), 6U);
  EXPECT_TRUE(exact.body["next_after"].is_null());
}

TEST_F(QueryTest, EventsFilterAndPage) {
  const auto all = get("/api/v1/events");
  ASSERT_EQ(all.status, 200) << all.raw;
  ASSERT_EQ(all.body["events"].size(), 3U);
  EXPECT_EQ(all.body["events"][2]["device"], "");
  EXPECT_EQ(all.body["events"][2]["kind"], "started");
  EXPECT_EQ(all.body["events"][2]["time_ms"], 3000);
  EXPECT_EQ(all.body["events"][2]["detail"], "gateway 0.1.0");

  const auto by_device = get("/api/v1/events?device=node-1");
  ASSERT_EQ(by_device.body["events"].size(), 1U);
  EXPECT_EQ(by_device.body["events"][0]["kind"], "registered");
  const auto by_kind = get("/api/v1/events?kind=offline");
  ASSERT_EQ(by_kind.body["events"].size(), 1U);
  EXPECT_EQ(by_kind.body["events"][0]["device"], "node-2");
  EXPECT_EQ(get("/api/v1/events?from_ms=1500&to_ms=3000").body["events"].size(), 1U);
  EXPECT_EQ(get("/api/v1/events?from_ms=1500").body["events"].size(), 2U);

  const auto first_page = get("/api/v1/events?limit=2");
  ASSERT_EQ(first_page.body["events"].size(), 2U);
  const auto after = first_page.body["next_after"].get<std::int64_t>();
  const auto second_page = get("/api/v1/events?limit=2&after=" + std::to_string(after));
  ASSERT_EQ(second_page.body["events"].size(), 1U);
  EXPECT_EQ(second_page.body["events"][0]["kind"], "started");
  EXPECT_TRUE(second_page.body["next_after"].is_null());
}

TEST_F(QueryTest, BadQueryParametersAreNamed) {
  const auto expect_named = [this](const std::string& path, const std::string& name) {
    const auto reply = get(path);
    EXPECT_EQ(reply.status, 400) << path;
    EXPECT_NE(reply.body.value("error", "").find(name), std::string::npos)
        << path << ": " << reply.raw;
  };
  expect_named("/api/v1/telemetry?limit=0", "limit");
  expect_named("/api/v1/telemetry?limit=10001", "limit");
  expect_named("/api/v1/telemetry?limit=ten", "limit");
  expect_named("/api/v1/telemetry?from=yesterday", "from");
  expect_named("/api/v1/telemetry?to=inf", "to");
  expect_named("/api/v1/telemetry?after=-1", "after");
  expect_named("/api/v1/telemetry?device=bad!id", "device");
  expect_named("/api/v1/telemetry?devcie=node-1", "devcie");
  expect_named("/api/v1/telemetry?limit=1&limit=2", "limit");
  expect_named("/api/v1/events?from_ms=1.5", "from_ms");
  expect_named("/api/v1/events?to_ms=soon", "to_ms");
  expect_named("/api/v1/events?kind=", "kind");
  expect_named("/api/v1/devices?page=2", "page");
}

// ---- Lifecycle ----

TEST_F(HttpApiTest, StopBeforeRunMakesRunReturnAtOnce) {
  stop_api();
  auto reader = open_sqlite_store(dir_);
  ASSERT_TRUE(reader.ok());
  HttpApi api(default_options(), *writer_, std::move(reader).value(), keys_, metrics_, listener_);
  ASSERT_TRUE(api.start().ok());
  EXPECT_EQ(api.start(), Status(Error::kInvalidState));
  api.stop();
  api.run();  // returns: the stop came first
  api.stop();
}

TEST_F(HttpApiTest, StartFailsWhenThePortIsTaken) {
  auto reader = open_sqlite_store(dir_);
  ASSERT_TRUE(reader.ok());
  auto options = default_options();
  options.port = api_->port();
  HttpApi second(options, *writer_, std::move(reader).value(), keys_, metrics_, listener_);
  EXPECT_EQ(second.start(), Status(Error::kIoError));
}

// ---- Rollouts ----

// The API with a rollout driver, ticked by hand (no thread), over two provisioned devices
// and an uploaded candidate.
class RolloutApiTest : public HttpApiTest {
 protected:
  void SetUp() override {
    HttpApiTest::SetUp();
    stop_api();
    auto reader = open_sqlite_store(dir_);
    ASSERT_TRUE(reader.ok());
    driver_ =
        std::make_unique<RolloutDriver>(*writer_, std::move(reader).value(), listener_, metrics_);
    auto api_reader = open_sqlite_store(dir_);
    ASSERT_TRUE(api_reader.ok());
    api_ = std::make_unique<HttpApi>(default_options(), *writer_, std::move(api_reader).value(),
                                     keys_, metrics_, listener_, driver_.get());
    ASSERT_TRUE(api_->start().ok());
    server_thread_ = std::thread([this] { api_->run(); });
    ASSERT_EQ(provision({"node-1", "node-2"}).status, 200);
    ASSERT_EQ(upload("vib-ae", payload_).status, 201);
  }

  void TearDown() override {
    stop_api();
    driver_.reset();
    HttpApiTest::TearDown();
  }

  Bytes candidate(const std::string& device, manifest::ManifestRole role) const {
    ManifestSpec spec;
    spec.device = device;
    spec.version = 5;
    spec.payload = payload_;
    spec.role = role;
    return signed_manifest(spec);
  }

  Bytes signed_decision(const std::string& device, decision::Action action,
                        std::uint64_t version = 5) const {
    const crypto::Digest digest = crypto::Sha256::of(payload_);
    decision::Decision d;
    d.device_id = device;
    d.action = action;
    d.model_id = "vib-ae";
    d.version = version;
    d.payload_digest = digest;
    std::array<std::uint8_t, decision::kMaxSignedSize> buffer{};
    const std::string kid = examples::test_signing_kid();
    const auto out = decision::sign(d, examples::test_signing_key(), crypto::as_bytes(kid), buffer);
    EXPECT_TRUE(out.ok());
    return {out->begin(), out->end()};
  }

  json body(bool auto_revert, const std::function<void(json&)>& change = {}) const {
    json devices = json::array();
    for (const std::string device : {"node-1", "node-2"}) {
      json entry = {{"device", device},
                    {"manifest", test::to_hex(candidate(device, manifest::ManifestRole::kActive))}};
      if (auto_revert) {
        entry["revert"] = test::to_hex(signed_decision(device, decision::Action::kRevert));
      }
      devices.push_back(std::move(entry));
    }
    json out = {{"name", "v5"},
                {"plan", {{"stages", "1,100%"}, {"soak_s", 60}, {"auto_revert", auto_revert}}},
                {"devices", std::move(devices)}};
    if (change) change(out);
    return out;
  }

  const Bytes payload_ = payload_of("ciphertext of model vib-ae v5");
  std::unique_ptr<RolloutDriver> driver_;
};

TEST_F(RolloutApiTest, ARolloutIsCreatedReleasesItsCanaryOnTheNextTickAndIsSteered) {
  const auto created = post_json("/api/v1/rollouts", body(true));
  ASSERT_EQ(created.status, 201) << created.raw;
  const auto id = created.body["id"].get<std::int64_t>();
  EXPECT_EQ(created.body["stages"], "1,100%");
  EXPECT_TRUE(listener_.deployments().empty());  // nothing before the driver's tick

  ASSERT_TRUE(driver_->tick(now_ms()).ok());
  const auto announced = listener_.deployments();
  ASSERT_EQ(announced.size(), 1U);
  EXPECT_EQ(announced[0].device_id, "node-1");  // the canary, in the order given
  auto view = get("/api/v1/rollouts/" + std::to_string(id));
  ASSERT_EQ(view.status, 200) << view.raw;
  EXPECT_EQ(view.body["phase"], "running");
  EXPECT_EQ(view.body["stage"], 1);
  EXPECT_EQ(view.body["devices"][0]["step"], "released");
  EXPECT_EQ(view.body["devices"][1]["step"], "waiting");
  EXPECT_FALSE(view.body["gates"].empty());

  const std::string path = "/api/v1/rollouts/" + std::to_string(id);
  EXPECT_EQ(post_json(path + "/pause", json::object()).body["phase"], "paused");
  EXPECT_EQ(post_json(path + "/resume", json::object()).body["phase"], "running");
  EXPECT_EQ(post_json(path + "/abort", json::object()).body["phase"], "aborted");
  EXPECT_EQ(post_json(path + "/resume", json::object()).status, 409);
  EXPECT_EQ(post_json("/api/v1/rollouts/99/pause", json::object()).status, 404);
  EXPECT_EQ(get("/api/v1/rollouts/x1").status, 400);
  const auto listed = get("/api/v1/rollouts").body["rollouts"];
  ASSERT_EQ(listed.size(), 1U);
  EXPECT_EQ(listed[0]["phase"], "aborted");
  EXPECT_EQ(get("/api/v1/events?kind=rollout-aborted").body["events"].size(), 1U);
}

TEST_F(RolloutApiTest, WhatSpindlectlSignedIsCheckedBeforeAnythingIsStored) {
  const auto refused = [&](const std::function<void(json&)>& change, std::string_view why) {
    const auto answer = post_json("/api/v1/rollouts", body(true, change));
    EXPECT_EQ(answer.status, 400) << answer.raw;
    EXPECT_NE(answer.raw.find(why), std::string::npos) << answer.raw;
  };
  refused([](json& b) { b["devices"][0].erase("revert"); }, "required by this plan");
  refused(
      [&](json& b) {
        b["devices"][0]["revert"] =
            test::to_hex(signed_decision("node-2", decision::Action::kRevert));
      },
      "not a revert of this device's candidate");
  refused(
      [&](json& b) {
        b["devices"][0]["revert"] =
            test::to_hex(signed_decision("node-1", decision::Action::kPromote));
      },
      "not a revert");
  refused(
      [&](json& b) {
        b["devices"][0]["revert"] =
            test::to_hex(signed_decision("node-1", decision::Action::kRevert, 4));
      },
      "not a revert");
  refused(
      [&](json& b) {
        // A manifest signature is not a decision's.
        b["devices"][0]["revert"] = b["devices"][0]["manifest"];
      },
      "does not verify");
  refused([](json& b) { b["devices"][1] = b["devices"][0]; }, "twice");
  refused([](json& b) { b["plan"]["stages"] = "50%,20%"; }, "stage");
  refused(
      [&](json& b) {
        b["devices"][0]["manifest"] =
            test::to_hex(candidate("node-1", manifest::ManifestRole::kShadow));
      },
      "role");
  refused([](json& b) { b["devices"][0]["device"] = "node-2"; }, "bound to");
  EXPECT_TRUE(get("/api/v1/rollouts").body["rollouts"].empty());
  // A shadow manifest is a rollout's to deploy, never a plain deployment's.
  const auto plain = post_json(
      "/api/v1/deployments",
      {{"deployments",
        {{{"manifest", test::to_hex(candidate("node-1", manifest::ManifestRole::kShadow))}}}}});
  EXPECT_EQ(plain.status, 400) << plain.raw;
  EXPECT_NE(plain.raw.find("rollout"), std::string::npos) << plain.raw;
}

TEST_F(RolloutApiTest, ARolloutMayCarryMoreThanTheOtherEndpointsBodyLimit) {
  // 3 MiB: over the 2 MiB every other endpoint takes, within a rollout's 64 MiB.
  json big = body(true);
  big["padding"] = std::string(3 * 1024 * 1024, 'x');
  const auto rollout = post_json("/api/v1/rollouts", big);
  EXPECT_EQ(rollout.status, 201) << rollout.raw.substr(0, 200);
  const auto deployments = post_json("/api/v1/deployments", big);
  EXPECT_EQ(deployments.status, 413) << deployments.raw.substr(0, 200);
}

TEST_F(HttpApiTest, AGatewayWithoutARolloutDriverRefusesToStartOne503) {
  EXPECT_EQ(post_json("/api/v1/rollouts", json::object()).status, 503);
  EXPECT_EQ(get("/api/v1/rollouts/1").status, 503);
  EXPECT_EQ(get("/api/v1/rollouts").status, 200);  // what is stored can still be listed
}

}  // namespace
}  // namespace spindle::gateway
