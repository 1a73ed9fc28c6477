#include "spindle/gateway/coap_server.hpp"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "spindle/gateway/clock.hpp"
#include "spindle/gateway/telemetry_ingest.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/gateway_request.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::gateway {

// Content-formats (RFC 7252 section 12.3, RFC 8428, RFC 9052).
constexpr std::uint16_t kFormatLinkFormat = 40;
constexpr std::uint16_t kFormatOctetStream = 42;
constexpr std::uint16_t kFormatCbor = 60;
constexpr std::uint16_t kFormatCoseSign1 = 18;
constexpr std::uint16_t kFormatSenmlCbor = 112;

constexpr std::uint32_t kDefaultLifetimeS = 90000;  // RFC 9176 section 5
constexpr std::int64_t kTransferIdleMs = 60000;     // a download silent this long is over
constexpr std::size_t kMaxTrackedTransfers = 100000;
constexpr std::size_t kMaxRecordsPerBatch = 256;
constexpr unsigned kBusyMaxAgeS = 5;
// Answers to asynchronous requests are kept this long (RFC 7252 EXCHANGE_LIFETIME), so a
// retransmission that crosses the separate response is answered, not processed again.
constexpr std::int64_t kExchangeLifetimeMs = 247000;
constexpr std::size_t kMaxAnsweredExchanges = 100000;

struct CoapServer::Device {
  std::string id;
  bool registered = false;
  bool online = false;
  bool expiring = false;  // an offline write is queued
  std::uint32_t lifetime_s = 0;
  std::int64_t last_seen_ms = 0;
  std::int64_t deployment_id = 0;
  std::string model_id;
  std::uint64_t version = 0;
  std::string model_digest;
  Bytes manifest;
  std::array<std::uint8_t, 8> manifest_etag{};
  coap_resource_t* manifest_resource = nullptr;
  std::optional<Challenge> challenge;       // outstanding attestation challenge
  std::optional<capture::Request> capture;  // outstanding data capture
  // A capture chunk arriving in Block1 blocks (only while a capture is outstanding, at most
  // capture::kMaxChunkSize bytes, dropped when idle for kTransferIdleMs).
  Bytes upload;
  std::int64_t upload_ms = 0;
};

struct CoapServer::Model {
  std::string digest;
  std::uint64_t size = 0;
  std::array<std::uint8_t, 8> etag{};
  std::shared_ptr<const Bytes> payload;  // loaded on the first block request
  std::int64_t last_used_ms = 0;
};

// The answer of an asynchronous request, filled on this thread when its write committed.
struct CoapServer::PendingReply {
  CoapResource resource = CoapResource::kOther;
  bool done = false;
  coap_pdu_code_t code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
  std::string location;  // Location-Path, segments joined by '/'
  std::string diagnostic;
  Bytes request;                 // an encoded gateway request to send as the payload (format 60)
  Bytes block1;                  // the Block1 option value to answer with (a block-wise body)
  std::string exchange;          // peer and message id of the original request
  std::int64_t answered_ms = 0;  // when kept in answered_
};

namespace {

// Reads of the server socket that found no datagram (process_io lists the socket more
// often than datagrams may wait; libcoap reports each such read as a warning).
std::atomic<std::uint64_t> g_empty_reads{0};

// libcoap's log, into spdlog; the expected empty reads are counted, not logged.
void libcoap_log(coap_log_t level, const char* message) {
  static thread_local bool after_empty_read = false;
  std::string_view text(message);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.remove_suffix(1);
  if (text.find("Resource temporarily unavailable") != std::string_view::npos) {
    g_empty_reads.fetch_add(1, std::memory_order_relaxed);
    after_empty_read = true;
    return;
  }
  if (after_empty_read && text.ends_with("read failed")) {
    after_empty_read = false;
    return;
  }
  after_empty_read = false;
  spdlog::level::level_enum mapped = spdlog::level::trace;
  if (level <= LOG_ERR) {
    mapped = spdlog::level::err;
  } else if (level == LOG_WARNING) {
    mapped = spdlog::level::warn;
  } else if (level <= LOG_INFO) {
    mapped = spdlog::level::debug;
  }
  spdlog::log(mapped, "libcoap: {}", text);
}

CoapServer& server_of(coap_session_t* session) {
  return *static_cast<CoapServer*>(coap_get_app_data(coap_session_get_context(session)));
}

template <typename T>
T& userdata_of(coap_resource_t* resource) {
  return *static_cast<T*>(coap_resource_get_userdata(resource));
}

ResponseClass class_of(coap_pdu_code_t code) {
  const int code_class = static_cast<int>(code) >> 5;
  if (code_class == 2) return ResponseClass::kSuccess;
  if (code_class == 4) return ResponseClass::kClientError;
  return ResponseClass::kServerError;
}

std::span<const std::uint8_t> payload_of(const coap_pdu_t* request) {
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  if (!coap_get_data(request, &length, &data) || data == nullptr) return {};
  return {data, length};
}

// The value of `key` in the request's query (key=value&...), or "" when absent.
std::string query_value(const coap_pdu_t* request, std::string_view key) {
  coap_opt_iterator_t it;
  coap_option_iterator_init(request, &it, COAP_OPT_ALL);
  while (const coap_opt_t* option = coap_option_next(&it)) {
    if (it.number != COAP_OPTION_URI_QUERY) continue;
    const std::string_view part(reinterpret_cast<const char*>(coap_opt_value(option)),
                                coap_opt_length(option));
    if (part.size() > key.size() && part.starts_with(key) && part[key.size()] == '=') {
      return std::string(part.substr(key.size() + 1));
    }
  }
  return {};
}

// -1 when the request has no Content-Format option.
int content_format_of(const coap_pdu_t* request) {
  coap_opt_iterator_t it;
  const coap_opt_t* option = coap_check_option(request, COAP_OPTION_CONTENT_FORMAT, &it);
  if (option == nullptr) return -1;
  return static_cast<int>(coap_decode_var_bytes(coap_opt_value(option), coap_opt_length(option)));
}

void add_uint_option(coap_pdu_t* pdu, coap_option_num_t number, std::uint32_t value) {
  std::uint8_t buffer[4];
  const unsigned length = coap_encode_var_safe(buffer, sizeof buffer, value);
  coap_add_option(pdu, number, length, buffer);
}

bool parse_u32(std::string_view text, std::uint32_t& out) {
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

std::array<std::uint8_t, 8> etag_of(std::span<const std::uint8_t> bytes) {
  const crypto::Digest digest = crypto::Sha256::of(bytes);
  std::array<std::uint8_t, 8> etag{};
  std::copy_n(digest.begin(), etag.size(), etag.begin());
  return etag;
}

std::string hex_of(std::span<const std::uint8_t> bytes) {
  std::string text(bytes.size() * 2, '\0');
  (void)hex::encode(bytes, text);
  return text;
}

coap_resource_t* make_resource(coap_context_t* context, const std::string& path, void* userdata) {
  coap_str_const_t* uri =
      coap_new_str_const(reinterpret_cast<const std::uint8_t*>(path.data()), path.size());
  coap_resource_t* resource = coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI);
  coap_resource_set_userdata(resource, userdata);
  coap_add_resource(context, resource);
  return resource;
}

}  // namespace

