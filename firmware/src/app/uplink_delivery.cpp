// Model delivery on the network thread: the manifest (observed, and read again every
// manifest_check_s), the installer it drives, the signed decisions it carries out, the
// install, calibration and shadow reports it queues, and the answers to attestation
// challenges.
#include <algorithm>
#include <cstdio>

#include "node_state_private.hpp"
#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/protocol/content_format.hpp"
#include "uplink_private.hpp"

namespace spindle::app::internal {

void ReportQueue::report(const status_report::UpdateReport& r) {
  if (count_ == kReportQueue) {
    head_ = (head_ + 1) % kReportQueue;
    --count_;
  }
  QueuedReport& q = entries_[(head_ + count_) % kReportQueue];
  q = QueuedReport{};
  std::copy_n(r.model_id.data(), std::min(r.model_id.size(), kMaxIdSize), q.model_id.data());
  q.version = r.version;
  q.state = r.state;
  q.reason = r.reason;
  std::copy_n(r.detail.data(), std::min(r.detail.size(), status_report::kMaxDetailSize),
              q.detail.data());
  ++count_;
}

void ReportQueue::pop() {
  head_ = (head_ + 1) % kReportQueue;
  --count_;
}

Result<blockwise::Response> CoapBlockSource::fetch(std::string_view path,
                                                   const blockwise::BlockOption& block) {
  if (client_ == nullptr) return Error::kUnavailable;
  std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
  SPINDLE_TRY_ASSIGN(const std::size_t length, blockwise::encode_block_option(block, option));
  net::Request request;
  request.method = net::Method::kGet;
  request.path = path;
  request.block2 = {option.data(), length};
  SPINDLE_TRY_ASSIGN(response_, client_->request(request, timeout_ms_));
  blockwise::Response r;
  r.code = response_.code;
  r.has_block2 = response_.has_block2;
  r.block2 = {response_.block2.data(), response_.block2_size};
  r.etag = {response_.etag.data(), response_.etag_size};
  r.has_size2 = response_.has_size2;
  r.size2 = response_.size2;
  r.payload = response_.body();
  return r;
}

namespace {

// POSTs a status report (application/cbor) to /d/{id}/status.
Result<net::Response> post_status(net::CoapClient& client, std::span<const std::uint8_t> body) {
  return post_own(client, "d/", "/status", content_format::kCbor, body);
}

// Answers a pending challenge: a MAC over the nonce, the digest of the model actually
// running (32 zero bytes when none is) and the firmware version.
Status answer_challenge(net::CoapClient& client) {
  if (g_state.nonce_size == 0) return kOk;
  const NodeConfig& config = *g_state.config;
  const std::span<const std::uint8_t> nonce(g_state.nonce.data(), g_state.nonce_size);
  crypto::Digest active{};
  (void)g_state.installer->active_digest(&active);
  SPINDLE_TRY_ASSIGN(const crypto::Digest mac,
                     status_report::attestation_mac(config.attestation_key, config.device_id, nonce,
                                                    active, config.firmware_version));
  status_report::StatusReport report;
  report.kind = status_report::Kind::kAttestation;
  report.attestation = {nonce, active, config.firmware_version, mac};
  SPINDLE_TRY_ASSIGN(const auto body, status_report::encode(report, g_state.report_body));
  SPINDLE_TRY_ASSIGN(const net::Response response, post_status(client, body));
  if (response.code_class() == 5) return Error::kRemoteError;
  if (!response.success()) SPINDLE_LOG_ERR(kLog, "gateway refused the attestation answer");
  SPINDLE_LOG_INF(kLog, "attestation answered");
  g_state.nonce_size = 0;
  return kOk;
}

Result<net::Response> get_manifest_block(net::CoapClient& client,
                                         const blockwise::BlockOption* block, bool observe) {
  const NodeConfig& config = *g_state.config;
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "d/%.*s/manifest", static_cast<int>(config.device_id.size()),
                config.device_id.data());
  std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
  net::Request request;
  request.method = net::Method::kGet;
  request.path = path;
  request.observe = observe;
  if (block != nullptr) {
    SPINDLE_TRY_ASSIGN(const std::size_t length, blockwise::encode_block_option(*block, option));
    request.block2 = {option.data(), length};
  }
  return client.request(request, kRequestTimeoutMs);
}

// Takes a manifest answer (a notification, or the answer to the observation request) and
// fetches the rest of it when it came in blocks (RFC 7959; the observation itself never
// carries Block2, docs/protocol.md).
Status take_manifest(net::CoapClient& client, const net::Response& first) {
  if (first.code != blockwise::kCoapContent) return Error::kRemoteError;
  std::size_t size = 0;
  const auto append = [&](std::span<const std::uint8_t> part) -> Status {
    if (part.size() > g_state.manifest.size() - size) return Error::kOversize;
    std::copy(part.begin(), part.end(),
              g_state.manifest.begin() + static_cast<std::ptrdiff_t>(size));
    size += part.size();
    return kOk;
  };
  SPINDLE_TRY(append(first.body()));
  if (first.has_block2) {
    SPINDLE_TRY_ASSIGN(blockwise::BlockOption block,
                       blockwise::decode_block_option({first.block2.data(), first.block2_size}));
    if (block.num != 0) return Error::kInvalidValue;
    const std::span<const std::uint8_t> etag(first.etag.data(), first.etag_size);
    while (block.more) {
      const std::uint32_t block_bytes = blockwise::block_size(block.szx);
      const blockwise::BlockOption next{static_cast<std::uint32_t>(size / block_bytes), false,
                                        block.szx};
      SPINDLE_TRY_ASSIGN(const net::Response r, get_manifest_block(client, &next, false));
      if (r.code != blockwise::kCoapContent || !r.has_block2) return Error::kRemoteError;
      if (!std::equal(etag.begin(), etag.end(), r.etag.begin(), r.etag.begin() + r.etag_size)) {
        return Error::kInvalidState;  // changed while being read: the notification follows
      }
      SPINDLE_TRY_ASSIGN(block, blockwise::decode_block_option({r.block2.data(), r.block2_size}));
      if (block.num != next.num || block.szx != next.szx) return Error::kInvalidValue;
      SPINDLE_TRY(append(r.body()));
    }
  }
  g_state.manifest_size = size;
  g_state.manifest_pending = true;  // the installer skips a manifest it handled already
  return kOk;
}

// Sends where the active model's calibration stands, when that changed (or the gateway
// may not know it: after a registration). Always the newest state, so reports that were
// due while the link was down collapse into one.
Status flush_calibration_report(net::CoapClient& client) {
  if (!g_state.pipeline.take_calibration_report_due()) return kOk;
  status_report::StatusReport report;
  report.kind = status_report::Kind::kCalibration;
  if (!g_state.pipeline.calibration_report(g_state.calibration_pairs, &report.calibration)) {
    return kOk;  // no model from a manifest: nothing to report
  }
  const auto body = status_report::encode(report, g_state.report_body);
  if (!body.ok()) {
    SPINDLE_LOG_ERR(kLog, "calibration report does not encode: %s", body.status().name());
    return kOk;
  }
  const auto response = post_status(client, *body);
  if (!response.ok() || response->code_class() == 5 ||
      response->code == blockwise::coap_code(4, 29)) {
    g_state.pipeline.request_calibration_report();  // send it again later
    return response.ok() ? Status(Error::kRemoteError) : response.status();
  }
  if (!response->success()) {
    char code[8];
    net::format_code(response->code, code);
    SPINDLE_LOG_ERR(kLog, "gateway refused a calibration report with %s", code);
  }
  return kOk;
}

// Sends how the shadow compares with the active model, when due: always the newest
// counters, so reports due while the link was down collapse into one.
Status flush_shadow_report(net::CoapClient& client) {
  if (!g_state.pipeline.take_shadow_report_due()) return kOk;
  status_report::StatusReport report;
  report.kind = status_report::Kind::kShadow;
  if (!g_state.pipeline.shadow_report(&report.shadow)) return kOk;  // no shadow runs
  const auto body = status_report::encode(report, g_state.report_body);
  if (!body.ok()) {
    SPINDLE_LOG_ERR(kLog, "shadow report does not encode: %s", body.status().name());
    return kOk;
  }
  const auto response = post_status(client, *body);
  if (!response.ok() || response->code_class() == 5 ||
      response->code == blockwise::coap_code(4, 29)) {
    g_state.pipeline.request_shadow_report();  // send it again later
    return response.ok() ? Status(Error::kRemoteError) : response.status();
  }
  if (!response->success()) {
    char code[8];
    net::format_code(response->code, code);
    SPINDLE_LOG_ERR(kLog, "gateway refused a shadow report with %s", code);
  }
  return kOk;
}

// Sends the queued install reports, oldest first, then the calibration and shadow reports
// if due.
Status flush_reports(net::CoapClient& client) {
  while (!g_state.reports.empty()) {
    const QueuedReport& q = g_state.reports.front();
    status_report::StatusReport report;
    report.kind = status_report::Kind::kUpdate;
    report.update.model_id = q.model_id.data();
    report.update.version = q.version;
    report.update.state = q.state;
    report.update.reason = q.reason;
    report.update.detail = q.detail.data();
    const auto body = status_report::encode(report, g_state.report_body);
    if (!body.ok()) {
      SPINDLE_LOG_ERR(kLog, "dropping an install report that does not encode: %s",
                      body.status().name());
      g_state.reports.pop();
      continue;
    }
    SPINDLE_TRY_ASSIGN(const net::Response response, post_status(client, *body));
    if (response.code_class() == 5 || response.code == blockwise::coap_code(4, 29)) {
      return Error::kRemoteError;  // temporary: send it again later
    }
    if (!response.success()) {
      char code[8];
      net::format_code(response.code, code);
      SPINDLE_LOG_ERR(kLog, "gateway refused an install report with %s; dropping it", code);
    }
    g_state.reports.pop();
  }
  SPINDLE_TRY(flush_calibration_report(client));
  return flush_shadow_report(client);
}

}  // namespace

