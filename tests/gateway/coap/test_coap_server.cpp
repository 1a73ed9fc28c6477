// gateway/coap: no exception reaches libcoap. A CoapServer on loopback (plain UDP) over a
// real SQLite store whose reads or writes can be made to throw answers the request that
// hit the throw with 5.00 and goes on serving the next one; requests are raw CoAP
// datagrams (RFC 7252 section 3), so the test depends on nothing but a UDP socket.
// Calibration reports are kept as the device's latest, and telemetry's feature summaries
// step its drift state; under --drift-policy capture a device that starts drifting is asked
// for one capture in the answer to that batch, and a calibration reset rides on every answer
// until the node reports the next generation.
#include "spindle/gateway/coap_server.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/drift.hpp"
#include "spindle/protocol/cbor_writer.hpp"
#include "spindle/protocol/gateway_request.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {
namespace {

namespace fs = std::filesystem;

// CoAP codes as class.detail (RFC 7252 section 12.1).
constexpr std::uint8_t code_of(int code_class, int detail) {
  return static_cast<std::uint8_t>(code_class << 5 | detail);
}
constexpr std::uint8_t kGet = 1;
constexpr std::uint8_t kPost = 2;
constexpr std::uint8_t kChanged = code_of(2, 4);
constexpr std::uint8_t kContent = code_of(2, 5);
constexpr std::uint8_t kBadRequest = code_of(4, 0);
constexpr std::uint8_t kInternalError = code_of(5, 0);

constexpr std::uint16_t kOptionUriPath = 11;
constexpr std::uint16_t kOptionContentFormat = 12;
constexpr std::uint16_t kFormatSenmlCbor = 112;
constexpr std::uint16_t kFormatCbor = 60;

// Which store operations throw; shared by the test and the stores it hands out.
struct Faults {
  std::atomic<bool> read_model_payload{false};
  std::atomic<bool> append_telemetry{false};
};

// A real store, except that the operations `faults` names throw.
class FaultyStore final : public Store {
 public:
  FaultyStore(std::unique_ptr<Store> inner, const Faults& faults)
      : inner_(std::move(inner)), faults_(faults) {}

