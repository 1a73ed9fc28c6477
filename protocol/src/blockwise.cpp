#include "spindle/protocol/blockwise.hpp"

#include <algorithm>

namespace spindle::blockwise {
namespace {

constexpr std::uint8_t kNumShift = 4;
constexpr std::uint8_t kMoreBit = 0x08;
constexpr std::uint8_t kSzxMask = 0x07;
constexpr std::uint8_t kServerErrorClass = 5;

constexpr std::uint8_t code_class(std::uint8_t code) {
  return static_cast<std::uint8_t>(code >> 5);
}

// Byte offset of block `num` of size `szx`; cannot overflow for num <= kMaxBlockNum.
constexpr std::uint32_t block_offset(std::uint32_t num, std::uint8_t szx) {
  return num << (szx + 4u);
}

constexpr bool szx_supported(std::uint8_t szx) {
  return szx >= kMinSzx && szx <= kMaxSzx;
}

Action fail_action(Status status) {
  Action action;
  action.kind = ActionKind::kFail;
  action.status = status;
  return action;
}

Action wait_action(std::uint64_t deadline_ms) {
  Action action;
  action.kind = ActionKind::kWait;
  action.deadline_ms = deadline_ms;
  return action;
}

// While no request is outstanding, whatever the network or a timer delivers belongs to an
// earlier request.
constexpr bool is_late(const Event& event) {
  return event.kind == EventKind::kResponse || event.kind == EventKind::kTimeout;
}

Status validate(const Config& config) {
  if (!szx_supported(config.preferred_szx)) return Error::kInvalidValue;
  if (config.expected_size > kMaxTransferSize) return Error::kInvalidValue;
  if (config.initial_timeout_ms == 0 || config.max_timeout_ms < config.initial_timeout_ms) {
    return Error::kInvalidValue;
  }
  return kOk;
}

}  // namespace

Result<std::size_t> encode_block_option(const BlockOption& option, std::span<std::uint8_t> out) {
  if (option.num > kMaxBlockNum || option.szx >= kReservedSzx) return Error::kInvalidValue;
  const std::uint32_t value =
      (option.num << kNumShift) | (option.more ? std::uint32_t{kMoreBit} : 0u) | option.szx;
  // CoAP uint options drop leading zero bytes, down to the empty string for 0.
  std::size_t length = 0;
  for (std::uint32_t rest = value; rest != 0; rest >>= 8)
    ++length;
  if (length > out.size()) return Error::kBufferTooSmall;
  for (std::size_t i = 0; i < length; ++i) {
    out[i] = static_cast<std::uint8_t>(value >> (8 * (length - 1 - i)));
  }
  return length;
}

Result<BlockOption> decode_block_option(std::span<const std::uint8_t> value) {
  if (value.size() > kMaxBlockOptionLength) return Error::kOversize;
  std::uint32_t raw = 0;
  for (const std::uint8_t byte : value)
    raw = (raw << 8) | byte;
  BlockOption option;
  option.szx = static_cast<std::uint8_t>(raw & kSzxMask);
  if (option.szx == kReservedSzx) return Error::kInvalidValue;
  option.more = (raw & kMoreBit) != 0;
  option.num = raw >> kNumShift;
  return option;
}

Result<BlockSlice> block2_slice(std::size_t total, std::optional<BlockOption> requested,
                                std::uint8_t max_szx) {
  if (max_szx < kMinSzx || max_szx > kMaxSzx) return Error::kInvalidValue;
  const BlockOption asked = requested.value_or(BlockOption{0, false, max_szx});
  if (asked.szx < kMinSzx || asked.szx > kMaxSzx) return Error::kInvalidValue;
  const std::uint8_t szx = asked.szx < max_szx ? asked.szx : max_szx;
  const std::size_t asked_offset = std::size_t{asked.num} * block_size(asked.szx);
  const std::size_t size = block_size(szx);
  const std::size_t num = asked_offset / size;
  if (num > kMaxBlockNum) return Error::kOversize;
  if (asked_offset >= total && !(total == 0 && asked_offset == 0)) return Error::kOversize;
  BlockSlice slice;
  slice.offset = num * size;
  slice.length = total - slice.offset < size ? total - slice.offset : size;
  slice.option =
      BlockOption{static_cast<std::uint32_t>(num), slice.offset + slice.length < total, szx};
  return slice;
}

Action Download::step(const Event& event) {
  Result<Action> result = Error::kInvalidState;
  switch (state_) {
    case State::kIdle:
      if (event.kind == EventKind::kStart) result = on_start(event.now_ms);
      if (event.kind == EventKind::kResume) result = on_resume(event.progress, event.now_ms);
      break;
    case State::kRehashing:
      if (event.kind == EventKind::kStoredBytes) {
        result = on_stored_bytes(event.stored, event.now_ms);
      }
      break;
    case State::kAwaitingResponse:
    case State::kBackingOff:
      if (event.kind == EventKind::kResponse) result = on_response(event.response, event.now_ms);
      if (event.kind == EventKind::kTimeout) result = on_timeout(event.now_ms);
      break;
    case State::kWriting:
      if (is_late(event)) result = ignore();
      if (event.kind == EventKind::kWritten) result = on_written(event.now_ms);
      break;
    case State::kDiscarding:
      if (is_late(event)) result = ignore();
      if (event.kind == EventKind::kDiscarded) result = on_discarded(event.now_ms);
      break;
    case State::kDone:
    case State::kFailed:
      // Over: a late event must not turn a completed download into a failed one.
      return fail_action(Error::kInvalidState);
  }
  if (!result.ok()) {
    state_ = State::kFailed;
    return fail_action(result.status());
  }
  return std::move(result).value();
}

void Download::begin(std::uint8_t szx) {
  digest_.reset();
  szx_ = szx;
  offset_ = 0;
  rehash_end_ = 0;
  total_known_ = config_.expected_size != 0;
  total_ = config_.expected_size;
  etag_known_ = false;
  etag_length_ = 0;
  etag_ = {};
  retries_ = 0;
  last_block_ = false;
  progress_ = Progress{};
  progress_.szx = szx;
}

Result<Action> Download::on_start(std::uint64_t now) {
  SPINDLE_TRY(validate(config_));
  begin(config_.preferred_szx);
  return send_request(now);
}

Result<Action> Download::on_resume(const Progress& from, std::uint64_t now) {
  SPINDLE_TRY(validate(config_));
  if (!szx_supported(from.szx) || from.etag_length > kMaxEtagLength ||
      from.next_block > kMaxBlockNum) {
    return Error::kInvalidValue;
  }
  const std::uint32_t stored = block_offset(from.next_block, from.szx);
  // A record claiming the whole payload (or more) was not written for this manifest: the
  // last block is never recorded as stored, see on_response.
  if (config_.expected_size != 0 && stored >= config_.expected_size) {
    return Error::kSizeMismatch;
  }
  // The stored length is a multiple of the recorded block size, hence of any smaller one.
  begin(std::min(from.szx, config_.preferred_szx));
  if (stored == 0) return send_request(now);
  progress_ = from;
  etag_known_ = true;
  etag_length_ = from.etag_length;
  etag_ = from.etag;
  rehash_end_ = stored;
  state_ = State::kRehashing;
  Action action;
  action.kind = ActionKind::kRehashStored;
  action.offset = 0;
  action.length = stored;
  return action;
}

Result<Action> Download::on_stored_bytes(std::span<const std::uint8_t> chunk, std::uint64_t now) {
  if (chunk.size() > rehash_end_ - offset_) return Error::kInvalidValue;
  digest_.update(chunk);
  offset_ += static_cast<std::uint32_t>(chunk.size());
  if (offset_ == rehash_end_) return send_request(now);
  Action action;
  action.kind = ActionKind::kRehashStored;
  action.offset = offset_;
  action.length = rehash_end_ - offset_;
  return action;
}

Result<Action> Download::on_response(const Response& response, std::uint64_t now) {
  if (response.code != kCoapContent) {
    // 5.xx, and 4.29 Too Many Requests (RFC 8516): the server is busy, ask again later.
    if (code_class(response.code) == kServerErrorClass || response.code == coap_code(4, 29)) {
      return on_server_error(now);
    }
    return Error::kRemoteError;
  }

  BlockOption block;
  if (response.has_block2) {
    SPINDLE_TRY_ASSIGN(block, decode_block_option(response.block2));
  } else {
    // A server that ignores Block2 sends the whole representation, which only makes
    // sense as the answer to block 0.
    if (offset_ != 0) return Error::kMissingField;
    block = BlockOption{0, false, szx_};
  }

  const std::uint32_t offset = block_offset(block.num, block.szx);
  if (offset != offset_) return ignore();
  // RFC 7959 §2.4: the server may only lower the block size the client asked for.
  if (block.szx > szx_ || block.szx < kMinSzx) return Error::kInvalidValue;

  if (response.etag.size() > kMaxEtagLength) return Error::kOversize;
  if (etag_known_ && !same_etag(response.etag)) return restart();

  if (response.has_size2) {
    if (total_known_ && response.size2 != total_) return Error::kSizeMismatch;
    total_known_ = true;
    total_ = response.size2;
  }

  const std::size_t length = response.payload.size();
  if (response.has_block2) {
    const std::uint32_t size = block_size(block.szx);
    if (block.more ? length != size : length > size) return Error::kSizeMismatch;
  }
  // An empty final block would mean the previous block claimed more that never came.
  if (!block.more && length == 0 && offset != 0) return Error::kSizeMismatch;
  if (length > kMaxTransferSize - offset) return Error::kOversize;
  const std::uint32_t end = offset + static_cast<std::uint32_t>(length);
  if (total_known_) {
    if (end > total_ || (block.more && end == total_) || (!block.more && end != total_)) {
      return Error::kSizeMismatch;
    }
  }
  if (block.more && (end >> (block.szx + 4u)) > kMaxBlockNum) return Error::kOversize;

  if (!etag_known_) {
    etag_known_ = true;
    etag_length_ = static_cast<std::uint8_t>(response.etag.size());
    std::copy(response.etag.begin(), response.etag.end(), etag_.begin());
  }
  szx_ = block.szx;
  offset_ = end;
  retries_ = 0;
  last_block_ = !block.more;
  digest_.update(response.payload);

  // The final block is not recorded as stored: a reset between writing it and the caller
  // acting on kComplete re-fetches it, which keeps next_block * block size <= the total.
  progress_.next_block = (last_block_ ? offset : end) >> (szx_ + 4u);
  progress_.szx = szx_;
  progress_.etag_length = etag_length_;
  progress_.etag = etag_;

  state_ = State::kWriting;
  Action action;
  action.kind = ActionKind::kWriteBlock;
  action.offset = offset;
  action.data = response.payload;
  action.progress = progress_;
  return action;
}

Result<Action> Download::on_server_error(std::uint64_t now) {
  if (retries_ >= config_.max_retries) return Error::kRetriesExhausted;
  ++retries_;
  // Back off before asking again rather than hammering an overloaded server.
  state_ = State::kBackingOff;
  deadline_ms_ = now + current_timeout_ms();
  return wait_action(deadline_ms_);
}

Result<Action> Download::on_timeout(std::uint64_t now) {
  // A timer armed for an earlier request may still fire.
  if (now < deadline_ms_) return ignore();
  if (state_ == State::kBackingOff) return send_request(now);
  if (retries_ >= config_.max_retries) return Error::kRetriesExhausted;
  ++retries_;
  return send_request(now);
}

Result<Action> Download::on_written(std::uint64_t now) {
  if (!last_block_) return send_request(now);
  state_ = State::kDone;
  Action action;
  action.kind = ActionKind::kComplete;
  action.total_size = offset_;
  action.digest = digest_.finish();
  return action;
}

Result<Action> Download::restart() {
  if (restarts_ >= config_.max_restarts) return Error::kRetriesExhausted;
  ++restarts_;
  state_ = State::kDiscarding;
  Action action;
  action.kind = ActionKind::kDiscardStored;
  return action;
}

Result<Action> Download::on_discarded(std::uint64_t now) {
  // Keep the block size the server settled on; a new representation starts at block 0.
  begin(szx_);
  return send_request(now);
}

Action Download::send_request(std::uint64_t now) {
  state_ = State::kAwaitingResponse;
  deadline_ms_ = now + current_timeout_ms();
  Action action;
  action.kind = ActionKind::kSendRequest;
  action.deadline_ms = deadline_ms_;
  action.request = BlockOption{offset_ >> (szx_ + 4u), false, szx_};
  return action;
}

Action Download::ignore() const {
  const bool timer_pending = state_ == State::kAwaitingResponse || state_ == State::kBackingOff;
  return wait_action(timer_pending ? deadline_ms_ : 0);
}

std::uint64_t Download::current_timeout_ms() const {
  std::uint64_t timeout = config_.initial_timeout_ms;
  for (std::uint8_t i = 0; i < retries_ && timeout < config_.max_timeout_ms; ++i)
    timeout *= 2;
  return std::min<std::uint64_t>(timeout, config_.max_timeout_ms);
}

bool Download::same_etag(std::span<const std::uint8_t> etag) const {
  return etag.size() == etag_length_ && std::equal(etag.begin(), etag.end(), etag_.begin());
}

// ---- Block1

Result<Block1Placement> block1_place(std::span<const std::uint8_t> held, const BlockOption& option,
                                     std::span<const std::uint8_t> payload, std::size_t max_total) {
  if (!szx_supported(option.szx) || option.num > kMaxBlockNum || payload.empty()) {
    return Error::kInvalidValue;
  }
  const std::size_t size = block_size(option.szx);
  if (option.more ? payload.size() != size : payload.size() > size) return Error::kInvalidValue;
  const std::size_t offset = block_offset(option.num, option.szx);
  if (offset + payload.size() > max_total) return Error::kOversize;
  if (option.num == 0 && !held.empty()) {
    // Block 0 again: the same body re-sent from the start, or a new body.
    const bool same =
        held.size() >= payload.size() && std::equal(payload.begin(), payload.end(), held.begin());
    return same ? Block1Placement::kRepeat : Block1Placement::kRestart;
  }
  if (offset + payload.size() <= held.size()) return Block1Placement::kRepeat;
  if (offset != held.size()) return Error::kSizeMismatch;
  return Block1Placement::kAppend;
}

Status Upload::start(std::uint32_t total, std::uint8_t szx) {
  if (!szx_supported(szx) || total == 0) return Error::kInvalidValue;
  if ((total - 1) / block_size(szx) > kMaxBlockNum) return Error::kOversize;
  total_ = total;
  szx_ = szx;
  offset_ = 0;
  done_ = false;
  return kOk;
}

BlockOption Upload::block() const {
  return {offset_ / block_size(szx_), offset_ + block_size(szx_) < total_, szx_};
}

std::uint32_t Upload::length() const {
  return std::min(block_size(szx_), total_ - offset_);
}

Result<UploadStep> Upload::on_answer(std::uint8_t code, std::optional<BlockOption> echoed) {
  if (done_ || total_ == 0) return Error::kInvalidState;
  const BlockOption sent = block();
  if (code == kCoapRequestEntityIncomplete) {
    offset_ = 0;
    return UploadStep::kRestart;
  }
  if (code == kCoapContinue) {
    if (!sent.more) return Error::kInvalidState;
    if (!echoed || !szx_supported(echoed->szx) || echoed->szx > szx_ ||
        block_offset(echoed->num, echoed->szx) != offset_) {
      return Error::kInvalidValue;
    }
    // A smaller size from the server: it took that many bytes of this block.
    offset_ += block_size(echoed->szx);
    szx_ = echoed->szx;
    return UploadStep::kContinue;
  }
  if (code_class(code) != 2) return Error::kRemoteError;
  if (sent.more) return Error::kInvalidState;
  done_ = true;
  return UploadStep::kDone;
}

}  // namespace spindle::blockwise