CoapServer::CoapServer(CoapServerOptions options, Writer& writer, std::unique_ptr<Store> reader,
                       const SiteKeys& keys, Metrics& metrics)
    : options_(std::move(options)),
      writer_(writer),
      reader_(std::move(reader)),
      keys_(keys),
      metrics_(metrics),
      limiter_(options_.peer_rate, options_.peer_burst, options_.max_peers),
      block_limiter_(options_.peer_block_rate, options_.peer_block_burst, options_.max_peers),
      senml_scratch_(kMaxRecordsPerBatch),
      psk_answer_(std::make_unique<coap_bin_const_t>()) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

CoapServer::~CoapServer() {
  // Completions the writer posted after run() returned still hold session references;
  // run them (releasing the sessions) before the context, and its sessions, go.
  run_posted_tasks();
  for (PendingReply* reply : pending_replies_)
    delete reply;
  if (context_ != nullptr) coap_free_context(context_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status CoapServer::start() {
  if (wake_fd_ < 0) return Error::kIoError;
  coap_startup();
  coap_set_log_handler(&libcoap_log);
  coap_set_log_level(LOG_WARNING);
  context_ = coap_new_context(nullptr);
  if (context_ == nullptr) return Error::kIoError;
  coap_set_app_data(context_, this);
  coap_context_set_max_idle_sessions(context_, options_.max_sessions);
  coap_context_set_max_handshake_sessions(context_, options_.max_handshakes);
  coap_context_set_session_timeout(context_, options_.session_timeout_s);

  coap_proto_t proto = COAP_PROTO_UDP;
  if (!options_.insecure) {
    if (!coap_dtls_is_supported()) {
      spdlog::error("coap: this libcoap has no DTLS support; use --insecure for plain UDP");
      return Error::kUnavailable;
    }
    coap_dtls_spsk_t setup{};
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = &CoapServer::validate_identity;
    setup.id_call_back_arg = this;
    if (!coap_context_set_psk2(context_, &setup)) return Error::kIoError;
    proto = COAP_PROTO_DTLS;
  }

  // Registry from the store: devices, models, then the deployments that refer to both.
  SPINDLE_TRY_ASSIGN(const auto devices, reader_->list_devices());
  for (const StoredDevice& stored : devices) {
    Device& device = add_device_entry(stored.id);
    device.registered = !stored.registration.empty();
    device.online = stored.online;
    device.lifetime_s = stored.lifetime_s;
    device.last_seen_ms = stored.last_seen_ms;
    if (device.online) ++online_;
  }
  SPINDLE_TRY_ASSIGN(const auto models, reader_->list_models());
  for (const StoredModel& model : models)
    add_model_entry(model);
  SPINDLE_TRY_ASSIGN(const auto deployments, reader_->current_deployments());
  for (const StoredDeployment& deployment : deployments)
    apply_deployment(deployment);
  SPINDLE_TRY_ASSIGN(const auto captures, reader_->list_captures("", true));
  for (auto it = captures.rbegin(); it != captures.rend(); ++it)  // the newest wins
    capture_requested(*it);
  run_posted_tasks();
  publish_device_counts();

  coap_resource_t* core = coap_resource_init(coap_make_str_const(".well-known/core"), 0);
  coap_register_request_handler(core, COAP_REQUEST_GET, &CoapServer::on_well_known_core);
  coap_add_resource(context_, core);
  coap_resource_t* rd = coap_resource_init(coap_make_str_const("rd"), 0);
  coap_register_request_handler(rd, COAP_REQUEST_POST, &CoapServer::on_register);
  coap_add_resource(context_, rd);
  coap_resource_t* device_posts = coap_resource_unknown_init2(&CoapServer::on_device_post, 0);
  coap_register_request_handler(device_posts, COAP_REQUEST_POST, &CoapServer::on_device_post);
  coap_add_resource(context_, device_posts);

  coap_address_t address;
  coap_address_init(&address);
  if (inet_pton(AF_INET, options_.address.c_str(), &address.addr.sin.sin_addr) == 1) {
    address.addr.sin.sin_family = AF_INET;
    address.addr.sin.sin_port = htons(options_.port);
    address.size = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, options_.address.c_str(), &address.addr.sin6.sin6_addr) == 1) {
    address.addr.sin6.sin6_family = AF_INET6;
    address.addr.sin6.sin6_port = htons(options_.port);
    address.size = sizeof(sockaddr_in6);
  } else {
    spdlog::error("coap: '{}' is not an IPv4 or IPv6 address", options_.address);
    return Error::kInvalidValue;
  }
  if (coap_new_endpoint(context_, &address, proto) == nullptr) {
    spdlog::error("coap: cannot bind {} port {}", options_.address, options_.port);
    return Error::kIoError;
  }
  bound_port_ = options_.port;
  spdlog::info("coap: serving {} devices, {} models on {}:{} ({})", devices_.size(), models_.size(),
               options_.address, options_.port, options_.insecure ? "plain UDP" : "DTLS-PSK");
  return kOk;
}

Status CoapServer::run() {
  const int coap_fd = coap_context_get_coap_fd(context_);
  pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop_requested_.load()) {
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) {
      spdlog::error("coap: poll failed: {}", std::strerror(errno));
      return Error::kIoError;
    }
    run_posted_tasks();
    if (!process_io(coap_fd)) {
      spdlog::error("coap: libcoap I/O failed");
      return Error::kIoError;
    }
    const std::int64_t now = now_ms();
    if (now - last_housekeeping_ms_ >= 1000) housekeeping(now);
  }
  return kOk;
}

bool CoapServer::process_io(int coap_fd) {
  // Each pass of libcoap 4.3.1's I/O (coap_io_do_epoll, coap_io_process) ends with a walk
  // over every session, and reads one datagram per ready socket: with 10,000 sessions that
  // walk, not the request, is the cost. The server's UDP socket is one level-triggered
  // event however many datagrams wait, so it is listed several times: one pass then reads
  // several datagrams (a read that finds none returns at once; libcoap_log counts it).
  // The copies follow the load: twice what the last pass found, at most
  // kMaxDatagramsPerPass, so an idle server makes about one read per datagram.
  constexpr int kEvents = 16;
  constexpr int kMaxDatagramsPerPass = 32;
  epoll_event ready[kEvents];
  const int count = epoll_wait(coap_fd, ready, kEvents, 0);
  if (count < 0) return errno == EINTR;
  if (count == 0) {
    // Nothing to read: still let libcoap send triggered answers and notifications.
    return coap_io_process(context_, COAP_IO_NO_WAIT) >= 0;
  }
  const int copies = std::clamp(2 * datagrams_last_pass_, 1, kMaxDatagramsPerPass);
  std::array<epoll_event, kEvents * kMaxDatagramsPerPass> events{};
  std::size_t listed = 0;
  int socket_reads = 0;
  for (int i = 0; i < count; ++i) {
    const bool socket_readable = ready[i].data.ptr != nullptr && (ready[i].events & EPOLLIN) != 0;
    const int n = socket_readable ? copies : 1;
    if (socket_readable) socket_reads += n;
    for (int k = 0; k < n; ++k)
      events[listed++] = ready[i];
  }
  const std::uint64_t empty_before = g_empty_reads.load(std::memory_order_relaxed);
  coap_io_do_epoll(context_, events.data(), listed);
  const auto empty = static_cast<int>(g_empty_reads.load(std::memory_order_relaxed) - empty_before);
  datagrams_last_pass_ = std::max(0, socket_reads - empty);
  return true;
}