  Status begin() override { return inner_->begin(); }
  Status commit() override { return inner_->commit(); }
  Status rollback() override { return inner_->rollback(); }
  Status savepoint() override { return inner_->savepoint(); }
  Status release_savepoint() override { return inner_->release_savepoint(); }
  Status rollback_to_savepoint() override { return inner_->rollback_to_savepoint(); }
  Status add_device(std::string_view id, std::int64_t now) override {
    return inner_->add_device(id, now);
  }
  Result<StoredDevice> get_device(std::string_view id) override { return inner_->get_device(id); }
  Result<std::vector<StoredDevice>> list_devices() override { return inner_->list_devices(); }
  Status set_device_tags(std::string_view id,
                         const std::map<std::string, std::string>& tags) override {
    return inner_->set_device_tags(id, tags);
  }
  Status save_registration(std::string_view id, std::span<const std::uint8_t> body,
                           std::string_view location, std::uint32_t lifetime_s,
                           std::int64_t now) override {
    return inner_->save_registration(id, body, location, lifetime_s, now);
  }
  Status touch_device(std::string_view id, std::uint32_t lifetime_s, std::int64_t now) override {
    return inner_->touch_device(id, lifetime_s, now);
  }
  Status set_online(std::string_view id, bool online) override {
    return inner_->set_online(id, online);
  }
  Status save_attestation(std::string_view id, const StoredAttestation& attestation) override {
    return inner_->save_attestation(id, attestation);
  }
  Status save_calibration(std::string_view id, const StoredCalibration& calibration) override {
    return inner_->save_calibration(id, calibration);
  }
  Status save_recalibration(std::string_view id,
                            const StoredRecalibration& recalibration) override {
    return inner_->save_recalibration(id, recalibration);
  }
  Status clear_recalibration(std::string_view id) override {
    return inner_->clear_recalibration(id);
  }
  Status save_drift_state(const StoredDriftState& state) override {
    return inner_->save_drift_state(state);
  }
  Result<StoredDriftState> get_drift_state(std::string_view id) override {
    return inner_->get_drift_state(id);
  }
  Result<AdaptationCounts> count_adaptation() override { return inner_->count_adaptation(); }
  Result<StoredModel> put_model(std::string_view model_id, std::span<const std::uint8_t> payload,
                                std::int64_t now) override {
    return inner_->put_model(model_id, payload, now);
  }
  Result<StoredModel> get_model(std::string_view digest) override {
    return inner_->get_model(digest);
  }
  Result<std::vector<StoredModel>> list_models() override { return inner_->list_models(); }
  Result<Bytes> read_model_payload(std::string_view digest) override {
    if (faults_.read_model_payload) throw std::runtime_error("payload file vanished");
    return inner_->read_model_payload(digest);
  }
  Result<std::int64_t> add_deployment(const StoredDeployment& deployment) override {
    return inner_->add_deployment(deployment);
  }
  Result<std::vector<StoredDeployment>> current_deployments() override {
    return inner_->current_deployments();
  }
  Result<std::vector<StoredDeployment>> device_deployments(std::string_view id) override {
    return inner_->device_deployments(id);
  }
  Status set_deployment_state(std::int64_t id, DeploymentState state, std::string_view reason,
                              std::int64_t now) override {
    return inner_->set_deployment_state(id, state, reason, now);
  }
  Result<StoredDeployment> get_deployment(std::int64_t id) override {
    return inner_->get_deployment(id);
  }
  Status save_shadow_report(std::string_view id, const StoredShadowReport& report) override {
    return inner_->save_shadow_report(id, report);
  }
  Result<StoredShadowReport> get_shadow_report(std::string_view id) override {
    return inner_->get_shadow_report(id);
  }
  Result<std::int64_t> add_rollout(const StoredRollout& rollout,
                                   std::span<const StoredRolloutDevice> devices) override {
    return inner_->add_rollout(rollout, devices);
  }
  Result<StoredRollout> get_rollout(std::int64_t id) override { return inner_->get_rollout(id); }
  Result<std::vector<StoredRollout>> list_rollouts() override { return inner_->list_rollouts(); }
  Result<std::vector<StoredRolloutDevice>> rollout_devices(std::int64_t id) override {
    return inner_->rollout_devices(id);
  }
  Status save_rollout_state(const StoredRollout& rollout) override {
    return inner_->save_rollout_state(rollout);
  }
  Status save_rollout_device(const StoredRolloutDevice& device) override {
    return inner_->save_rollout_device(device);
  }
  Result<std::vector<StoredRolloutDevice>> outstanding_decisions() override {
    return inner_->outstanding_decisions();
  }
  Result<std::size_t> append_telemetry(std::span<const TelemetryRecord> records) override {
    if (faults_.append_telemetry) throw std::runtime_error("disk on fire");
    return inner_->append_telemetry(records);
  }
  Result<std::vector<TelemetryRecord>> query_telemetry(const TelemetryQuery& query) override {
    return inner_->query_telemetry(query);
  }
  Result<std::uint64_t> count_telemetry(std::string_view id) override {
    return inner_->count_telemetry(id);
  }
  Result<TelemetrySummary> summarize_telemetry(std::string_view id, double from,
                                               double to) override {
    return inner_->summarize_telemetry(id, from, to);
  }
  Result<StoredCapture> add_capture(const StoredCapture& capture) override {
    return inner_->add_capture(capture);
  }
  Result<StoredCapture> get_capture(std::int64_t id) override { return inner_->get_capture(id); }
  Result<std::vector<StoredCapture>> list_captures(std::string_view id, bool active) override {
    return inner_->list_captures(id, active);
  }
  Result<bool> add_capture_chunk(const StoredCaptureChunk& chunk) override {
    return inner_->add_capture_chunk(chunk);
  }
  Status fail_capture(std::int64_t id, std::string_view reason, std::int64_t now) override {
    return inner_->fail_capture(id, reason, now);
  }
  Result<std::vector<StoredCaptureChunk>> capture_chunks(std::int64_t id) override {
    return inner_->capture_chunks(id);
  }
  Result<std::int64_t> append_event(std::string_view id, std::string_view kind,
                                    std::string_view detail, std::int64_t now) override {
    return inner_->append_event(id, kind, detail, now);
  }
  Result<std::vector<StoredEvent>> query_events(const EventQuery& query) override {
    return inner_->query_events(query);
  }

