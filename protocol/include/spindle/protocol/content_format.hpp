// The CoAP Content-Format numbers of Spindle's wire contract (DESIGN.md section 3; RFC 7252
// section 12.3, RFC 6690, RFC 8428, RFC 9052): one table for the node, the gateway and the
// tools.
#pragma once

#include <cstdint>

namespace spindle::content_format {

enum : std::uint16_t {
  kLinkFormat = 40,   // application/link-format: /.well-known/core
  kOctetStream = 42,  // application/octet-stream: model payload blocks
  kCbor = 60,         // application/cbor: registration, status, capture chunks, gateway requests
  kCoseSign1 = 18,    // application/cose; cose-type="cose-sign1": manifests
  kSenmlCbor = 112,   // application/senml+cbor: telemetry
};

}  // namespace spindle::content_format