void CoapServer::drain() {
  // The writer has stopped, so every completion is posted: run them and let libcoap send
  // the separate responses. Requests arriving meanwhile find the writer closed (5.03).
  for (int round = 0; round < 10; ++round) {
    run_posted_tasks();
    coap_io_process(context_, 10);
  }
}

void CoapServer::stop() {
  stop_requested_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

void CoapServer::post(std::function<void()> task) {
  {
    const std::lock_guard lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
    // One wake-up per batch: the writer posts a group's completions back to back, and each
    // pass of the loop costs libcoap 4.3.1 a walk over every session.
    if (tasks_.size() > 1) return;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof one);
}

void CoapServer::run_posted_tasks() {
  std::uint64_t count = 0;
  [[maybe_unused]] const auto read = ::read(wake_fd_, &count, sizeof count);
  std::vector<std::function<void()>> tasks;
  {
    const std::lock_guard lock(tasks_mutex_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks)
    task();
}

void CoapServer::device_added(std::string device_id) {
  post([this, id = std::move(device_id)] {
    if (devices_.find(id) == devices_.end()) add_device_entry(id);
    publish_device_counts();
  });
}

void CoapServer::model_added(StoredModel model) {
  post([this, model = std::move(model)] { add_model_entry(model); });
}

void CoapServer::deployment_added(StoredDeployment deployment) {
  post([this, deployment = std::move(deployment)] { apply_deployment(deployment); });
}

void CoapServer::challenge_issued(std::string device_id, Challenge challenge) {
  post([this, id = std::move(device_id), challenge] {
    const auto it = devices_.find(id);
    if (it == devices_.end()) {
      spdlog::warn("coap: challenge for unknown device {}", id);
      return;
    }
    it->second->challenge = challenge;
  });
}

void CoapServer::capture_requested(StoredCapture capture) {
  post([this, capture = std::move(capture)] {
    const auto it = devices_.find(capture.device_id);
    const auto kind = capture::kind_from_name(capture.kind);
    if (it == devices_.end() || !kind.ok()) {
      spdlog::warn("coap: capture {} for unknown device {}", capture.id, capture.device_id);
      return;
    }
    it->second->capture =
        capture::Request{static_cast<std::uint64_t>(capture.id), *kind, capture.windows_requested};
  });
}

// ---- Registry ----

CoapServer::Device& CoapServer::add_device_entry(const std::string& id) {
  auto owned = std::make_unique<Device>();
  Device& device = *owned;
  device.id = id;
  devices_.emplace(id, std::move(owned));
  // Only the manifest is a resource of its own (Observe needs one). The device's POST
  // paths are dispatched from one catch-all resource (on_device_post): libcoap 4.3.1 walks
  // every resource on each ACK of a 2.xx response (coap_touch_observer), so four resources
  // per device cost four times as much CPU per acknowledged request.
  device.manifest_resource = make_resource(context_, "d/" + id + "/manifest", &device);
  coap_register_request_handler(device.manifest_resource, COAP_REQUEST_GET,
                                &CoapServer::on_manifest);
  coap_resource_set_get_observable(device.manifest_resource, 1);
  return device;
}

void CoapServer::add_model_entry(const StoredModel& stored) {
  if (models_.find(stored.digest) != models_.end()) return;
  auto owned = std::make_unique<Model>();
  Model& model = *owned;
  model.digest = stored.digest;
  model.size = stored.size;
  std::array<std::uint8_t, kDigestSize> digest{};
  if (hex::decode(stored.digest, digest).ok()) {
    std::copy_n(digest.begin(), model.etag.size(), model.etag.begin());
  }
  models_.emplace(stored.digest, std::move(owned));
  coap_resource_t* resource = make_resource(context_, "m/" + stored.digest, &model);
  coap_register_request_handler(resource, COAP_REQUEST_GET, &CoapServer::on_model);
}

void CoapServer::apply_deployment(const StoredDeployment& deployment) {
  const auto it = devices_.find(deployment.device_id);
  if (it == devices_.end()) {
    spdlog::warn("coap: deployment {} names unknown device {}", deployment.id,
                 deployment.device_id);
    return;
  }
  Device& device = *it->second;
  if (deployment.id < device.deployment_id) return;  // an older one arrived late
  device.deployment_id = deployment.id;
  device.model_id = deployment.model_id;
  device.version = deployment.version;
  device.model_digest = deployment.model_digest;
  device.manifest = deployment.manifest;
  device.manifest_etag = etag_of(device.manifest);
  coap_resource_notify_observers(device.manifest_resource, nullptr);
}

std::shared_ptr<const Bytes> CoapServer::model_payload(Model& model) {
  model.last_used_ms = now_ms();
  if (model.payload) return model.payload;
  auto payload = reader_->read_model_payload(model.digest);
  if (!payload.ok()) {
    spdlog::error("coap: model {} cannot be served: {}", model.digest, payload.status().name());
    record_event("", "model-unreadable", model.digest + ": " + payload.status().name());
    return nullptr;
  }
  model.payload = std::make_shared<const Bytes>(std::move(payload).value());
  // Keep at most max_cached_models payloads in memory: drop the least recently used.
  std::vector<Model*> cached;
  for (auto& [digest, entry] : models_) {
    if (entry->payload) cached.push_back(entry.get());
  }
  if (cached.size() > options_.max_cached_models) {
    std::sort(cached.begin(), cached.end(),
              [](const Model* a, const Model* b) { return a->last_used_ms < b->last_used_ms; });
    for (std::size_t i = 0; i + options_.max_cached_models < cached.size(); ++i) {
      if (cached[i] != &model) cached[i]->payload.reset();
    }
  }
  return model.payload;
}

void CoapServer::record_event(std::string device_id, std::string kind, std::string detail) {
  const Status queued = writer_.submit(
      [device_id, kind, detail](Store& store) {
        return store.append_event(device_id, kind, detail, now_ms());
      },
      nullptr);
  if (!queued.ok()) {
    spdlog::warn("coap: event {} for '{}' not recorded ({})", kind, device_id, queued.name());
  }
}

void CoapServer::publish_device_counts() {
  metrics_.set_devices(devices_.size(), online_);
}

void CoapServer::housekeeping(std::int64_t now) {
  last_housekeeping_ms_ = now;
  for (auto& [id, owned] : devices_) {
    Device& device = *owned;
    if (device.challenge && device.challenge->expired(now)) device.challenge.reset();
    if (!device.upload.empty() && now - device.upload_ms > kTransferIdleMs) {
      device.upload = Bytes();  // an abandoned block-wise body: free it
    }
    if (!device.online || device.expiring) continue;
    if (now - device.last_seen_ms <= std::int64_t{device.lifetime_s} * 1000) continue;
    device.expiring = true;
    const std::uint32_t lifetime = device.lifetime_s;
    const Status queued = writer_.submit(
        [id = device.id, lifetime](Store& store) {
          SPINDLE_TRY(store.set_online(id, false));
          return store.append_event(
              id, "offline", "no refresh within the lifetime of " + std::to_string(lifetime) + " s",
              now_ms());
        },
        [this, id = device.id](Status status) {
          post([this, id, status] {
            const auto it = devices_.find(id);
            if (it == devices_.end()) return;
            Device& entry = *it->second;
            entry.expiring = false;
            // A refresh may have landed meanwhile: then the device stays online.
            if (!status.ok() || !entry.online ||
                now_ms() - entry.last_seen_ms <= std::int64_t{entry.lifetime_s} * 1000) {
              return;
            }
            entry.online = false;
            --online_;
            publish_device_counts();
            spdlog::info("coap: device {} offline (lifetime expired)", id);
          });
        });
    if (!queued.ok()) device.expiring = false;  // try again next round
  }
  std::erase_if(transfers_,
                [now](const auto& entry) { return now - entry.second > kTransferIdleMs; });
  metrics_.set_block_transfers_in_flight(transfers_.size());
  std::erase_if(answered_, [now](const auto& entry) {
    return now - entry.second.answered_ms > kExchangeLifetimeMs;
  });
  limiter_.prune(now);
  block_limiter_.prune(now);
}

// ---- Request plumbing ----

std::string CoapServer::identity_of(coap_session_t* session) const {
  const coap_bin_const_t* identity = coap_session_get_psk_identity(session);
  if (identity == nullptr || identity->s == nullptr) return {};
  return {reinterpret_cast<const char*>(identity->s), identity->length};
}

std::string CoapServer::peer_key(coap_session_t* session) const {
  if (!options_.insecure) return identity_of(session);
  char text[INET6_ADDRSTRLEN + 8];
  const std::size_t length = coap_print_addr(coap_session_get_addr_remote(session),
                                             reinterpret_cast<unsigned char*>(text), sizeof text);
  return {text, length};
}

const coap_bin_const_t* CoapServer::validate_identity(coap_bin_const_t* identity, coap_session_t*,
                                                      void* self_pointer) {
  auto& self = *static_cast<CoapServer*>(self_pointer);
  const std::string id(reinterpret_cast<const char*>(identity->s), identity->length);
  if (self.devices_.find(id) == self.devices_.end() || !self.keys_.psk(id, self.psk_buffer_).ok()) {
    self.metrics_.count_refused_identity();
    // Unauthenticated input: logged at most once a second, printable characters only.
    const std::int64_t now = now_ms();
    ++self.refused_since_log_;
    if (now - self.last_refusal_log_ms_ >= 1000) {
      std::string shown;
      for (const char c : std::string_view(id).substr(0, kMaxIdSize)) {
        shown.push_back(c >= 0x20 && c < 0x7f ? c : '?');
      }
      spdlog::warn(
          "coap: DTLS handshake refused: unknown PSK identity '{}' ({} refused since "
          "the last report)",
          shown, self.refused_since_log_);
      self.refused_since_log_ = 0;
      self.last_refusal_log_ms_ = now;
    }
    return nullptr;
  }
  self.psk_answer_->s = self.psk_buffer_.data();
  self.psk_answer_->length = self.psk_buffer_.size();
  return self.psk_answer_.get();
}

void CoapServer::respond(CoapResource resource, coap_pdu_t* response, int code,
                         std::string_view diagnostic) {
  const auto pdu_code = static_cast<coap_pdu_code_t>(code);
  coap_pdu_set_code(response, pdu_code);
  if (!diagnostic.empty()) {
    coap_add_data(response, diagnostic.size(),
                  reinterpret_cast<const std::uint8_t*>(diagnostic.data()));
  }
  metrics_.count_response(resource, class_of(pdu_code));
}

bool CoapServer::admit(CoapResource resource, coap_session_t* session, const coap_pdu_t* request,
                       const Device* device, coap_pdu_t* response) {
  metrics_.count_request(resource);
  coap_opt_iterator_t it;
  // A notification re-runs the GET handler with the observe request: a 4.29 there would
  // cancel the device's subscription, so observations are not rate limited (a session
  // holds at most one per resource; queries, which would make more, are refused).
  const bool observe = coap_check_option(request, COAP_OPTION_OBSERVE, &it) != nullptr;
  // Bulk transfers (model downloads, capture uploads) have the block budget.
  const bool bulk = resource == CoapResource::kModel || resource == CoapResource::kCapture;
  RateLimiter& limiter = bulk ? block_limiter_ : limiter_;
  if (!observe && !limiter.allow(peer_key(session), now_ms())) {
    metrics_.count_rate_limited();
    add_uint_option(response, COAP_OPTION_MAXAGE, 1);
    respond(resource, response, COAP_RESPONSE_CODE_TOO_MANY_REQUESTS, "rate limit");
    return false;
  }
  if (resource != CoapResource::kCapture &&
      coap_check_option(request, COAP_OPTION_BLOCK1, &it) != nullptr) {
    // Bodies are single datagrams (max_request_payload); Block1 is reassembled only for
    // capture chunks, into one bounded buffer per device with a capture outstanding.
    add_uint_option(response, COAP_OPTION_SIZE1,
                    static_cast<std::uint32_t>(options_.max_request_payload));
    respond(resource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
            "Block1 is not supported: send the body in one request");
    return false;
  }
  if (device != nullptr && !options_.insecure && identity_of(session) != device->id) {
    respond(resource, response, COAP_RESPONSE_CODE_FORBIDDEN,
            "this resource belongs to another device");
    return false;
  }
  return true;
}

bool CoapServer::answer_if_completed(CoapResource resource, coap_session_t* session,
                                     const coap_pdu_t* request, coap_pdu_t* response) {
  coap_async_t* async = coap_find_async(session, coap_pdu_get_token(request));
  if (async == nullptr) {
    const std::string exchange = exchange_key(session, request);
    // A retransmission that crossed our separate response: answer it again, do not write
    // it again (libcoap forgot the exchange when it freed the async).
    const auto answered = answered_.find(exchange);
    if (answered == answered_.end()) return false;
    answer_with(resource, response, answered->second);
    return true;
  }
  auto* reply = static_cast<PendingReply*>(coap_async_get_app_data(async));
  if (reply == nullptr) {
    respond(resource, response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "lost reply");
    return true;
  }
  if (!reply->done) return true;  // still being written: no answer yet
  coap_async_set_app_data(async, nullptr);
  answer_with(resource, response, *reply);
  if (answered_.size() < kMaxAnsweredExchanges) {
    reply->answered_ms = now_ms();
    answered_.insert_or_assign(reply->exchange, *reply);
  }
  forget_reply(reply);
  return true;
}

std::string CoapServer::exchange_key(coap_session_t* session, const coap_pdu_t* request) const {
  return peer_key(session) + "#" + std::to_string(coap_pdu_get_mid(request));
}

void CoapServer::answer_with(CoapResource resource, coap_pdu_t* response,
                             const PendingReply& reply) {
  std::string_view location = reply.location;
  while (!location.empty()) {
    const std::size_t slash = location.find('/');
    const std::string_view segment = location.substr(0, slash);
    coap_add_option(response, COAP_OPTION_LOCATION_PATH, segment.size(),
                    reinterpret_cast<const std::uint8_t*>(segment.data()));
    location = slash == std::string_view::npos ? std::string_view() : location.substr(slash + 1);
  }
  if (!reply.request.empty()) add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, kFormatCbor);
  if (!reply.block1.empty()) {
    coap_add_option(response, COAP_OPTION_BLOCK1, reply.block1.size(), reply.block1.data());
  }
  if (reply.code == COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE) {
    add_uint_option(response, COAP_OPTION_MAXAGE, kBusyMaxAgeS);
  }
  respond(resource, response, reply.code, reply.diagnostic);
  if (!reply.request.empty()) coap_add_data(response, reply.request.size(), reply.request.data());
}

void CoapServer::forget_reply(PendingReply* reply) {
  pending_replies_.erase(reply);
  delete reply;
}

void CoapServer::attach_request(Device& device, PendingReply& reply, std::int64_t now) {
  if (device.challenge && device.challenge->expired(now)) device.challenge.reset();
  if (!device.challenge && !device.capture) return;
  gateway_request::GatewayRequest request;
  if (device.challenge) request.nonce = device.challenge->nonce;
  if (device.capture) {
    request.has_capture = true;
    request.capture = *device.capture;
  }
  std::array<std::uint8_t, gateway_request::kMaxEncodedSize> buffer{};
  const auto encoded = gateway_request::encode(request, buffer);
  if (!encoded.ok()) {
    spdlog::error("coap: request for {} not encoded: {}", device.id, encoded.status().name());
    return;
  }
  reply.request.assign(encoded->begin(), encoded->end());
}

bool CoapServer::write_then_reply(CoapResource resource, coap_session_t* session,
                                  const coap_pdu_t* request, coap_pdu_t* response,
                                  Writer::Work work,
                                  std::function<void(Status, PendingReply&)> finish) {
  coap_async_t* async = coap_register_async(session, request, 0);
  if (async == nullptr) {
    respond(resource, response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, "no async slot");
    return false;
  }
  auto* reply = new PendingReply{};
  reply->resource = resource;
  // The triggered call sees a copy of the request with a new message id: key the answer
  // by the original one, which a retransmission repeats.
  reply->exchange = exchange_key(session, request);
  pending_replies_.insert(reply);
  coap_async_set_app_data(async, reply);
  const coap_bin_const_t token = coap_pdu_get_token(request);
  Bytes token_bytes(token.s, token.s + token.length);
  coap_session_reference(session);
  const Status queued =
      writer_.submit(std::move(work), [this, session, reply, token_bytes = std::move(token_bytes),
                                       finish = std::move(finish)](Status status) {
        post([this, session, reply, token_bytes, finish, status] {
          finish(status, *reply);
          reply->done = true;
          const coap_bin_const_t key{token_bytes.size(), token_bytes.data()};
          if (coap_async_t* pending = coap_find_async(session, key)) {
            coap_async_trigger(pending);
          } else {
            forget_reply(reply);
          }
          coap_session_release(session);
        });
      });
  if (!queued.ok()) {
    coap_async_set_app_data(async, nullptr);
    coap_free_async(session, async);
    forget_reply(reply);
    coap_session_release(session);
    add_uint_option(response, COAP_OPTION_MAXAGE, kBusyMaxAgeS);
    respond(resource, response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE,
            "storage busy, retry later");
    return false;
  }
  return true;
}

void CoapServer::serve_blocks(CoapResource resource, coap_session_t*, const coap_pdu_t* request,
                              coap_pdu_t* response, std::uint16_t content_format,
                              std::span<const std::uint8_t> body,
                              std::span<const std::uint8_t> etag) {
  std::optional<blockwise::BlockOption> requested;
  coap_opt_iterator_t it;
  if (const coap_opt_t* option = coap_check_option(request, COAP_OPTION_BLOCK2, &it)) {
    const auto decoded =
        blockwise::decode_block_option({coap_opt_value(option), coap_opt_length(option)});
    if (!decoded.ok()) {
      respond(resource, response, COAP_RESPONSE_CODE_BAD_OPTION, "malformed Block2 option");
      return;
    }
    requested = *decoded;
  }
  const auto slice = blockwise::block2_slice(body.size(), requested, options_.max_block_szx);
  if (!slice.ok()) {
    respond(resource, response, COAP_RESPONSE_CODE_BAD_OPTION,
            slice.status() == Status(Error::kOversize) ? "block beyond the end"
                                                       : "block size outside 64..1024");
    return;
  }
  if (!etag.empty()) coap_add_option(response, COAP_OPTION_ETAG, etag.size(), etag.data());
  add_uint_option(response, COAP_OPTION_CONTENT_FORMAT, content_format);
  const bool blockwise = requested.has_value() || slice->option.more;
  if (blockwise) {
    std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> value{};
    const auto length = blockwise::encode_block_option(slice->option, value);
    coap_add_option(response, COAP_OPTION_BLOCK2, length.ok() ? *length : 0, value.data());
  }
  add_uint_option(response, COAP_OPTION_SIZE2, static_cast<std::uint32_t>(body.size()));
  if (slice->length > 0) coap_add_data(response, slice->length, body.data() + slice->offset);
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
  metrics_.count_response(resource, ResponseClass::kSuccess);
}

std::optional<std::uint32_t> CoapServer::lifetime_of(CoapResource resource,
                                                     const coap_pdu_t* request,
                                                     coap_pdu_t* response, std::uint32_t absent) {
  const std::string lt = query_value(request, "lt");
  if (lt.empty()) return absent;
  std::uint32_t lifetime = 0;
  if (!parse_u32(lt, lifetime) || lifetime == 0 || lifetime > options_.max_lifetime_s) {
    respond(resource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            "lt must be 1.." + std::to_string(options_.max_lifetime_s) + " seconds");
    return std::nullopt;
  }
  return lifetime;
}

std::optional<std::span<const std::uint8_t>> CoapServer::accept_body(
    CoapResource resource, const coap_pdu_t* request, coap_pdu_t* response, std::uint16_t format,
    const std::string& device_id, std::string_view what) {
  if (content_format_of(request) != format) {
    respond(resource, response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
            std::string(what) + " must be content-format " + std::to_string(format));
    return std::nullopt;
  }
  const auto body = payload_of(request);
  if (body.size() > options_.max_request_payload) {
    add_uint_option(response, COAP_OPTION_SIZE1,
                    static_cast<std::uint32_t>(options_.max_request_payload));
    respond(resource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
            std::string(what) + " larger than " + std::to_string(options_.max_request_payload) +
                " bytes");
    record_event(device_id, "bad-" + std::string(what),
                 "oversize: " + std::to_string(body.size()) + " bytes");
    return std::nullopt;
  }
  return body;
}

// ---- Trampolines ----

void CoapServer::on_well_known_core(coap_resource_t*, coap_session_t* session,
                                    const coap_pdu_t* request, const coap_string_t*,
                                    coap_pdu_t* response) {
  server_of(session).handle_well_known_core(session, request, response);
}
void CoapServer::on_register(coap_resource_t*, coap_session_t* session, const coap_pdu_t* request,
                             const coap_string_t*, coap_pdu_t* response) {
  server_of(session).handle_register(session, request, response);
}
void CoapServer::on_manifest(coap_resource_t* resource, coap_session_t* session,
                             const coap_pdu_t* request, const coap_string_t*,
                             coap_pdu_t* response) {
  server_of(session).handle_manifest(userdata_of<Device>(resource), session, request, response);
}
void CoapServer::on_device_post(coap_resource_t*, coap_session_t* session,
                                const coap_pdu_t* request, const coap_string_t*,
                                coap_pdu_t* response) {
  server_of(session).dispatch_device_post(session, request, response);
}
void CoapServer::on_model(coap_resource_t* resource, coap_session_t* session,
                          const coap_pdu_t* request, const coap_string_t*, coap_pdu_t* response) {
  server_of(session).handle_model(userdata_of<Model>(resource), session, request, response);
}

// ---- Handlers ----

void CoapServer::dispatch_device_post(coap_session_t* session, const coap_pdu_t* request,
                                      coap_pdu_t* response) {
  coap_string_t* uri = coap_get_uri_path(request);
  const std::string path = uri == nullptr
                               ? std::string()
                               : std::string(reinterpret_cast<const char*>(uri->s), uri->length);
  coap_delete_string(uri);
  // rd/{id}, d/{id}/status, t/{id}
  std::string_view rest = path;
  enum class Kind { kRefresh, kStatus, kCapture, kTelemetry } kind;
  std::string_view id;
  if (rest.starts_with("rd/")) {
    kind = Kind::kRefresh;
    id = rest.substr(3);
  } else if (rest.starts_with("t/")) {
    kind = Kind::kTelemetry;
    id = rest.substr(2);
  } else if (rest.starts_with("d/") && rest.ends_with("/status") && rest.size() > 9) {
    kind = Kind::kStatus;
    id = rest.substr(2, rest.size() - 9);
  } else if (rest.starts_with("d/") && rest.ends_with("/capture") && rest.size() > 10) {
    kind = Kind::kCapture;
    id = rest.substr(2, rest.size() - 10);
  } else {
    metrics_.count_request(CoapResource::kOther);
    respond(CoapResource::kOther, response, COAP_RESPONSE_CODE_NOT_FOUND, "");
    return;
  }
  const auto it = devices_.find(std::string(id));
  if (it == devices_.end()) {
    metrics_.count_request(CoapResource::kOther);
    respond(CoapResource::kOther, response, COAP_RESPONSE_CODE_NOT_FOUND, "");
    return;
  }
  Device& device = *it->second;
  switch (kind) {
    case Kind::kRefresh:
      handle_refresh(device, session, request, response);
      return;
    case Kind::kStatus:
      handle_status(device, session, request, response);
      return;
    case Kind::kTelemetry:
      handle_telemetry(device, session, request, response);
      return;
    case Kind::kCapture:
      handle_capture(device, session, request, response);
      return;
  }
}

void CoapServer::handle_well_known_core(coap_session_t* session, const coap_pdu_t* request,
                                        coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kWellKnownCore;
  if (!admit(kResource, session, request, nullptr, response)) return;
  // A device sees the resources it may use, not the rest of the fleet.
  std::string links = "</rd>;rt=\"core.rd\";ct=60";
  const auto it = devices_.find(identity_of(session));
  if (it != devices_.end()) {
    const Device& device = *it->second;
    const std::string& id = device.id;
    links += ",</rd/" + id + ">;ct=60,</d/" + id + "/manifest>;ct=18;obs,</d/" + id +
             "/status>;ct=60,</d/" + id + "/capture>;ct=60,</t/" + id + ">;ct=112";
    if (!device.model_digest.empty()) {
      const auto model = models_.find(device.model_digest);
      links += ",</m/" + device.model_digest + ">;ct=42";
      if (model != models_.end()) links += ";sz=" + std::to_string(model->second->size);
    }
  }
  serve_blocks(kResource, session, request, response, kFormatLinkFormat,
               {reinterpret_cast<const std::uint8_t*>(links.data()), links.size()}, {});
}

void CoapServer::handle_register(coap_session_t* session, const coap_pdu_t* request,
                                 coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kRegister;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, nullptr, response)) return;
  const std::string id = query_value(request, "ep");
  if (id.empty() || !check_id(id).ok()) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST, "ep missing or not a device id");
    return;
  }
  const auto it = devices_.find(id);
  if (it == devices_.end()) {
    respond(kResource, response, COAP_RESPONSE_CODE_FORBIDDEN, "device not provisioned");
    return;
  }
  if (!options_.insecure && identity_of(session) != id) {
    respond(kResource, response, COAP_RESPONSE_CODE_FORBIDDEN, "ep is not the DTLS identity");
    return;
  }
  const auto lifetime_or = lifetime_of(kResource, request, response, kDefaultLifetimeS);
  if (!lifetime_or) return;
  const std::uint32_t lifetime = *lifetime_or;
  const auto accepted = accept_body(kResource, request, response, kFormatCbor, id, "registration");
  if (!accepted) return;
  const auto body = *accepted;
  const auto decoded = registration::decode(body);
  if (!decoded.ok()) {
    record_event(id, "bad-registration", decoded.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("registration: ") + decoded.status().name());
    return;
  }
  const std::string detail = std::string(decoded->board) + ", firmware " +
                             std::string(decoded->firmware_version) + ", lifetime " +
                             std::to_string(lifetime) + " s";
  const std::int64_t now = now_ms();
  write_then_reply(
      kResource, session, request, response,
      [id, body = Bytes(body.begin(), body.end()), lifetime, detail, now](Store& store) {
        SPINDLE_TRY(store.save_registration(id, body, "rd/" + id, lifetime, now));
        return store.append_event(id, "registered", detail, now);
      },
      [this, id, lifetime, now](Status status, PendingReply& reply) {
        if (!status.ok()) {
          reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
          reply.diagnostic = status.name();
          return;
        }
        Device& device = *devices_.at(id);
        device.registered = true;
        if (!device.online) ++online_;
        device.online = true;
        device.lifetime_s = lifetime;
        device.last_seen_ms = now;
        publish_device_counts();
        reply.code = COAP_RESPONSE_CODE_CREATED;
        reply.location = "rd/" + id;
        attach_request(device, reply, now_ms());
      });
}