 private:
  std::unique_ptr<Store> inner_;
  const Faults& faults_;
};

struct Answer {
  std::uint8_t code = 0;
  std::string payload;
};

// A CoAP client over one UDP socket: confirmable requests, piggybacked or separate answers.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<const sockaddr*>(&server), sizeof server), 0);
    timeval timeout{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends one request (path segments, optional Content-Format and body) and waits for its
  // answer; nullopt when none came within the timeout.
  std::optional<Answer> request(std::uint8_t method, const std::vector<std::string>& path,
                                std::optional<std::uint16_t> format = std::nullopt,
                                const Bytes& body = {}) {
    const std::uint16_t mid = ++mid_;
    const std::array<std::uint8_t, 2> token = {0x7a, static_cast<std::uint8_t>(mid)};
    Bytes datagram = {static_cast<std::uint8_t>(0x40 | token.size()), method,
                      static_cast<std::uint8_t>(mid >> 8), static_cast<std::uint8_t>(mid)};
    datagram.insert(datagram.end(), token.begin(), token.end());
    std::uint16_t last = 0;
    for (const std::string& segment : path) {
      add_option(datagram, last, kOptionUriPath, {segment.begin(), segment.end()});
    }
    if (format) {
      add_option(datagram, last, kOptionContentFormat,
                 {static_cast<std::uint8_t>(*format)});  // formats below 256 here
    }
    if (!body.empty()) {
      datagram.push_back(0xff);
      datagram.insert(datagram.end(), body.begin(), body.end());
    }
    EXPECT_EQ(::send(fd_, datagram.data(), datagram.size(), 0),
              static_cast<ssize_t>(datagram.size()));
    for (;;) {
      std::array<std::uint8_t, 2048> in{};
      const ssize_t size = ::recv(fd_, in.data(), in.size(), 0);
      if (size < 4) return std::nullopt;
      const int type = in[0] >> 4 & 0x3;
      const std::size_t tkl = in[0] & 0xf;
      const std::uint8_t code = in[1];
      if (type == 0) {  // a separate response (CON): acknowledge it
        const std::array<std::uint8_t, 4> ack = {0x60, 0, in[2], in[3]};
        (void)::send(fd_, ack.data(), ack.size(), 0);
      }
      if (code == 0) continue;  // the empty ACK of a request answered later
      if (tkl != token.size() || !std::equal(token.begin(), token.end(), in.begin() + 4)) continue;
      return Answer{code, payload_of({in.data(), static_cast<std::size_t>(size)}, 4 + tkl)};
    }
  }

 private:
  static void add_option(Bytes& out, std::uint16_t& last, std::uint16_t number,
                         const Bytes& value) {
    const auto nibble = [](std::size_t n) { return n < 13 ? n : 13; };  // values < 269 here
    const auto delta = static_cast<std::size_t>(number - last);
    last = number;
    out.push_back(static_cast<std::uint8_t>(nibble(delta) << 4 | nibble(value.size())));
    if (delta >= 13) out.push_back(static_cast<std::uint8_t>(delta - 13));
    if (value.size() >= 13) out.push_back(static_cast<std::uint8_t>(value.size() - 13));
    out.insert(out.end(), value.begin(), value.end());
  }

  // Skips the options (RFC 7252 section 3.1) and returns what follows the payload marker.
  static std::string payload_of(std::span<const std::uint8_t> message, std::size_t at) {
    const auto extended = [&](std::size_t nibble) -> std::size_t {
      if (nibble == 13) return 13 + message[at++];
      if (nibble == 14) {
        const std::size_t value = 269 + (std::size_t{message[at]} << 8 | message[at + 1]);
        at += 2;
        return value;
      }
      return nibble;
    };
    while (at < message.size() && message[at] != 0xff) {
      const std::uint8_t header = message[at++];
      (void)extended(static_cast<std::size_t>(header >> 4));
      at += extended(static_cast<std::size_t>(header & 0xf));
    }
    if (at >= message.size()) return {};
    return {message.begin() + static_cast<std::ptrdiff_t>(at) + 1, message.end()};
  }

  int fd_ = -1;
  std::uint16_t mid_ = 0x1200;
};

std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

Bytes telemetry_batch(std::uint64_t seq) {
  const std::array<senml::Record, 1> records = {
      senml::reading_number("score", "/", 0.25, 0.0, seq)};
  std::array<std::uint8_t, 256> buffer{};
  const auto encoded = senml::encode(records, buffer);
  EXPECT_TRUE(encoded.ok());
  return {encoded->begin(), encoded->end()};
}

// Two features, (0.5, 0.25) and (-1.0, 2.0), float32 little-endian.
constexpr std::array<std::uint8_t, 16> kTwoPairs = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e,
                                                    0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};

