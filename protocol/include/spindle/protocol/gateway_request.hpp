// What the gateway asks of a node (protocol/cddl/gateway_request.cddl): an attestation
// challenge, a data capture, a new calibration of the active model, a rollout's signed
// decision (promote, discard, revert), or several of these. A node is
// a CoAP client with no resource of its own, so the gateway piggybacks the request, as
// content-format 60, on its 2.xx answers to the device's registration, refresh and telemetry while
// something is outstanding (AD-20). The node answers a challenge with an attestation status report
// (status_report.hpp) and a capture by uploading chunks to /d/{id}/capture (capture.hpp), and a
// recalibration with a calibration report of the next generation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway_request {

// Map head, nonce key and byte string (two-byte head), capture key and a capture map with
// its three keys and largest values, the recalibration key and value, the decision key and
// byte string (three-byte head).
inline constexpr std::size_t kMaxEncodedSize = 1 + 1 + 2 + status_report::kMaxNonceSize + 1 + 1 +
                                               (1 + 9) + (1 + 1) + (1 + 5) + 1 + 9 + 1 + 3 +
                                               decision::kMaxSignedSize;

struct GatewayRequest {
  std::span<const std::uint8_t> nonce;  // empty: no challenge
  bool has_capture = false;
  capture::Request capture;
  // The operator reset the device's calibration: a node whose calibration generation is at
  // most recalibrate_after begins the next one; a later generation has already done so
  // (the gateway repeats the request until it sees that report).
  bool has_recalibrate = false;
  std::uint64_t recalibrate_after = 0;
  // A rollout's signed decision (decision.hpp), as the operator signed it; empty: none. The
  // node verifies it; the gateway repeats it until the node reports its effect.
  std::span<const std::uint8_t> decision;
};

// Encodes {? 1: nonce, ? 2: capture, ? 3: recalibrate_after, ? 4: decision}. Errors:
// kMissingField (none of them), kOversize (a decision longer than
// decision::kMaxSignedSize), kInvalidValue (nonce shorter than status_report::kMinNonceSize, a
// capture request capture::validate refuses), kOversize (nonce longer than kMaxNonceSize),
// kBufferTooSmall.
Result<std::span<const std::uint8_t>> encode(const GatewayRequest& request,
                                             std::span<std::uint8_t> out);

// The request; the nonce is a view into `input`. Errors: the CBOR reader's, kDuplicateKey,
// kUnknownCriticalField (a key >= 0 the schema does not name; negative keys are skipped),
// kMissingField (none of keys 1..4, or a capture without one of its fields), kOversize
// (nonce longer than kMaxNonceSize, a decision longer than decision::kMaxSignedSize), kInvalidValue
// (nonce shorter than kMinNonceSize, a capture field out of range).
Result<GatewayRequest> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::gateway_request
