// libFuzzer target: COSE_Sign1 decoding and verification must never fault, and nothing but
// the genuine test-signed message may verify.
#include <cstdint>
#include <cstdlib>

#include "spindle/protocol/cose_sign1.hpp"

namespace {
// A fixed P-256 public key (the base point G) that signed nothing in the seed corpus: a
// mutated input that verified under it would be a forgery, so success aborts.
constexpr spindle::crypto::EcPublicKey kKey = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
    0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4,
    0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a,
    0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33,
    0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};
constexpr std::uint8_t kKid[] = {'s', 'p', 'i', 'n', 'd', 'l', 'e', '-', 't',
                                 'e', 's', 't', '-', '2', '0', '2', '6'};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto decoded = spindle::cose::decode({data, size});
  if (!decoded.ok()) return 0;
  const spindle::cose::TrustedKey trusted{kKid, kKey};
  const auto verified = spindle::cose::verify({data, size}, {&trusted, 1});
  if (verified.ok()) std::abort();
  return 0;
}
