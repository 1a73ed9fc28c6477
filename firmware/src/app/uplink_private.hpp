// Private to the node application: the uplink tasks the network thread runs, in the order
// UplinkSchedule gives (uplink_schedule.hpp). Each is one file: registration
// (uplink_registration.cpp), model delivery (uplink_delivery.cpp), telemetry
// (uplink_telemetry.cpp), capture upload (uplink_capture.cpp). They run on the network
// thread only and use the NodeState of node_state_private.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/app/uplink_schedule.hpp"
#include "spindle/net/coap_client.hpp"
#include "spindle/status.hpp"

namespace spindle::app::internal {

// ---- registration (/rd) and what the gateway's 2.xx answers ask of the node

// Where the gateway put the node's registration (Location-Path of the 2.01).
struct RegistrationLocation {
  std::array<char, net::kMaxLocation> path{};
  std::size_t size = 0;
};

// POSTs `body` to one of the device's own resources: prefix + id + suffix.
// Errors: the client's.
Result<net::Response> post_own(net::CoapClient& client, const char* prefix, const char* suffix,
                               int content_format, std::span<const std::uint8_t> body);

// Takes what a 2.xx answer asks of the node (content-format 60), if anything: an
// attestation challenge to answer, a capture to collect.
void take_gateway_request(const net::Response& response);

// Registers at /rd (not `registered`) or refreshes the registration at `location`.
// kForgotten: the gateway refused it (the node registers anew on the next pass).
// Errors: the client's, the registration encoder's, kRemoteError (a 2.01 without a location).
Result<UplinkOutcome> register_or_refresh(net::CoapClient& client, bool registered,
                                          RegistrationLocation& location);

// ---- model delivery: manifest, installer, install reports, attestation

struct DeliveryRetry {
  static constexpr std::int64_t kInitialMs = 2000;
  static constexpr std::int64_t kMaxMs = 30000;
  std::int64_t at_ms = 0;  // an interrupted install is tried again from here
  std::int64_t delay_ms = kInitialMs;
};

// One pass of the model-delivery work: keep the manifest observed, install what it names,
// confirm or revert on health, send the reports, answer a pending challenge.
// Errors: the network's (back off); kPowerLoss and kIoError from the model store (fatal).
Status manifest_work(net::CoapClient& client, DeliveryRetry& retry);

// ---- telemetry (/t/{id})

// Sends one batch of the ring's oldest unacknowledged records and acknowledges what the
// gateway confirmed (or refused for good). kMore: records were sent, more may wait; kDone:
// nothing to send; kForgotten: 4.03/4.04. Errors: the client's, the ring's, kRemoteError
// (a temporary refusal: the same records go again after a back-off).
Result<UplinkOutcome> send_batch(net::CoapClient& client);

// Every window handed to the work queue is processed and the ring holds nothing unsent.
bool all_sent();

// ---- capture (/d/{id}/capture)

// Uploads the capture chunk that is ready, block by block (RFC 7959 Block1).
// Errors: the network's, kRemoteError (4.29, 5.xx, a lost block: back off and resend).
Status upload_capture(net::CoapClient& client);

}  // namespace spindle::app::internal