void CoapServer::handle_refresh(Device& device, coap_session_t* session, const coap_pdu_t* request,
                                coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kRefresh;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  if (!device.registered) {
    respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND, "not registered");
    return;
  }
  const auto lifetime_or = lifetime_of(kResource, request, response, 0);  // 0: keep it
  if (!lifetime_or) return;
  const std::uint32_t lifetime = *lifetime_or;
  const bool was_offline = !device.online;
  const std::int64_t now = now_ms();
  write_then_reply(
      kResource, session, request, response,
      [id = device.id, lifetime, was_offline, now](Store& store) {
        SPINDLE_TRY(store.touch_device(id, lifetime, now));
        if (!was_offline) return Status(kOk);
        return store.append_event(id, "online", "registration refreshed", now);
      },
      [this, id = device.id, lifetime, now](Status status, PendingReply& reply) {
        if (!status.ok()) {
          reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
          reply.diagnostic = status.name();
          return;
        }
        Device& entry = *devices_.at(id);
        if (!entry.online) ++online_;
        entry.online = true;
        if (lifetime != 0) entry.lifetime_s = lifetime;
        entry.last_seen_ms = std::max(entry.last_seen_ms, now);
        publish_device_counts();
        reply.code = COAP_RESPONSE_CODE_CHANGED;
        attach_request(entry, reply, now_ms());
      });
}