Status manifest_work(net::CoapClient& client, DeliveryRetry& retry) {
  modelstore::Installer& installer = *g_state.installer;
  const NodeConfig& config = *g_state.config;
  const bool observing = client.observing();
  if (!observing || os::uptime_ms() >= g_state.next_manifest_check_ms) {
    // (Re-)register the observation, or read the manifest again in case a notification
    // was lost.
    SPINDLE_TRY_ASSIGN(const net::Response first, get_manifest_block(client, nullptr, !observing));
    g_state.next_manifest_check_ms =
        os::uptime_ms() + static_cast<std::int64_t>(config.manifest_check_s) * 1000;
    const Status taken = take_manifest(client, first);
    if (!taken.ok()) SPINDLE_LOG_WRN(kLog, "manifest not read: %s", taken.name());
  }
  if (client.take_notification(&g_state.notification)) {
    const Status taken = take_manifest(client, g_state.notification);
    if (!taken.ok()) SPINDLE_LOG_WRN(kLog, "manifest notification not read: %s", taken.name());
  }
  if (g_state.manifest_pending && os::uptime_ms() >= retry.at_ms) {
    const Status installed =
        installer.on_manifest({g_state.manifest.data(), g_state.manifest_size});
    if (installed == Status(Error::kPowerLoss) || installed == Status(Error::kIoError)) {
      return installed;
    }
    if (installed.ok()) {
      g_state.manifest_pending = false;
      retry.delay_ms = DeliveryRetry::kInitialMs;
    } else {
      SPINDLE_LOG_WRN(kLog, "model install interrupted (%s); retrying in %lld ms", installed.name(),
                      static_cast<long long>(retry.delay_ms));
      retry.at_ms = os::uptime_ms() + retry.delay_ms;
      retry.delay_ms = std::min(retry.delay_ms * 2, DeliveryRetry::kMaxMs);
    }
  }
  if (g_state.decision_pending) {
    const Status decided = installer.on_decision({g_state.decision.data(), g_state.decision_size});
    if (!decided.ok()) return decided;  // only the flash's errors
    g_state.decision_pending = false;
  }
  const Status polled = installer.poll();
  if (!polled.ok()) return polled;
  SPINDLE_TRY(flush_reports(client));
  return answer_challenge(client);
}

}  // namespace spindle::app::internal