Bytes calibration_report(std::string_view model_id, status_report::CalibrationState state,
                         std::uint32_t windows_done, std::uint32_t generation = 1) {
  status_report::StatusReport report;
  report.kind = status_report::Kind::kCalibration;
  report.calibration = {.model_id = model_id,
                        .version = 4,
                        .state = state,
                        .generation = generation,
                        .windows_done = windows_done,
                        .windows_total = 600,
                        .threshold = 0.8125F,
                        .clamp = status_report::ThresholdClamp::kNone,
                        .normalization = {}};
  if (state == status_report::CalibrationState::kCalibrated) {
    report.calibration.normalization = kTwoPairs;
  }
  std::array<std::uint8_t, 256> buffer{};
  const auto encoded = status_report::encode(report, buffer);
  EXPECT_TRUE(encoded.ok());
  return {encoded->begin(), encoded->end()};
}

// A feature summary as a node sends it: feature_windows and feature_stats of one reading.
Bytes feature_summary_batch(std::uint64_t seq, std::span<const std::uint8_t> pairs = kTwoPairs) {
  std::array<senml::Record, 2> records = {
      senml::reading_number("feature_windows", "", 32, 0.0, seq),
      senml::reading_number("feature_stats", "", 0, 0.0, seq)};
  records[0].base_name = "urn:dev:spindle:node-1:";
  records[0].has_base_time = true;
  records[0].base_time = 1.8e9 + static_cast<double>(seq);
  records[1].kind = senml::ValueKind::kData;
  records[1].data = pairs;
  std::array<std::uint8_t, 256> buffer{};
  const auto encoded = senml::encode(records, buffer);
  EXPECT_TRUE(encoded.ok());
  return {encoded->begin(), encoded->end()};
}

class CoapServerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "spindle-coap-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto writer_store = open_sqlite_store(dir_);
    ASSERT_TRUE(writer_store.ok());
    writer_ = std::make_unique<Writer>(
        std::make_unique<FaultyStore>(std::move(writer_store).value(), faults_), metrics_);
    ASSERT_TRUE(writer_->run([](Store& s) { return s.add_device("node-1", now_ms()); }).ok());
    const Bytes payload(3000, 0x5c);
    ASSERT_TRUE(writer_
                    ->run([&](Store& s) {
                      SPINDLE_TRY_ASSIGN(const StoredModel model,
                                         s.put_model("vib-ae", payload, now_ms()));
                      model_digest_ = model.digest;
                      return Status(kOk);
                    })
                    .ok());

    auto reader = open_sqlite_store(dir_);
    ASSERT_TRUE(reader.ok());
    CoapServerOptions options;
    options.port = free_udp_port();
    options.insecure = true;
    configure(options);
    server_ = std::make_unique<CoapServer>(
        options, *writer_, std::make_unique<FaultyStore>(std::move(reader).value(), faults_), keys_,
        metrics_);
    ASSERT_TRUE(server_->start().ok());
    server_thread_ = std::thread([this] { (void)server_->run(); });
    client_ = std::make_unique<RawClient>(server_->port());
  }

  void TearDown() override {
    if (server_) server_->stop();
    if (server_thread_.joinable()) server_thread_.join();
    if (writer_) writer_->stop();
    if (server_) server_->drain();
    client_.reset();
    server_.reset();
    writer_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  virtual void configure(CoapServerOptions&) {}

  // The server still answers: discovery is served from memory.
  void expect_serving() {
    const auto core = client_->request(kGet, {".well-known", "core"});
    ASSERT_TRUE(core.has_value());
    EXPECT_EQ(core->code, kContent);
    EXPECT_NE(core->payload.find("</rd>"), std::string::npos);
  }

  fs::path dir_;
  Faults faults_;
  Metrics metrics_;
  SiteKeys keys_{Bytes(32, 0x42)};
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<CoapServer> server_;
  std::thread server_thread_;
  std::unique_ptr<RawClient> client_;
  std::string model_digest_;
};