void CoapServer::handle_manifest(Device& device, coap_session_t* session, const coap_pdu_t* request,
                                 coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kManifest;
  if (!admit(kResource, session, request, &device, response)) return;
  coap_opt_iterator_t it;
  if (coap_check_option(request, COAP_OPTION_URI_QUERY, &it) != nullptr) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_OPTION, "the manifest takes no query");
    return;
  }
  // No deployment yet: an empty 2.05, so that an observation stays registered and the
  // first deployment reaches the device as a notification.
  serve_blocks(kResource, session, request, response, kFormatCoseSign1, device.manifest,
               device.manifest.empty() ? std::span<const std::uint8_t>()
                                       : std::span<const std::uint8_t>(device.manifest_etag));
}

void CoapServer::handle_status(Device& device, coap_session_t* session, const coap_pdu_t* request,
                               coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kStatus;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  const auto accepted = accept_body(kResource, request, response, kFormatCbor, device.id, "status");
  if (!accepted) return;
  const auto body = *accepted;
  const auto report = status_report::decode(body);
  if (!report.ok()) {
    record_event(device.id, "bad-status", report.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("status report: ") + report.status().name());
    return;
  }
  const std::int64_t now = now_ms();
  std::string kind;
  std::string detail;
  std::int64_t deployment_id = 0;
  std::string state;
  std::string reason;
  std::optional<StoredAttestation> attestation;
  std::optional<Verdict> verdict;
  std::optional<Challenge> consumed;  // given back when the verdict cannot be stored
  if (report->kind == status_report::Kind::kUpdate) {
    const auto& update = report->update;
    kind = "install";
    state = status_report::install_state_name(update.state);
    reason = error_name(update.reason);
    detail = std::string(update.model_id) + " v" + std::to_string(update.version) + ": " + state +
             " (" + reason + ")";
    if (!update.detail.empty()) detail += " " + std::string(update.detail);
    if (device.deployment_id != 0 && update.model_id == device.model_id &&
        update.version == device.version) {
      deployment_id = device.deployment_id;
    }
  } else {
    const auto& answer = report->attestation;
    const auto keys = keys_.device_keys(device.id);
    verdict = keys.ok() ? judge_attestation(keys->attestation, device.id, answer,
                                            device.challenge ? &*device.challenge : nullptr, now,
                                            device.model_digest)
                        : Verdict::kMacInvalid;
    if (*verdict == Verdict::kMatch || *verdict == Verdict::kMismatch) {
      // Consumed now, not after the commit: a second answer to the same nonce is stale.
      consumed = device.challenge;
      device.challenge.reset();
    }
    attestation = StoredAttestation{
        .verdict = verdict_name(*verdict),
        .time_ms = now,
        .nonce = hex_of(answer.nonce),
        .active_digest = hex_of(answer.active_digest),
        .firmware = std::string(answer.firmware_version),
        .expected_digest = device.model_digest,
    };
    kind = verdict_event_kind(*verdict);
    detail = attestation->verdict + ": nonce " + attestation->nonce + ", firmware " +
             attestation->firmware + ", active " + attestation->active_digest + ", deployed " +
             (device.model_digest.empty() ? std::string("nothing") : device.model_digest);
  }
  // A verdict that could not be stored was not given: the node answers again, and that
  // answer must find the challenge it used, unless the operator issued a new one meanwhile.
  const auto give_back = [this, id = device.id, consumed] {
    Device& entry = *devices_.at(id);
    if (consumed && !entry.challenge) entry.challenge = consumed;
  };
  const bool queued = write_then_reply(
      kResource, session, request, response,
      [id = device.id, kind, detail, deployment_id, state, reason, attestation, now](Store& store) {
        if (deployment_id != 0) {
          SPINDLE_TRY(store.set_deployment_state(deployment_id, state, reason, now));
        }
        if (attestation) SPINDLE_TRY(store.save_attestation(id, *attestation));
        return store.append_event(id, kind, detail, now);
      },
      [this, verdict, give_back](Status status, PendingReply& reply) {
        if (!status.ok()) {
          give_back();
          reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
          reply.diagnostic = status.name();
          return;
        }
        if (verdict) metrics_.count_attestation(*verdict);
        reply.code = COAP_RESPONSE_CODE_CHANGED;
      });
  if (!queued) give_back();
}

