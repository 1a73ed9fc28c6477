// What the gateway asks of a node (protocol/cddl/gateway_request.cddl): an attestation
// challenge, a data capture, or both. A node is a CoAP client with no resource of its own,
// so the gateway piggybacks the request, as content-format 60, on its 2.xx answers to the
// device's registration, refresh and telemetry while something is outstanding (AD-20).
// The node answers a challenge with an attestation status report (status_report.hpp) and
// a capture by uploading chunks to /d/{id}/capture (capture.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway_request {

// Map head, nonce key and byte string (two-byte head), capture key and a capture map with
// its three keys and largest values.
inline constexpr std::size_t kMaxEncodedSize =
    1 + 1 + 2 + status_report::kMaxNonceSize + 1 + 1 + (1 + 9) + (1 + 1) + (1 + 5);

struct GatewayRequest {
  std::span<const std::uint8_t> nonce;  // empty: no challenge
  bool has_capture = false;
  capture::Request capture;
};

// Encodes {? 1: nonce, ? 2: capture}. Errors: kMissingField (neither a nonce nor a
// capture), kInvalidValue (nonce shorter than status_report::kMinNonceSize, a capture
// request capture::validate refuses), kOversize (nonce longer than kMaxNonceSize),
// kBufferTooSmall.
Result<std::span<const std::uint8_t>> encode(const GatewayRequest& request,
                                             std::span<std::uint8_t> out);

// The request; the nonce is a view into `input`. Errors: the CBOR reader's, kDuplicateKey,
// kUnknownCriticalField (a key >= 0 the schema does not name; negative keys are skipped),
// kMissingField (neither key 1 nor 2, or a capture without one of its fields), kOversize
// (nonce longer than kMaxNonceSize), kInvalidValue (nonce shorter than kMinNonceSize, a
// capture field out of range).
Result<GatewayRequest> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::gateway_request
