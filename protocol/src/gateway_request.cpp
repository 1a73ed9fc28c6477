#include "spindle/protocol/gateway_request.hpp"

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::gateway_request {
namespace {

enum Key : std::int64_t { kNonce = 1, kCapture = 2, kRecalibrate = 3, kDecision = 4 };
enum CaptureKey : std::int64_t { kCaptureId = 1, kKind = 2, kWindows = 3 };
constexpr std::size_t kMaxEntries = 16;  // room for optional (negative-key) extensions

Status validate(const GatewayRequest& request) {
  if (request.nonce.empty() && !request.has_capture && !request.has_recalibrate &&
      request.decision.empty()) {
    return Error::kMissingField;
  }
  if (request.decision.size() > decision::kMaxSignedSize) return Error::kOversize;
  if (!request.nonce.empty()) {
    if (request.nonce.size() < status_report::kMinNonceSize) return Error::kInvalidValue;
    if (request.nonce.size() > status_report::kMaxNonceSize) return Error::kOversize;
  }
  if (request.has_capture) SPINDLE_TRY(capture::validate(request.capture));
  return kOk;
}

Status read_capture(cbor::Reader& r, capture::Request* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kCaptureId:
        return codec::read_uint_into(r, &out->capture_id, 1);
      case kKind: {
        std::uint8_t kind = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &kind, 0, 1));
        out->kind = static_cast<capture::Kind>(kind);
        return kOk;
      }
      case kWindows:
        return codec::read_uint_into(r, &out->windows, 1, capture::kMaxWindows);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kCaptureId, kKind, kWindows});
}

}  // namespace

Result<std::span<const std::uint8_t>> encode(const GatewayRequest& request,
                                             std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(request));
  cbor::Writer w(out);
  w.map((request.nonce.empty() ? 0U : 1U) + (request.has_capture ? 1U : 0U) +
        (request.has_recalibrate ? 1U : 0U) + (request.decision.empty() ? 0U : 1U));
  if (!request.nonce.empty()) w.uint(kNonce).bytes(request.nonce);
  if (request.has_capture) {
    const capture::Request& c = request.capture;
    w.uint(kCapture)
        .map(3)
        .uint(kCaptureId)
        .uint(c.capture_id)
        .uint(kKind)
        .uint(static_cast<std::uint8_t>(c.kind))
        .uint(kWindows)
        .uint(c.windows);
  }
  if (request.has_recalibrate) w.uint(kRecalibrate).uint(request.recalibrate_after);
  if (!request.decision.empty()) w.uint(kDecision).bytes(request.decision);
  return w.finish();
}

Result<GatewayRequest> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  GatewayRequest request;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kNonce: {
        SPINDLE_TRY_ASSIGN(request.nonce, r.read_bytes(status_report::kMaxNonceSize));
        // An empty nonce would read as "no challenge": refuse it like any short one.
        return request.nonce.size() < status_report::kMinNonceSize ? Status(Error::kInvalidValue)
                                                                   : kOk;
      }
      case kCapture:
        request.has_capture = true;
        return read_capture(r, &request.capture);
      case kRecalibrate:
        request.has_recalibrate = true;
        return codec::read_uint_into(r, &request.recalibrate_after);
      case kDecision: {
        SPINDLE_TRY_ASSIGN(request.decision, r.read_bytes(decision::kMaxSignedSize));
        // An empty one would read as "no decision": refuse it.
        return request.decision.empty() ? Status(Error::kInvalidValue) : kOk;
      }
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(validate(request));
  return request;
}

}  // namespace spindle::gateway_request