TEST_F(CoapServerFaultTest, AModelPayloadServedBeforeAnyFaultIsContent) {
  const auto block = client_->request(kGet, {"m", model_digest_});
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->code, kContent);
}

TEST_F(CoapServerFaultTest, AHandlerThatThrowsIsAnswered500AndTheServerKeepsServing) {
  faults_.read_model_payload = true;
  const auto failed = client_->request(kGet, {"m", model_digest_});
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code, kInternalError);
  EXPECT_EQ(failed->payload, "internal error");
  expect_serving();

  faults_.read_model_payload = false;  // the failure was not cached
  const auto block = client_->request(kGet, {"m", model_digest_});
  ASSERT_TRUE(block.has_value());
  EXPECT_EQ(block->code, kContent);
}

TEST_F(CoapServerFaultTest, AStoreWriteThatThrowsIsAnswered500AndTheNextWriteCommits) {
  faults_.append_telemetry = true;
  const auto failed =
      client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor, telemetry_batch(1));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code, kInternalError);
  EXPECT_EQ(failed->payload, "io-error");
  expect_serving();

  faults_.append_telemetry = false;
  const auto stored =
      client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor, telemetry_batch(2));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->code, kChanged);
  auto reader = open_sqlite_store(dir_);
  ASSERT_TRUE(reader.ok());
  const auto count = (*reader)->count_telemetry("node-1");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1U);  // the batch whose write threw was undone
}

// ---- Calibration reports and drift ----

TEST_F(CoapServerFaultTest, ACalibrationReportIsKeptWithAnEventWhenItsStateChanges) {
  using status_report::CalibrationState;
  const auto post = [&](const Bytes& body) {
    const auto answer = client_->request(kPost, {"d", "node-1", "status"}, kFormatCbor, body);
    EXPECT_TRUE(answer.has_value());
    return answer ? answer->code : 0;
  };
  auto reader = open_sqlite_store(dir_);
  ASSERT_TRUE(reader.ok());
  const auto calibration_events = [&] {
    EventQuery query;
    query.kind = "calibration";
    return (*reader)->query_events(query).value();
  };

  EXPECT_EQ(post(calibration_report("vib-ae", CalibrationState::kNormalizing, 10)), kChanged);
  auto device = (*reader)->get_device("node-1");
  ASSERT_TRUE(device.ok());
  ASSERT_TRUE(device->calibration.has_value());
  EXPECT_EQ(device->calibration->state, CalibrationState::kNormalizing);
  EXPECT_EQ(device->calibration->windows_done, 10U);
  ASSERT_EQ(calibration_events().size(), 1U);
  EXPECT_NE(calibration_events()[0].detail.find(
                "vib-ae v4: normalizing (generation 1, 10/600 windows, threshold 0.8125"),
            std::string::npos)
      << calibration_events()[0].detail;

  // Progress in the same state: kept, no new event.
  EXPECT_EQ(post(calibration_report("vib-ae", CalibrationState::kNormalizing, 200)), kChanged);
  EXPECT_EQ((*reader)->get_device("node-1")->calibration->windows_done, 200U);
  EXPECT_EQ(calibration_events().size(), 1U);

  EXPECT_EQ(post(calibration_report("vib-ae", CalibrationState::kCalibrated, 600)), kChanged);
  device = (*reader)->get_device("node-1");
  EXPECT_EQ(device->calibration->state, CalibrationState::kCalibrated);
  EXPECT_EQ(device->calibration->normalization, Bytes(kTwoPairs.begin(), kTwoPairs.end()));
  EXPECT_EQ(calibration_events().size(), 2U);
  EXPECT_EQ(metrics_.devices_in_calibration_state(CalibrationState::kCalibrated), 1U);
  EXPECT_EQ(metrics_.devices_in_calibration_state(CalibrationState::kNormalizing), 0U);

  // A report for a model the gateway did not deploy is what the node runs: kept too.
  EXPECT_EQ(post(calibration_report("other-model", CalibrationState::kNormalizing, 1)), kChanged);
  EXPECT_EQ((*reader)->get_device("node-1")->calibration->model_id, "other-model");
  EXPECT_EQ(calibration_events().size(), 3U);
}

