// CoapServer's public API, and start-up: the libcoap context, the registry loaded from the
// store, the resources, the endpoint. The rest is in the files coap_server_private.hpp lists.
#include "spindle/gateway/coap_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "coap_server_private.hpp"

namespace spindle::gateway {

constexpr std::size_t kMaxRecordsPerBatch = 256;

void libcoap_log(coap_log_t level, const char* message) noexcept;  // transport.cpp

CoapServer::Impl& server_of(coap_session_t* session) {
  return *static_cast<CoapServer::Impl*>(coap_get_app_data(coap_session_get_context(session)));
}

CoapServer::CoapServer(CoapServerOptions options, Writer& writer, std::unique_ptr<Store> reader,
                       const SiteKeys& keys, Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), writer, std::move(reader), keys, metrics)) {}

CoapServer::~CoapServer() = default;

Status CoapServer::start() {
  return impl_->start();
}
Status CoapServer::run() {
  return impl_->run();
}
void CoapServer::drain() {
  impl_->drain();
}
void CoapServer::stop() {
  impl_->stop();
}
void CoapServer::post(std::function<void()> task) {
  impl_->post(std::move(task));
}
std::uint16_t CoapServer::port() const {
  return impl_->bound_port_;
}

void CoapServer::device_added(std::string device_id) {
  impl_->post([impl = impl_.get(), id = std::move(device_id)] {
    impl->add_device_entry(impl->registry_.add(id));
    impl->publish_device_counts();
  });
}

void CoapServer::model_added(StoredModel model) {
  impl_->post([impl = impl_.get(), model = std::move(model)] { impl->add_model_entry(model); });
}

void CoapServer::deployment_added(StoredDeployment deployment) {
  impl_->post([impl = impl_.get(), deployment = std::move(deployment)] {
    impl->apply_deployment(deployment);
  });
}

void CoapServer::challenge_issued(std::string device_id, Challenge challenge) {
  impl_->post([impl = impl_.get(), id = std::move(device_id), challenge] {
    if (impl->registry_.find(id) == nullptr) {
      spdlog::warn("coap: challenge for unknown device {}", id);
      return;
    }
    impl->challenges_.issue(id, challenge);
  });
}

void CoapServer::capture_requested(StoredCapture capture) {
  impl_->post(
      [impl = impl_.get(), capture = std::move(capture)] { impl->request_capture(capture); });
}

void CoapServer::recalibration_requested(std::string device_id, StoredRecalibration recalibration) {
  impl_->post(
      [impl = impl_.get(), id = std::move(device_id), recalibration = std::move(recalibration)] {
        if (impl->registry_.find(id) == nullptr) {
          spdlog::warn("coap: calibration reset for unknown device {}", id);
          return;
        }
        impl->recalibrations_.insert_or_assign(id, recalibration);
      });
}

void CoapServer::decision_set(std::string device_id, Bytes decision) {
  impl_->post([impl = impl_.get(), id = std::move(device_id), decision = std::move(decision)] {
    if (decision.empty()) {
      impl->decisions_.erase(id);
      return;
    }
    if (impl->registry_.find(id) == nullptr) {
      spdlog::warn("coap: decision for unknown device {}", id);
      return;
    }
    impl->decisions_.insert_or_assign(id, decision);
  });
}

CoapServer::Impl::Impl(CoapServerOptions options, Writer& writer, std::unique_ptr<Store> reader,
                       const SiteKeys& keys, Metrics& metrics)
    : options_(std::move(options)),
      writer_(writer),
      reader_(std::move(reader)),
      keys_(keys),
      metrics_(metrics),
      limiter_(options_.peer_rate, options_.peer_burst, options_.max_peers),
      block_limiter_(options_.peer_block_rate, options_.peer_block_burst, options_.max_peers),
      senml_scratch_(kMaxRecordsPerBatch) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