void CoapServer::handle_telemetry(Device& device, coap_session_t* session,
                                  const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kTelemetry;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  const auto accepted =
      accept_body(kResource, request, response, kFormatSenmlCbor, device.id, "telemetry");
  if (!accepted) {
    metrics_.count_rejected_batch();
    return;
  }
  const auto body = *accepted;
  const auto count = senml::decode(body, senml_scratch_);
  Result<std::vector<TelemetryRecord>> records =
      count.ok() ? resolve_batch(device.id, {senml_scratch_.data(), *count}, now_ms())
                 : Result<std::vector<TelemetryRecord>>(count.status());
  if (!records.ok()) {
    metrics_.count_rejected_batch();
    record_event(device.id, "bad-telemetry", records.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("telemetry: ") + records.status().name());
    return;
  }
  auto fresh = std::make_shared<std::size_t>(0);
  const std::size_t total = records->size();
  write_then_reply(
      kResource, session, request, response,
      [records = std::move(records).value(), fresh](Store& store) {
        SPINDLE_TRY_ASSIGN(*fresh, store.append_telemetry(records));
        return Status(kOk);
      },
      [this, id = device.id, fresh, total](Status status, PendingReply& reply) {
        if (!status.ok()) {
          reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
          reply.diagnostic = status.name();
          return;
        }
        metrics_.count_telemetry(*fresh, total - *fresh);
        reply.code = COAP_RESPONSE_CODE_CHANGED;
        attach_request(*devices_.at(id), reply, now_ms());
      });
}

