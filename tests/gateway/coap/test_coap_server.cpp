// gateway/coap: no exception reaches libcoap. A CoapServer on loopback (plain UDP) over a
// real SQLite store whose reads or writes can be made to throw answers the request that
// hit the throw with 5.00 and goes on serving the next one; requests are raw CoAP
// datagrams (RFC 7252 section 3), so the test depends on nothing but a UDP socket.
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
#include "spindle/protocol/senml.hpp"

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
constexpr std::uint8_t kInternalError = code_of(5, 0);

constexpr std::uint16_t kOptionUriPath = 11;
constexpr std::uint16_t kOptionContentFormat = 12;
constexpr std::uint16_t kFormatSenmlCbor = 112;

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
  Status append_event(std::string_view id, std::string_view kind, std::string_view detail,
                      std::int64_t now) override {
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

}  // namespace
}  // namespace spindle::gateway
