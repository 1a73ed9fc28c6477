// RFC 7959 block-wise transfers: the client side of a Block2 download as a pure step
// function, the stateless server side of Block2 and of Block1, and the client side of a
// Block1 upload.
//
// A Download does no I/O and reads no clock. The caller (the node's CoAP client) feeds it
// events (a response arrived, a deadline passed, a flash write finished, ...) stamped with
// the current time, and carries out the one Action each step returns: send a request,
// write a block, feed back stored bytes, erase, wait. That keeps every transition
// testable, and lets a test interrupt the transfer between any two steps and resume it from
// the persisted Progress as a reboot would.
//
// Wire rules (DESIGN.md §3): block sizes 64..1024 bytes; the client adopts a smaller block
// size the server answers with (RFC 7959 §2.4); a changed ETag means the representation
// changed, so the transfer restarts at block 0; Size2 and the size from the signed
// manifest must agree. The SHA-256 of the received bytes is computed on the way, so the
// caller can compare it with the manifest's digest on completion.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>

#include "spindle/protocol/crypto.hpp"
#include "spindle/status.hpp"

namespace spindle::blockwise {

// ---- Block option value (RFC 7959 §2.2): NUM (4, 12 or 20 bits) | M (1 bit) | SZX (3 bits)

inline constexpr std::size_t kMaxBlockOptionLength = 3;
inline constexpr std::uint32_t kMaxBlockNum = (std::uint32_t{1} << 20) - 1;
inline constexpr std::uint8_t kReservedSzx = 7;
// Spindle's block sizes, 64..1024 bytes: below 64 the CoAP/DTLS overhead dominates,
// above 1024 a block no longer fits an IPv6 minimum-MTU datagram.
inline constexpr std::uint8_t kMinSzx = 2;
inline constexpr std::uint8_t kMaxSzx = 6;

constexpr std::uint32_t block_size(std::uint8_t szx) {
  return std::uint32_t{1} << (szx + 4u);
}

inline constexpr std::uint32_t kMaxBlockSize = block_size(kMaxSzx);
// The most a Block2 transfer can address: 2^20 blocks of the largest size.
inline constexpr std::uint32_t kMaxTransferSize = (kMaxBlockNum + 1) * kMaxBlockSize;

struct BlockOption {
  std::uint32_t num = 0;
  bool more = false;
  std::uint8_t szx = 0;

