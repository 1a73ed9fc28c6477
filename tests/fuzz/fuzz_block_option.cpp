// libFuzzer target for the Block1/Block2 option value decoder, and for the download state
// machine receiving that value as a server's Block2 option.
//
// Beyond "no crash, no sanitizer report", it checks the codec's contract: a decoded value
// re-encodes to the same option, minimally; a rejected value is rejected for the stated
// reason (longer than 3 bytes, or SZX 7).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "spindle/protocol/blockwise.hpp"

namespace {

using namespace spindle;
using namespace spindle::blockwise;

void check(bool condition) {
  if (!condition) std::abort();
}

void check_codec(std::span<const std::uint8_t> value, const Result<BlockOption>& decoded) {
  if (!decoded.ok()) {
    const bool oversize = value.size() > kMaxBlockOptionLength;
    check(decoded.status() == Status(oversize ? Error::kOversize : Error::kInvalidValue));
    if (!oversize) check(!value.empty() && (value.back() & 0x07) == kReservedSzx);
    return;
  }
  const BlockOption& option = *decoded;
  check(option.szx < kReservedSzx && option.num <= kMaxBlockNum);

  std::array<std::uint8_t, kMaxBlockOptionLength> buffer{};
  const auto length = encode_block_option(option, buffer);
  check(length.ok() && *length <= value.size());
  const std::span<const std::uint8_t> encoded(buffer.data(), *length);
  const auto again = decode_block_option(encoded);
  check(again.ok() && *again == option);
  // Without leading zero bytes the input was already minimal, so it must come back as is.
  const bool minimal = value.empty() || value.front() != 0;
  if (minimal) {
    check(encoded.size() == value.size());
    for (std::size_t i = 0; i < value.size(); ++i)
      check(encoded[i] == value[i]);
  }
}

void check_download(std::span<const std::uint8_t> value, const Result<BlockOption>& decoded) {
  static constexpr std::array<std::uint8_t, kMaxBlockSize> kPayload{};
  Download download(Config{});
  const Action request = download.step(Event::start(0));
  check(request.kind == ActionKind::kSendRequest);

  Response response;
  response.has_block2 = true;
  response.block2 = value;
  response.etag = std::span<const std::uint8_t>(kPayload.data(), 2);
  // A well-sized payload for what the option claims, so the fuzzer reaches the checks
  // behind the length check (block number, size negotiation, progress).
  const std::uint8_t szx = decoded.ok() ? decoded->szx : kMaxSzx;
  const std::size_t length = decoded.ok() && !decoded->more ? 1 : block_size(szx);
  response.payload = std::span<const std::uint8_t>(kPayload.data(), length);

  const Action action = download.step(Event::received(response, 1));
  switch (action.kind) {
    case ActionKind::kWriteBlock: {
      check(decoded.ok() && decoded->num == 0 && decoded->szx >= kMinSzx);
      check(action.offset == 0 && action.data.size() == length);
      const Action next = download.step(Event::written(2));
      check(next.kind == (decoded->more ? ActionKind::kSendRequest : ActionKind::kComplete));
      break;
    }
    case ActionKind::kWait:  // an answer for another block than the one requested
      check(decoded.ok() && decoded->num != 0);
      check(download.state() == State::kAwaitingResponse);
      break;
    case ActionKind::kFail:
      check(!action.status.ok());
      break;
    default:
      check(false);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> value(data, size);
  const Result<BlockOption> decoded = decode_block_option(value);
  check_codec(value, decoded);
  check_download(value, decoded);
  return 0;
}