TEST_F(CoapServerFaultTest, AnInvalidCalibrationReportIsRefusedWithItsReason) {
  // {1: 2, 2: "vib-ae", 3: 4, 11: 1, 12: 1, 13: 700, 14: 600, 15: 0.75, 16: 0}: more windows
  // done than in all.
  std::array<std::uint8_t, 64> buffer{};
  cbor::Writer w(buffer);
  w.map(9).uint(1).uint(2).uint(2).text("vib-ae").uint(3).uint(4).uint(11).uint(1);
  w.uint(12).uint(1).uint(13).uint(700).uint(14).uint(600).uint(15).float32(0.75F);
  w.uint(16).uint(0);
  const auto body = w.finish();
  ASSERT_TRUE(body.ok());
  const auto answer = client_->request(kPost, {"d", "node-1", "status"}, kFormatCbor,
                                       Bytes(body->begin(), body->end()));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->code, kBadRequest);
  EXPECT_EQ(answer->payload, "status report: invalid-value");
  auto reader = open_sqlite_store(dir_);
  EXPECT_FALSE((*reader)->get_device("node-1")->calibration.has_value());
}

TEST_F(CoapServerFaultTest, FeatureSummariesInTelemetryStepTheDriftStateOnce) {
  const auto stored =
      client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor, feature_summary_batch(1));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->code, kChanged);
  // Retransmitted: stored once, stepped once.
  const auto again =
      client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor, feature_summary_batch(1));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->code, kChanged);
  auto reader = open_sqlite_store(dir_);
  ASSERT_TRUE(reader.ok());
  const auto state = (*reader)->get_drift_state("node-1");
  ASSERT_TRUE(state.ok()) << state.status().name();
  const auto decoded = drift::decode_state(state->state);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->summaries, 1U);
  EXPECT_EQ(decoded->primary, drift::ReferenceKind::kNone);  // nothing deployed here
  EXPECT_EQ(decoded->last_seq, 1U);
}

// ---- What drift does, and calibration resets ----

// The first feature (x_rms) 20 reference standard deviations away, the second as calibrated.
constexpr std::array<std::uint8_t, 16> kDriftedPairs = {
    0x00, 0x00, 0xa0, 0x40, 0x00, 0x00, 0x80, 0x3e,
    0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};  // (5.0, 0.25), (-1.0, 2.0)

class CoapServerDriftCaptureTest : public CoapServerFaultTest {
 protected:
  void configure(CoapServerOptions& options) override {
    options.drift_capture.policy = DriftPolicy::kCapture;
    options.drift_capture.windows = 20;
    options.drift_capture.daily_cap = 2;
  }

  // vib-ae v4 active on node-1 and calibrated there to kTwoPairs: the drift reference.
  void calibrate() {
    ASSERT_TRUE(writer_
                    ->run([&](Store& s) {
                      StoredDeployment deployment;
                      deployment.device_id = "node-1";
                      deployment.model_digest = model_digest_;
                      deployment.model_id = "vib-ae";
                      deployment.version = 4;
                      deployment.manifest = {0xd2};  // no baseline: not decoded
                      deployment.created_ms = now_ms();
                      SPINDLE_TRY_ASSIGN(const std::int64_t id, s.add_deployment(deployment));
                      return s.set_deployment_state(id, DeploymentState::kActivated, "ok",
                                                    now_ms());
                    })
                    .ok());
    const auto answer = client_->request(
        kPost, {"d", "node-1", "status"}, kFormatCbor,
        calibration_report("vib-ae", status_report::CalibrationState::kCalibrated, 600));
    ASSERT_TRUE(answer.has_value());
    ASSERT_EQ(answer->code, kChanged);
  }