void CoapServer::handle_model(Model& model, coap_session_t* session, const coap_pdu_t* request,
                              coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kModel;
  if (!admit(kResource, session, request, nullptr, response)) return;
  if (!options_.insecure) {
    // Only a device this model is deployed to may fetch it; to anyone else it does not exist.
    const auto it = devices_.find(identity_of(session));
    if (it == devices_.end() || it->second->model_digest != model.digest) {
      respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND, "");
      return;
    }
  }
  const auto payload = model_payload(model);
  if (!payload) {
    respond(kResource, response, COAP_RESPONSE_CODE_INTERNAL_ERROR, "payload unreadable");
    return;
  }
  const std::string key = peer_key(session) + "|" + model.digest;
  if (transfers_.size() < kMaxTrackedTransfers || transfers_.count(key) != 0) {
    transfers_[key] = now_ms();
  }
  serve_blocks(kResource, session, request, response, kFormatOctetStream, *payload, model.etag);
  std::size_t length = 0;
  const std::uint8_t* data = nullptr;
  if (coap_get_data(response, &length, &data)) metrics_.count_block_served(length);
}

void CoapServer::handle_capture(Device& device, coap_session_t* session, const coap_pdu_t* request,
                                coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kCapture;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  if (content_format_of(request) != kFormatCbor) {
    metrics_.count_capture_chunk_refused();
    respond(kResource, response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
            "capture chunk must be content-format 60");
    return;
  }
  const auto payload = payload_of(request);
  coap_opt_iterator_t it;
  const coap_opt_t* option = coap_check_option(request, COAP_OPTION_BLOCK1, &it);
  if (option == nullptr) {
    const auto body = accept_body(kResource, request, response, kFormatCbor, device.id, "capture");
    if (!body) {
      metrics_.count_capture_chunk_refused();
      return;
    }
    store_capture_chunk(device, session, request, response, *body, {});
    return;
  }
  const auto block =
      blockwise::decode_block_option({coap_opt_value(option), coap_opt_length(option)});
  if (!block.ok()) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_OPTION, "malformed Block1 option");
    return;
  }
  // Only a device with a capture outstanding may make the gateway hold a partial body.
  if (!device.capture) {
    metrics_.count_capture_chunk_refused();
    device.upload = Bytes();
    respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND,
            "no capture is outstanding for this device");
    return;
  }
  const auto placement =
      blockwise::block1_place(device.upload, *block, payload, capture::kMaxChunkSize);
  if (!placement.ok()) {
    device.upload = Bytes();
    if (placement.status() == Status(Error::kSizeMismatch)) {
      respond(kResource, response, COAP_RESPONSE_CODE_INCOMPLETE,
              "block " + std::to_string(block->num) +
                  " does not follow the blocks held: send the chunk again from block 0");
    } else if (placement.status() == Status(Error::kOversize)) {
      add_uint_option(response, COAP_OPTION_SIZE1,
                      static_cast<std::uint32_t>(capture::kMaxChunkSize));
      respond(kResource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
              "capture chunk larger than " + std::to_string(capture::kMaxChunkSize) + " bytes");
    } else {
      respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
              std::string("Block1: ") + placement.status().name());
    }
    return;
  }
  if (*placement == blockwise::Block1Placement::kRestart) device.upload.clear();
  if (*placement != blockwise::Block1Placement::kRepeat) {
    device.upload.insert(device.upload.end(), payload.begin(), payload.end());
  }
  device.upload_ms = now_ms();
  std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> echo{};
  const auto echo_size = blockwise::encode_block_option(*block, echo);
  Bytes echoed(echo.begin(), echo.begin() + (echo_size.ok() ? *echo_size : 0));
  if (block->more) {
    coap_add_option(response, COAP_OPTION_BLOCK1, echoed.size(), echoed.data());
    respond(kResource, response, COAP_RESPONSE_CODE_CONTINUE, "");
    return;
  }
  const Bytes body = std::move(device.upload);
  device.upload = Bytes();
  store_capture_chunk(device, session, request, response, body, std::move(echoed));
}