CoapServer::Impl::~Impl() {
  // Completions the writer posted after run() returned still hold session references;
  // run them (releasing the sessions) before the context, and its sessions, go.
  run_posted_tasks();
  for (PendingReply* reply : pending_replies_)
    delete reply;
  if (context_ != nullptr) coap_free_context(context_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status CoapServer::Impl::start() {
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
    setup.validate_id_call_back = &Impl::validate_identity;
    setup.id_call_back_arg = this;
    if (!coap_context_set_psk2(context_, &setup)) return Error::kIoError;
    proto = COAP_PROTO_DTLS;
  }

  // Registry from the store: devices, models, then the deployments that refer to both.
  SPINDLE_TRY_ASSIGN(const auto devices, reader_->list_devices());
  for (const StoredDevice& stored : devices) {
    add_device_entry(registry_.load(stored));
    if (stored.recalibration) recalibrations_.insert_or_assign(stored.id, *stored.recalibration);
  }
  SPINDLE_TRY_ASSIGN(const auto models, reader_->list_models());
  for (const StoredModel& model : models)
    add_model_entry(model);
  SPINDLE_TRY_ASSIGN(const auto deployments, reader_->current_deployments());
  for (const StoredDeployment& deployment : deployments) {
    apply_deployment(deployment);
    if (runs_as_active(deployment)) continue;
    // A shadow not yet promoted: the node runs the model of the newest deployment before it
    // that it runs as active, which attestation expects.
    DeviceRecord* device = registry_.find(deployment.device_id);
    if (device == nullptr) continue;
    SPINDLE_TRY_ASSIGN(const auto history, reader_->device_deployments(deployment.device_id));
    for (const StoredDeployment& earlier : history) {
      if (earlier.id < deployment.id && runs_as_active(earlier)) {
        device->active_digest = earlier.model_digest;
        break;
      }
    }
  }
  SPINDLE_TRY_ASSIGN(const auto captures, reader_->list_captures("", true));
  for (auto it = captures.rbegin(); it != captures.rend(); ++it)  // the newest wins
    request_capture(*it);
  SPINDLE_TRY_ASSIGN(const auto decisions, reader_->outstanding_decisions());
  for (const StoredRolloutDevice& d : decisions) {
    const Bytes& decision = d.step == RolloutDeviceStep::kPromoting    ? d.promote
                            : d.step == RolloutDeviceStep::kDiscarding ? d.discard
                                                                       : d.revert;
    if (!decision.empty()) decisions_.insert_or_assign(d.device_id, decision);
  }
  run_posted_tasks();
  publish_device_counts();
  SPINDLE_TRY_ASSIGN(const AdaptationCounts adaptation, reader_->count_adaptation());
  metrics_.set_adaptation(adaptation);

  coap_resource_t* core = coap_resource_init(coap_make_str_const(".well-known/core"), 0);
  coap_register_request_handler(
      core, COAP_REQUEST_GET,
      &Impl::on_request<CoapResource::kWellKnownCore, &Impl::handle_well_known_core>);
  coap_add_resource(context_, core);
  coap_resource_t* rd = coap_resource_init(coap_make_str_const("rd"), 0);
  coap_register_request_handler(rd, COAP_REQUEST_POST,
                                &Impl::on_request<CoapResource::kRegister, &Impl::handle_register>);
  coap_add_resource(context_, rd);
  // The device's POST paths are dispatched from one catch-all resource: libcoap 4.3.1 walks
  // every resource on each ACK of a 2.xx response (coap_touch_observer), so four resources
  // per device cost four times as much CPU per acknowledged request.
  coap_resource_t* device_posts = coap_resource_unknown_init2(
      &Impl::on_request<CoapResource::kOther, &Impl::dispatch_device_post>, 0);
  coap_register_request_handler(
      device_posts, COAP_REQUEST_POST,
      &Impl::on_request<CoapResource::kOther, &Impl::dispatch_device_post>);
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
  spdlog::info("coap: serving {} devices, {} models on {}:{} ({})", registry_.size(),
               models_.size(), options_.address, options_.port,
               options_.insecure ? "plain UDP" : "DTLS-PSK");
  return kOk;
}

}  // namespace spindle::gateway