  friend constexpr bool operator==(const BlockOption&, const BlockOption&) = default;
};

// Encodes `option` as a CoAP uint option value of minimal length (0 to 3 bytes; the value
// 0 is the empty string) into `out` and returns the length used.
// Errors: kInvalidValue (num > kMaxBlockNum, or szx >= kReservedSzx), kBufferTooSmall.
Result<std::size_t> encode_block_option(const BlockOption& option, std::span<std::uint8_t> out);

// Decodes a Block1/Block2 option value. Leading zero bytes are accepted (RFC 7252 §3.2).
// Every SZX below 7 decodes; whether a block size is acceptable is the transfer's policy.
// Errors: kOversize (longer than 3 bytes), kInvalidValue (SZX 7, reserved).
Result<BlockOption> decode_block_option(std::span<const std::uint8_t> value);

// ---- Server side: which bytes answer a Block2 request (stateless, so any block can be
// fetched at any time and an abandoned transfer costs the server nothing).

struct BlockSlice {
  std::size_t offset = 0;  // first byte of the block in the representation
  std::size_t length = 0;  // bytes in this block
  BlockOption option;      // the Block2 option to answer with
};

// The block of a `total`-byte representation that answers `requested` (the request's
// Block2 option; nullopt: none, so block 0). The answer's size is the smaller of the
// requested one and `max_szx`; when it is smaller, NUM is rescaled so that the block
// holds the requested offset (RFC 7959 §2.4). An empty representation answers block 0
// with no bytes. Errors: kInvalidValue (a requested or maximum SZX outside
// kMinSzx..kMaxSzx), kOversize (the requested block starts at or past the end).
Result<BlockSlice> block2_slice(std::size_t total, std::optional<BlockOption> requested,
                                std::uint8_t max_szx);

// ---- CoAP response codes, as the header byte carries them: class << 5 | detail

constexpr std::uint8_t coap_code(std::uint8_t code_class, std::uint8_t detail) {
  return static_cast<std::uint8_t>((code_class << 5) | detail);
}
inline constexpr std::uint8_t kCoapContent = coap_code(2, 5);
inline constexpr std::uint8_t kCoapContinue = coap_code(2, 31);
inline constexpr std::uint8_t kCoapRequestEntityIncomplete = coap_code(4, 8);

// ---- Block1 (RFC 7959 section 2.5): a request body sent in blocks.

// Server side: what to do with block `option` of a body (its `payload`) given the bytes
// `held` so far (stateless like block2_slice: the caller owns the buffer).
enum class Block1Placement : std::uint8_t {
  kAppend,   // the block continues the body at held.size(): append it
  kRepeat,   // a block already held (a re-sent one): answer it again, append nothing
  kRestart,  // block 0 of another body: drop what is held, then append
};
// Errors: kInvalidValue (SZX outside kMinSzx..kMaxSzx, an empty payload, a block with M set
// whose payload is not exactly the block size, a last block longer than it), kSizeMismatch
// (the block starts past the held bytes: an earlier block is missing, RFC 7959's 4.08),
// kOversize (the body would exceed max_total: 4.13).
Result<Block1Placement> block1_place(std::span<const std::uint8_t> held, const BlockOption& option,
                                     std::span<const std::uint8_t> payload, std::size_t max_total);

// Client side: the blocks of a `total`-byte body, one request at a time. No I/O: the caller
// sends block() with the bytes [offset(), offset() + length()) and feeds the answer to
// on_answer(); after a lost answer it simply sends block() again.
enum class UploadStep : std::uint8_t {
  kContinue,  // 2.31: the server holds the block; send the next one
  kDone,      // the final answer to the last block: the body is delivered
  kRestart,   // 4.08: the server lost the earlier blocks; the body is sent again from block 0
};

class Upload {
 public:
  // Begins at block 0. Errors: kInvalidValue (SZX outside kMinSzx..kMaxSzx, an empty body),
  // kOversize (more than 2^20 blocks).
  Status start(std::uint32_t total, std::uint8_t szx);

  // The Block1 option of the next block: more is set unless it is the last one.
  BlockOption block() const;
  std::uint32_t offset() const { return offset_; }
  std::uint32_t length() const;
  bool done() const { return done_; }

  // The answer to block(), with its Block1 option (nullopt: none). The server may lower
  // the block size in a 2.31 (RFC 7959 section 2.5): the next block is numbered in the new
  // size. Errors: kRemoteError (any answer but 2.31, 4.08 and a final 2.xx: the caller
  // reads the code), kInvalidValue (a 2.31 naming another block, or a larger or invalid
  // size), kInvalidState (2.31 to the last block, a final 2.xx to an earlier one, or after
  // done()).
  Result<UploadStep> on_answer(std::uint8_t code, std::optional<BlockOption> echoed);

 private:
  std::uint32_t total_ = 0;
  std::uint32_t offset_ = 0;
  std::uint8_t szx_ = kMaxSzx;
  bool done_ = false;
};

// ---- Download

inline constexpr std::size_t kMaxEtagLength = 8;  // RFC 7252 §5.10.6

// What the node persists after each stored block, next to the manifest it belongs to, so
// that a download survives a reset. Fixed width and free of padding, so it can be written
// to flash as raw bytes; fields are in the node's native byte order (only the node that
// wrote the record reads it back).
struct Progress {
  std::uint32_t next_block = 0;  // the first block, in units of block_size(szx), not stored
  std::uint8_t szx = 0;
  std::uint8_t etag_length = 0;  // 0: the server sent no ETag
  std::uint16_t reserved = 0;    // zero; keeps the layout free of padding
  std::array<std::uint8_t, kMaxEtagLength> etag{};