  // Posts telemetry; the gateway request its answer carries (none: nullopt).
  std::optional<gateway_request::GatewayRequest> post(const Bytes& batch) {
    const auto answer = client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor, batch);
    EXPECT_TRUE(answer.has_value());
    EXPECT_EQ(answer ? answer->code : 0, kChanged);
    if (!answer || answer->payload.empty()) return std::nullopt;
    payload_.assign(answer->payload.begin(), answer->payload.end());
    auto request = gateway_request::decode(payload_);
    EXPECT_TRUE(request.ok()) << request.status().name();
    if (!request.ok()) return std::nullopt;
    return *request;
  }

  std::vector<StoredEvent> events(const std::string& kind) {
    auto reader = open_sqlite_store(dir_);
    EventQuery query;
    query.kind = kind;
    return (*reader)->query_events(query).value();
  }

  std::vector<StoredCapture> captures() {
    auto reader = open_sqlite_store(dir_);
    return (*reader)->list_captures("node-1", false).value();
  }

  Bytes payload_;  // what the last decoded request views
};

TEST_F(CoapServerDriftCaptureTest, ADeviceThatStartsDriftingIsAskedForOneCaptureInThatAnswer) {
  calibrate();
  // raise_after = 3: the first two drifted summaries only count.
  EXPECT_FALSE(post(feature_summary_batch(1, kDriftedPairs)).has_value());
  EXPECT_FALSE(post(feature_summary_batch(2, kDriftedPairs)).has_value());
  const auto asked = post(feature_summary_batch(3, kDriftedPairs));
  ASSERT_TRUE(asked.has_value());
  ASSERT_TRUE(asked->has_capture);
  EXPECT_EQ(asked->capture.kind, capture::Kind::kFeatures);
  EXPECT_EQ(asked->capture.windows, 20U);
  EXPECT_FALSE(asked->has_recalibrate);

  const auto drift = events("drift");
  ASSERT_EQ(drift.size(), 1U);
  auto stored = captures();
  ASSERT_EQ(stored.size(), 1U);
  EXPECT_EQ(stored[0].id, static_cast<std::int64_t>(asked->capture.capture_id));
  EXPECT_EQ(stored[0].origin, CaptureOrigin::kDrift);
  EXPECT_EQ(stored[0].origin_event, drift[0].id);
  EXPECT_EQ(stored[0].label, "drift:calibration:x_rms");
  EXPECT_EQ(stored[0].state, CaptureState::kRequested);
  const auto opened = events("drift-capture");
  ASSERT_EQ(opened.size(), 1U);
  EXPECT_NE(opened[0].detail.find("capture " + std::to_string(stored[0].id) + ": 20 features"),
            std::string::npos)
      << opened[0].detail;
  EXPECT_NE(opened[0].detail.find("drift event " + std::to_string(drift[0].id)), std::string::npos);
  EXPECT_NE(metrics_.render().find("spindle_drift_captures_total{outcome=\"requested\"} 1"),
            std::string::npos);

  // Still drifting: no new drift event and no new capture; the open one is asked for again.
  const auto repeated = post(feature_summary_batch(4, kDriftedPairs));
  ASSERT_TRUE(repeated.has_value());
  EXPECT_EQ(repeated->capture.capture_id, asked->capture.capture_id);
  // A retransmitted batch steps nothing, so it cannot open a second capture either.
  (void)post(feature_summary_batch(3, kDriftedPairs));
  EXPECT_EQ(captures().size(), 1U);
}

TEST_F(CoapServerDriftCaptureTest, DriftingAgainWhileTheCaptureIsOpenOpensNone) {
  calibrate();
  std::uint64_t seq = 0;
  for (int i = 0; i < 3; ++i)
    (void)post(feature_summary_batch(++seq, kDriftedPairs));
  ASSERT_EQ(captures().size(), 1U);
  for (int i = 0; i < 3; ++i)  // healthy again: cleared
    (void)post(feature_summary_batch(++seq));
  ASSERT_EQ(events("drift-cleared").size(), 1U);
  std::optional<gateway_request::GatewayRequest> last;
  for (int i = 0; i < 3; ++i)  // drifting again, within the cap, the first capture open
    last = post(feature_summary_batch(++seq, kDriftedPairs));
  EXPECT_EQ(events("drift").size(), 2U);
  const auto stored = captures();
  ASSERT_EQ(stored.size(), 1U);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->capture.capture_id, static_cast<std::uint64_t>(stored[0].id));
  const auto skipped = events("drift-capture-skipped");
  ASSERT_EQ(skipped.size(), 1U);
  EXPECT_NE(skipped[0].detail.find("capture " + std::to_string(stored[0].id) +
                                   " (drift) is still requested"),
            std::string::npos)
      << skipped[0].detail;
  EXPECT_NE(metrics_.render().find("spindle_drift_captures_total{outcome=\"skipped-open\"} 1"),
            std::string::npos);
}