void CoapServer::store_capture_chunk(Device& device, coap_session_t* session,
                                     const coap_pdu_t* request, coap_pdu_t* response,
                                     std::span<const std::uint8_t> body, Bytes block1_option) {
  constexpr auto kResource = CoapResource::kCapture;
  const auto chunk = capture::decode(body);
  if (!chunk.ok()) {
    metrics_.count_capture_chunk_refused();
    record_event(device.id, "bad-capture", chunk.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("capture chunk: ") + chunk.status().name());
    return;
  }
  const capture::ChunkHeader& h = chunk->header;
  StoredCaptureChunk stored;
  stored.capture_id = static_cast<std::int64_t>(h.capture_id);
  stored.sequence = h.sequence;
  stored.first_window = h.first_window;
  stored.window_count = h.window_count;
  stored.board = std::string(h.board);
  stored.sample_rate_hz = h.sample_rate_hz;
  stored.window_length = h.window_length;
  stored.axes = h.axes;
  stored.feature_count = h.feature_count;
  stored.data.assign(chunk->data.begin(), chunk->data.end());
  stored.received_ms = now_ms();
  // Decided inside the write, against the stored capture; answered from it.
  enum class Outcome { kStored, kDuplicate, kUnknown, kOtherDevice, kFinished, kMismatch };
  struct Decision {
    Outcome outcome = Outcome::kUnknown;
    std::string detail;
    StoredCapture capture;
  };
  auto result = std::make_shared<Decision>();
  const std::string kind = capture::kind_name(h.kind);
  const std::uint32_t total = h.total_windows;
  write_then_reply(
      kResource, session, request, response,
      [id = device.id, stored = std::move(stored), kind, total, result](Store& store) -> Status {
        const auto found = store.get_capture(stored.capture_id);
        if (found.status() == Status(Error::kNotFound)) return kOk;  // kUnknown
        SPINDLE_TRY(found.status());
        const StoredCapture& capture = *found;
        if (capture.device_id != id) {
          result->outcome = Outcome::kOtherDevice;
          return kOk;
        }
        if (capture.kind != kind || capture.windows_requested != total) {
          result->outcome = Outcome::kMismatch;
          result->detail = "the chunk is " + kind + " of " + std::to_string(total) +
                           " windows, capture " + std::to_string(capture.id) + " asked for " +
                           capture.kind + " of " + std::to_string(capture.windows_requested);
          return kOk;
        }
        if (capture.windows_received > 0 &&
            (capture.board != stored.board || capture.sample_rate_hz != stored.sample_rate_hz ||
             capture.window_length != stored.window_length || capture.axes != stored.axes ||
             capture.feature_count != stored.feature_count)) {
          result->outcome = Outcome::kMismatch;
          result->detail = "the window shape changed within capture " + std::to_string(capture.id);
          return kOk;
        }
        const auto added = store.add_capture_chunk(stored);
        if (added.status() == Status(Error::kInvalidState)) {
          result->outcome = Outcome::kFinished;
          result->detail = "capture " + std::to_string(capture.id) + " is " + capture.state;
          return kOk;
        }
        SPINDLE_TRY(added.status());
        result->outcome = *added ? Outcome::kStored : Outcome::kDuplicate;
        SPINDLE_TRY_ASSIGN(result->capture, store.get_capture(stored.capture_id));
        if (*added && result->capture.state == "complete") {
          SPINDLE_TRY(store.append_event(id, "capture-complete",
                                         "capture " + std::to_string(capture.id) + ": " +
                                             std::to_string(result->capture.windows_received) +
                                             " " + kind + " windows",
                                         stored.received_ms));
        }
        return kOk;
      },
      [this, id = device.id, capture_id = h.capture_id, windows = h.window_count, result,
       block1_option = std::move(block1_option)](Status status, PendingReply& reply) {
        reply.block1 = block1_option;
        if (!status.ok()) {
          reply.code = COAP_RESPONSE_CODE_INTERNAL_ERROR;
          reply.diagnostic = status.name();
          return;
        }
        const std::string name = "capture " + std::to_string(capture_id);
        switch (result->outcome) {
          case Outcome::kStored:
          case Outcome::kDuplicate: {
            if (result->outcome == Outcome::kStored) {
              metrics_.count_capture_chunk_stored(windows);
            } else {
              metrics_.count_capture_chunk_duplicate();
            }
            reply.code = COAP_RESPONSE_CODE_CHANGED;
            const bool finished =
                result->capture.state != "requested" && result->capture.state != "collecting";
            Device& entry = *devices_.at(id);
            if (finished && entry.capture && entry.capture->capture_id == capture_id) {
              entry.capture.reset();
              if (result->outcome == Outcome::kStored) metrics_.count_capture_completed();
              spdlog::info("coap: {} of {} complete ({} windows)", name, id,
                           result->capture.windows_received);
            }
            return;
          }
          case Outcome::kUnknown:
            reply.code = COAP_RESPONSE_CODE_NOT_FOUND;
            reply.diagnostic = name + " is unknown";
            break;
          case Outcome::kOtherDevice:
            reply.code = COAP_RESPONSE_CODE_FORBIDDEN;
            reply.diagnostic = name + " belongs to another device";
            break;
          case Outcome::kFinished:
            reply.code = COAP_RESPONSE_CODE_CONFLICT;
            reply.diagnostic = result->detail;
            break;
          case Outcome::kMismatch:
            reply.code = COAP_RESPONSE_CODE_BAD_REQUEST;
            reply.diagnostic = result->detail;
            break;
        }
        metrics_.count_capture_chunk_refused();
      });
}

}  // namespace spindle::gateway