  friend constexpr bool operator==(const Progress&, const Progress&) = default;
};
static_assert(sizeof(Progress) == 16);
static_assert(std::is_trivially_copyable_v<Progress>);
static_assert(std::has_unique_object_representations_v<Progress>);

struct Config {
  std::uint8_t preferred_szx = kMaxSzx;     // what the client asks for; the server may shrink it
  std::uint32_t expected_size = 0;          // payload size from the signed manifest; 0: unknown
  std::uint8_t max_retries = 4;             // per block; timeouts, 5.xx and 4.29 answers spend it
  std::uint8_t max_restarts = 3;            // ETag changes tolerated in one download
  std::uint32_t initial_timeout_ms = 2000;  // RFC 7252 ACK_TIMEOUT; doubles per retry
  std::uint32_t max_timeout_ms = 60000;     // the doubling stops here
};

// A CoAP response as the caller's CoAP layer parsed it. Spans point into the caller's
// receive buffer and need to stay valid only for the step that receives them, except
// `payload`: a kWriteBlock action returned by that step points into it.
struct Response {
  std::uint8_t code = kCoapContent;
  bool has_block2 = false;
  std::span<const std::uint8_t> block2{};  // the raw Block2 option value
  std::span<const std::uint8_t> etag{};    // empty: no ETag option
  bool has_size2 = false;
  std::uint32_t size2 = 0;
  std::span<const std::uint8_t> payload{};
};

enum class EventKind : std::uint8_t {
  kStart,        // begin at block 0
  kResume,       // continue from a persisted Progress
  kResponse,     // a response to one of this download's requests arrived
  kTimeout,      // the clock reached a deadline an action asked for
  kStoredBytes,  // a chunk of the bytes a kRehashStored action asked for
  kWritten,      // the caller finished a kWriteBlock action (data and progress persisted)
  kDiscarded,    // the caller finished a kDiscardStored action
};

struct Event {
  EventKind kind = EventKind::kStart;
  std::uint64_t now_ms = 0;                // monotonic time of the event
  Progress progress{};                     // kResume
  Response response{};                     // kResponse
  std::span<const std::uint8_t> stored{};  // kStoredBytes

  static constexpr Event start(std::uint64_t now) { return {EventKind::kStart, now, {}, {}, {}}; }
  static constexpr Event resume(const Progress& from, std::uint64_t now) {
    return {EventKind::kResume, now, from, {}, {}};
  }
  static constexpr Event received(const Response& answer, std::uint64_t now) {
    return {EventKind::kResponse, now, {}, answer, {}};
  }
  static constexpr Event timeout(std::uint64_t now) {
    return {EventKind::kTimeout, now, {}, {}, {}};
  }
  static constexpr Event stored_bytes(std::span<const std::uint8_t> chunk, std::uint64_t now) {
    return {EventKind::kStoredBytes, now, {}, {}, chunk};
  }
  static constexpr Event written(std::uint64_t now) {
    return {EventKind::kWritten, now, {}, {}, {}};
  }
  static constexpr Event discarded(std::uint64_t now) {
    return {EventKind::kDiscarded, now, {}, {}, {}};
  }
};

enum class ActionKind : std::uint8_t {
  // Nothing to do; deliver a kTimeout event at deadline_ms unless another event comes
  // first (deadline_ms 0: no timer is pending).
  kWait,
  // Send GET with Block2 = `request`; deliver a kTimeout event at deadline_ms.
  kSendRequest,
  // Feed back the stored bytes [offset, offset + length) in order as kStoredBytes events,
  // in chunks of any size: a SHA-256 state cannot be persisted portably, so a resumed
  // download re-hashes what it already has.
  kRehashStored,
  // Write `data` at byte `offset` of the download area, then persist `progress`, in that
  // order, then deliver kWritten. If the write fails, abandon this Download and resume a
  // new one from the last persisted Progress.
  kWriteBlock,
  // The representation changed: erase the stored bytes, or at least the persisted
  // Progress, then deliver kDiscarded; the download starts over at block 0.
  kDiscardStored,
  // All `total_size` bytes are stored; `digest` is their SHA-256, to be compared with
  // the manifest's. The download is over.
  kComplete,
  // The download failed for `status` and is over. What was persisted still matches the
  // stored bytes, so a later attempt may resume from it (and will restart by itself if
  // the server's representation has changed meanwhile).
  kFail,
};

struct Action {
  ActionKind kind = ActionKind::kWait;
  std::uint64_t deadline_ms = 0;         // kSendRequest, kWait
  BlockOption request{};                 // kSendRequest (more is always false)
  std::uint32_t offset = 0;              // kWriteBlock, kRehashStored
  std::uint32_t length = 0;              // kRehashStored
  std::span<const std::uint8_t> data{};  // kWriteBlock: points into the response payload
  Progress progress{};                   // kWriteBlock: to persist once data is written
  std::uint32_t total_size = 0;          // kComplete
  crypto::Digest digest{};               // kComplete
  Status status{};                       // kFail
};

enum class State : std::uint8_t {
  kIdle,              // before kStart / kResume
  kRehashing,         // waiting for kStoredBytes
  kAwaitingResponse,  // a request is outstanding
  kBackingOff,        // the server answered 5.xx; the request is re-sent at the deadline
  kWriting,           // waiting for kWritten
  kDiscarding,        // waiting for kDiscarded
  kDone,
  kFailed,
};

class Download {
 public:
  explicit Download(const Config& config) : config_(config) {}