TEST_F(CoapServerFaultTest, UnderPolicyNotifyADriftingDeviceGetsNoCapture) {
  ASSERT_TRUE(writer_
                  ->run([&](Store& s) {
                    StoredDeployment deployment;
                    deployment.device_id = "node-1";
                    deployment.model_digest = model_digest_;
                    deployment.model_id = "vib-ae";
                    deployment.version = 4;
                    deployment.manifest = {0xd2};
                    deployment.created_ms = now_ms();
                    SPINDLE_TRY_ASSIGN(const std::int64_t id, s.add_deployment(deployment));
                    return s.set_deployment_state(id, DeploymentState::kActivated, "ok", now_ms());
                  })
                  .ok());
  ASSERT_EQ(
      client_
          ->request(kPost, {"d", "node-1", "status"}, kFormatCbor,
                    calibration_report("vib-ae", status_report::CalibrationState::kCalibrated, 600))
          ->code,
      kChanged);
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    const auto answer = client_->request(kPost, {"t", "node-1"}, kFormatSenmlCbor,
                                         feature_summary_batch(seq, kDriftedPairs));
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(answer->payload.empty());
  }
  auto reader = open_sqlite_store(dir_);
  EventQuery query;
  query.kind = "drift";
  EXPECT_EQ((*reader)->query_events(query)->size(), 1U);
  EXPECT_TRUE((*reader)->list_captures("node-1", false)->empty());
}

TEST_F(CoapServerDriftCaptureTest, ACalibrationResetRidesOnEveryAnswerUntilTheNextGeneration) {
  calibrate();
  // As the API does it: stored, then handed to the CoAP side.
  const StoredRecalibration reset{"vib-ae", 4, 1, now_ms()};
  ASSERT_TRUE(writer_->run([&](Store& s) { return s.save_recalibration("node-1", reset); }).ok());
  server_->recalibration_requested("node-1", reset);
  auto asked = post(telemetry_batch(1));
  ASSERT_TRUE(asked.has_value());
  EXPECT_TRUE(asked->has_recalibrate);
  EXPECT_EQ(asked->recalibrate_after, 1U);
  EXPECT_FALSE(asked->has_capture);
  // The node reports generation 1 again (the request was lost, say): still asked.
  ASSERT_EQ(client_
                ->request(kPost, {"d", "node-1", "status"}, kFormatCbor,
                          calibration_report("vib-ae", status_report::CalibrationState::kCalibrated,
                                             600, 1))
                ->code,
            kChanged);
  asked = post(telemetry_batch(2));
  ASSERT_TRUE(asked.has_value());
  EXPECT_TRUE(asked->has_recalibrate);
  // Generation 2 begins: the reset is answered, in memory and in the store.
  ASSERT_EQ(client_
                ->request(kPost, {"d", "node-1", "status"}, kFormatCbor,
                          calibration_report("vib-ae",
                                             status_report::CalibrationState::kNormalizing, 0, 2))
                ->code,
            kChanged);
  EXPECT_FALSE(post(telemetry_batch(3)).has_value());
  auto reader = open_sqlite_store(dir_);
  const auto device = (*reader)->get_device("node-1");
  ASSERT_TRUE(device.ok());
  EXPECT_FALSE(device->recalibration.has_value());
  EXPECT_EQ(device->calibration->generation, 2U);
}

TEST_F(CoapServerDriftCaptureTest, ACalibrationResetAndACaptureShareOneRequest) {
  calibrate();
  const StoredRecalibration reset{"vib-ae", 4, 1, now_ms()};
  server_->recalibration_requested("node-1", reset);
  for (std::uint64_t seq = 1; seq <= 2; ++seq)
    (void)post(feature_summary_batch(seq, kDriftedPairs));
  const auto asked = post(feature_summary_batch(3, kDriftedPairs));
  ASSERT_TRUE(asked.has_value());
  EXPECT_TRUE(asked->has_capture);
  EXPECT_TRUE(asked->has_recalibrate);
  EXPECT_EQ(asked->recalibrate_after, 1U);
}

}  // namespace
}  // namespace spindle::gateway
