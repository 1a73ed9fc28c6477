#include "spindle/protocol/challenge.hpp"

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::challenge {
namespace {

enum Key : std::int64_t { kNonce = 1 };
constexpr std::size_t kMaxEntries = 16;  // room for optional (negative-key) extensions

Status validate(std::span<const std::uint8_t> nonce) {
  if (nonce.size() < status_report::kMinNonceSize) return Error::kInvalidValue;
  if (nonce.size() > status_report::kMaxNonceSize) return Error::kOversize;
  return kOk;
}

}  // namespace

Result<std::span<const std::uint8_t>> encode(std::span<const std::uint8_t> nonce,
                                             std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(nonce));
  cbor::Writer w(out);
  w.map(1).uint(kNonce).bytes(nonce);
  return w.finish();
}

Result<std::span<const std::uint8_t>> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  std::span<const std::uint8_t> nonce;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    if (key != kNonce) return Error::kUnknownCriticalField;
    SPINDLE_TRY_ASSIGN(nonce, r.read_bytes(status_report::kMaxNonceSize));
    return kOk;
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kNonce}));
  SPINDLE_TRY(validate(nonce));
  return nonce;
}

}  // namespace spindle::challenge