  // Advances the download by one event and returns what the caller does next.
  //
  // Responses that answer another block than the one requested (duplicates, late answers
  // to an earlier request) and timeouts before the current deadline are ignored: kWait,
  // and the state is unchanged. Failures come back as a kFail action, after which every
  // event fails with kInvalidState. Its status is:
  //   kInvalidValue       the Config or the resumed Progress is out of range; the server
  //                       answered with a block size outside 64..1024 or larger than
  //                       requested; a kStoredBytes chunk goes past the requested range
  //   kOversize           a Block2 value longer than 3 bytes, an ETag longer than 8 bytes,
  //                       or a payload that needs more than 2^20 blocks
  //   kMissingField       a response without Block2 to a request for a block other than 0
  //   kSizeMismatch       Size2 disagrees with the manifest or an earlier Size2; more bytes
  //                       than expected; the last block ends short of the expected size;
  //                       a block's payload length does not match its Block2 option; a
  //                       resumed Progress lies beyond the expected size
  //   kRemoteError        the server answered anything but 2.05, 5.xx or 4.29
  //   kRetriesExhausted   max_retries timeouts/5.xx in a row for one block, or an ETag
  //                       change after max_restarts restarts
  //   kInvalidState       the event is not valid in the current state (a caller bug)
  Action step(const Event& event);

  State state() const { return state_; }
  // The record the last kWriteBlock asked to persist (what a reset would resume from).
  const Progress& progress() const { return progress_; }
  // Bytes accepted so far (re-hashed ones included).
  std::uint32_t bytes_received() const { return offset_; }

 private:
  Result<Action> on_start(std::uint64_t now);
  Result<Action> on_resume(const Progress& from, std::uint64_t now);
  Result<Action> on_stored_bytes(std::span<const std::uint8_t> chunk, std::uint64_t now);
  Result<Action> on_response(const Response& response, std::uint64_t now);
  Result<Action> on_timeout(std::uint64_t now);
  Result<Action> on_written(std::uint64_t now);
  Result<Action> on_discarded(std::uint64_t now);
  Result<Action> on_server_error(std::uint64_t now);
  Result<Action> restart();
  Action send_request(std::uint64_t now);
  Action ignore() const;
  std::uint64_t current_timeout_ms() const;
  void begin(std::uint8_t szx);
  bool same_etag(std::span<const std::uint8_t> etag) const;

  Config config_;
  State state_ = State::kIdle;
  crypto::Sha256 digest_;
  std::uint8_t szx_ = 0;
  // Bytes accepted (hashed) so far, which is also the offset of the block to request next.
  // While re-hashing: bytes fed back so far.
  std::uint32_t offset_ = 0;
  std::uint32_t rehash_end_ = 0;
  // The total size, once the manifest or a Size2 option has stated it.
  bool total_known_ = false;
  std::uint32_t total_ = 0;
  // The representation's ETag is fixed by the first response (or the resumed Progress);
  // any other ETag afterwards means the representation changed.
  bool etag_known_ = false;
  std::uint8_t etag_length_ = 0;
  std::array<std::uint8_t, kMaxEtagLength> etag_{};
  std::uint8_t retries_ = 0;   // spent on the current block
  std::uint8_t restarts_ = 0;  // ETag changes so far
  std::uint64_t deadline_ms_ = 0;
  bool last_block_ = false;  // the block being written ends the payload
  Progress progress_{};
};

}  // namespace spindle::blockwise
