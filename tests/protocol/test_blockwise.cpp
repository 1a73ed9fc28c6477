// Block2 download state machine: driven step by step against a simulated server, flash
// and clock, and interrupted between steps the way a reset would.
#include "spindle/protocol/blockwise.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "spindle/protocol/crypto.hpp"
#include "test_support.hpp"

namespace spindle::blockwise {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes make_payload(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(size);
  for (auto& b : out)
    b = static_cast<std::uint8_t>(rng());
  return out;
}

Bytes encode(const BlockOption& option) {
  std::array<std::uint8_t, kMaxBlockOptionLength> buffer{};
  const auto length = encode_block_option(option, buffer);
  EXPECT_TRUE(length.ok()) << length.status().name();
  return Bytes(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(*length));
}

// A response that owns its bytes; view() is what the CoAP layer would hand the download.
struct Reply {
  std::uint8_t code = kCoapContent;
  bool has_block2 = false;
  Bytes block2;
  Bytes etag;
  bool has_size2 = false;
  std::uint32_t size2 = 0;
  Bytes payload;

  Response view() const {
    Response r;
    r.code = code;
    r.has_block2 = has_block2;
    r.block2 = block2;
    r.etag = etag;
    r.has_size2 = has_size2;
    r.size2 = size2;
    r.payload = payload;
    return r;
  }
};

Reply block_reply(const BlockOption& option, Bytes payload, Bytes etag = {0xE1}) {
  Reply reply;
  reply.has_block2 = true;
  reply.block2 = encode(option);
  reply.etag = std::move(etag);
  reply.payload = std::move(payload);
  return reply;
}

Reply error_reply(std::uint8_t code) {
  Reply reply;
  reply.code = code;
  return reply;
}

// An RFC 7959 server for one resource; it never uses blocks larger than max_szx.
struct Server {
  Bytes content;
  Bytes etag = {0xE1, 0x01};
  std::uint8_t max_szx = kMaxSzx;
  bool send_size2 = true;
  bool use_block2 = true;

  Reply serve(const BlockOption& request) const {
    const auto slice = block2_slice(content.size(), request, max_szx);
    if (!slice.ok()) return error_reply(coap_code(4, 2));
    // Without Block2 the whole representation goes in one response.
    const std::size_t offset = use_block2 ? slice->offset : 0;
    const std::size_t length = use_block2 ? slice->length : content.size();
    Reply reply;
    reply.has_block2 = use_block2;
    if (use_block2) reply.block2 = encode(slice->option);
    reply.etag = etag;
    reply.has_size2 = send_size2;
    reply.size2 = static_cast<std::uint32_t>(content.size());
    const auto first = content.begin() + static_cast<std::ptrdiff_t>(offset);
    reply.payload.assign(first, first + static_cast<std::ptrdiff_t>(length));
    return reply;
  }
};

// The node's download slot and its persisted progress record.
struct Flash {
  Bytes data;
  std::optional<Progress> progress;

  void write(std::uint32_t offset, std::span<const std::uint8_t> bytes) {
    if (data.size() < offset + bytes.size()) data.resize(offset + bytes.size());
    std::copy(bytes.begin(), bytes.end(), data.begin() + offset);
  }
};

Config config_for(const Bytes& payload) {
  Config config;
  config.expected_size = static_cast<std::uint32_t>(payload.size());
  config.initial_timeout_ms = 1000;
  config.max_timeout_ms = 8000;
  return config;
}

// The lossy, reordering, duplicating link between node and server.
struct Link {
  std::mt19937 rng{1};
  double loss = 0.0;
  double duplicate = 0.0;
  double server_error = 0.0;
  std::uint64_t max_latency_ms = 20;

  bool chance(double p) { return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p; }
  std::uint64_t latency() {
    return std::uniform_int_distribution<std::uint64_t>(1, max_latency_ms)(rng);
  }
};

// Runs the node side: carries out each action, lets the clock jump to the next event.
// `interrupt_at` cuts power before that many flash/network operations have been done
// (the Download and everything in flight are lost; the flash keeps what was written).
struct Node {
  Node(const Server& serving, Flash& storage) : server(&serving), flash(&storage) {}

  const Server* server;
  Flash* flash;
  Link link{};
  std::uint64_t now = 0;
  std::size_t operations = 0;
  std::size_t interrupt_at = std::numeric_limits<std::size_t>::max();
  std::vector<BlockOption> requests;
  std::vector<std::uint64_t> deadlines;
  std::size_t rehashed_chunk = 97;  // an odd size, so chunks straddle block boundaries

  struct InFlight {
    std::uint64_t arrives_ms;
    Reply reply;
  };
  std::deque<InFlight> in_flight;
  Reply current;  // the reply the download last saw; a kWriteBlock points into it

  // Returns the final action (kComplete / kFail), or nullopt when power was cut.
  std::optional<Action> run(Download& download, Action action) {
    in_flight.clear();
    for (int guard = 0; guard < 200000; ++guard) {
      if (operations++ == interrupt_at) return std::nullopt;
      switch (action.kind) {
        case ActionKind::kComplete:
        case ActionKind::kFail:
          return action;
        case ActionKind::kSendRequest:
          requests.push_back(action.request);
          deadlines.push_back(action.deadline_ms);
          send(action.request);
          action = next_network_event(download, action.deadline_ms);
          break;
        case ActionKind::kWait:
          if (action.deadline_ms == 0 && in_flight.empty()) {
            ADD_FAILURE() << "waiting with nothing pending";
            return action;
          }
          action = next_network_event(download, action.deadline_ms);
          break;
        case ActionKind::kWriteBlock:
          flash->write(action.offset, action.data);
          if (operations++ == interrupt_at) return std::nullopt;  // data, no progress yet
          flash->progress = action.progress;
          action = download.step(Event::written(now));
          break;
        case ActionKind::kRehashStored: {
          EXPECT_LE(action.offset + action.length, flash->data.size());
          const std::size_t n = std::min<std::size_t>(rehashed_chunk, action.length);
          const std::span<const std::uint8_t> chunk(flash->data.data() + action.offset, n);
          action = download.step(Event::stored_bytes(chunk, now));
          break;
        }
        case ActionKind::kDiscardStored:
          flash->progress.reset();
          flash->data.clear();
          action = download.step(Event::discarded(now));
          break;
      }
    }
    ADD_FAILURE() << "download did not finish";
    return action;
  }

  void send(const BlockOption& request) {
    if (link.chance(link.loss)) return;
    Reply reply =
        link.chance(link.server_error) ? error_reply(coap_code(5, 3)) : server->serve(request);
    if (link.chance(link.loss)) return;
    if (link.chance(link.duplicate)) enqueue(now + link.latency() * 50, reply);
    enqueue(now + link.latency(), std::move(reply));
  }

  void enqueue(std::uint64_t when, Reply reply) {
    auto it = std::find_if(in_flight.begin(), in_flight.end(),
                           [&](const InFlight& f) { return f.arrives_ms > when; });
    in_flight.insert(it, InFlight{when, std::move(reply)});
  }

  Action next_network_event(Download& download, std::uint64_t deadline_ms) {
    if (!in_flight.empty() && (deadline_ms == 0 || in_flight.front().arrives_ms < deadline_ms)) {
      now = std::max(now, in_flight.front().arrives_ms);
      current = std::move(in_flight.front().reply);
      in_flight.pop_front();
      return download.step(Event::received(current.view(), now));
    }
    now = std::max(now, deadline_ms);
    return download.step(Event::timeout(now));
  }

  // After a reset: resume from the persisted record, or start over without one.
  Action boot(Download& download) {
    return flash->progress ? download.step(Event::resume(*flash->progress, now))
                           : download.step(Event::start(now));
  }
};

void expect_complete(const std::optional<Action>& result, const Bytes& payload) {
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->kind, ActionKind::kComplete) << result->status.name();
  EXPECT_EQ(result->total_size, payload.size());
  EXPECT_EQ(result->digest, crypto::Sha256::of(payload));
}

void expect_failure(const Action& action, Error error) {
  ASSERT_EQ(action.kind, ActionKind::kFail);
  EXPECT_EQ(action.status, Status(error)) << action.status.name();
}

// ---- Block option codec

TEST(Block2Slice, NoOptionServesBlockZeroAtTheServersSize) {
  const auto slice = block2_slice(3000, std::nullopt, 6);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->offset, 0u);
  EXPECT_EQ(slice->length, 1024u);
  EXPECT_EQ(slice->option, (BlockOption{0, true, 6}));
}

TEST(Block2Slice, LastBlockIsShortAndHasNoMoreFlag) {
  const auto slice = block2_slice(3000, BlockOption{2, false, 6}, 6);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->offset, 2048u);
  EXPECT_EQ(slice->length, 952u);
  EXPECT_FALSE(slice->option.more);
}

TEST(Block2Slice, AnyBlockCanBeFetchedDirectly) {
  const auto slice = block2_slice(1000, BlockOption{7, false, 2}, 6);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->offset, 448u);
  EXPECT_EQ(slice->length, 64u);
  EXPECT_EQ(slice->option, (BlockOption{7, true, 2}));
}

TEST(Block2Slice, LargerRequestedSizeIsAnsweredWithTheServersSmallerBlockHoldingTheOffset) {
  // Block 3 of 1024 starts at 3072; at 256 bytes that is block 12 (RFC 7959 section 2.4).
  const auto slice = block2_slice(5000, BlockOption{3, false, 6}, 4);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->offset, 3072u);
  EXPECT_EQ(slice->length, 256u);
  EXPECT_EQ(slice->option, (BlockOption{12, true, 4}));
}

TEST(Block2Slice, BlockPastTheEndIsRefused) {
  EXPECT_EQ(block2_slice(1024, BlockOption{1, false, 6}, 6).status(), Error::kOversize);
  EXPECT_EQ(block2_slice(100, BlockOption{2, false, 2}, 6).status(), Error::kOversize);
}

TEST(Block2Slice, EmptyRepresentationIsOneEmptyBlock) {
  const auto slice = block2_slice(0, std::nullopt, 6);
  ASSERT_TRUE(slice.ok());
  EXPECT_EQ(slice->length, 0u);
  EXPECT_FALSE(slice->option.more);
}

TEST(Block2Slice, SizesOutsideSixtyFourTo1024AreRefused) {
  EXPECT_EQ(block2_slice(100, BlockOption{0, false, 1}, 6).status(), Error::kInvalidValue);
  EXPECT_EQ(block2_slice(100, std::nullopt, 1).status(), Error::kInvalidValue);
  EXPECT_EQ(block2_slice(100, std::nullopt, 7).status(), Error::kInvalidValue);
}

TEST(BlockOption, EncodesWithMinimalLength) {
  EXPECT_EQ(encode({0, false, 0}), Bytes{});
  EXPECT_EQ(encode({0, false, 2}), Bytes{0x02});
  EXPECT_EQ(encode({5, true, 6}), Bytes{0x5E});
  EXPECT_EQ(encode({15, true, 6}), Bytes{0xFE});
  EXPECT_EQ(encode({16, false, 4}), (Bytes{0x01, 0x04}));
  EXPECT_EQ(encode({4095, true, 6}), (Bytes{0xFF, 0xFE}));
  EXPECT_EQ(encode({4096, false, 6}), (Bytes{0x01, 0x00, 0x06}));
  EXPECT_EQ(encode({kMaxBlockNum, true, 5}), (Bytes{0xFF, 0xFF, 0xFD}));
}

TEST(BlockOption, RoundTripsEveryFieldWidth) {
  for (const std::uint32_t num : {0u, 1u, 15u, 16u, 255u, 4095u, 4096u, 65535u, kMaxBlockNum}) {
    for (const bool more : {false, true}) {
      for (std::uint8_t szx = 0; szx < kReservedSzx; ++szx) {
        const BlockOption option{num, more, szx};
        const Bytes bytes = encode(option);
        const auto decoded = decode_block_option(bytes);
        ASSERT_TRUE(decoded.ok()) << decoded.status().name();
        EXPECT_EQ(*decoded, option);
      }
    }
  }
}

TEST(BlockOption, DecodeAcceptsLeadingZeroBytes) {
  const auto decoded = decode_block_option(Bytes{0x00, 0x00, 0x5E});
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (BlockOption{5, true, 6}));
}

TEST(BlockOption, DecodeOfEmptyValueIsBlockZero) {
  const auto decoded = decode_block_option(Bytes{});
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (BlockOption{0, false, 0}));
}

TEST(BlockOption, DecodeRejectsReservedSzx7) {
  EXPECT_EQ(decode_block_option(Bytes{0x07}).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(decode_block_option(Bytes{0x12, 0x3F}).status(), Status(Error::kInvalidValue));
}

TEST(BlockOption, DecodeRejectsFourByteValue) {
  EXPECT_EQ(decode_block_option(Bytes{0x00, 0x00, 0x00, 0x06}).status(), Status(Error::kOversize));
}

TEST(BlockOption, EncodeRejectsOutOfRangeFieldsAndShortBuffers) {
  std::array<std::uint8_t, 3> buffer{};
  EXPECT_EQ(encode_block_option({kMaxBlockNum + 1, false, 6}, buffer).status(),
            Status(Error::kInvalidValue));
  EXPECT_EQ(encode_block_option({1, false, kReservedSzx}, buffer).status(),
            Status(Error::kInvalidValue));
  std::array<std::uint8_t, 1> small{};
  EXPECT_EQ(encode_block_option({16, false, 6}, small).status(), Status(Error::kBufferTooSmall));
}

// ---- Download

TEST(Download, WholeMultiBlockDownloadDigestsThePayload) {
  const Bytes payload = make_payload(4096, 1);
  Server server{payload};
  Flash flash;
  Node node(server, flash);
  Download download(config_for(payload));
  expect_complete(node.run(download, download.step(Event::start(0))), payload);
  EXPECT_EQ(flash.data, payload);
  ASSERT_EQ(node.requests.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i)
    EXPECT_EQ(node.requests[i], (BlockOption{i, false, 6}));
  EXPECT_EQ(download.state(), State::kDone);
}

TEST(Download, LastBlockMayBePartial) {
  const Bytes payload = make_payload(1000, 2);
  Server server{payload};
  Config config = config_for(payload);
  config.preferred_szx = 4;  // 256-byte blocks: 3 full ones and 232 bytes
  Download download(config);

  Action action = download.step(Event::start(0));
  for (std::uint32_t num = 0; num < 4; ++num) {
    ASSERT_EQ(action.kind, ActionKind::kSendRequest);
    EXPECT_EQ(action.request, (BlockOption{num, false, 4}));
    const Reply reply = server.serve(action.request);
    action = download.step(Event::received(reply.view(), 10));
    ASSERT_EQ(action.kind, ActionKind::kWriteBlock);
    EXPECT_EQ(action.offset, num * 256);
    EXPECT_EQ(action.data.size(), num < 3 ? 256u : 232u);
    // The final block is not recorded as stored, so a resume never asks for more bytes
    // than exist.
    EXPECT_EQ(action.progress.next_block, num < 3 ? num + 1 : 3u);
    action = download.step(Event::written(20));
  }
  ASSERT_EQ(action.kind, ActionKind::kComplete);
  EXPECT_EQ(action.total_size, 1000u);
  EXPECT_EQ(action.digest, crypto::Sha256::of(payload));
}

TEST(Download, EmptyPayloadCompletesWithTheDigestOfNothing) {
  Server server{Bytes{}};
  Flash flash;
  Node node(server, flash);
  Download download(Config{});  // size unknown: nothing to disagree with
  expect_complete(node.run(download, download.step(Event::start(0))), Bytes{});
}

TEST(Download, SmallerBlockSizeFromServerIsAdoptedAndRescaled) {
  const Bytes payload = make_payload(5000, 3);
  Server server{payload};
  server.max_szx = 4;  // the server answers block 0 with 256-byte blocks
  Flash flash;
  Node node(server, flash);
  Download download(config_for(payload));
  expect_complete(node.run(download, download.step(Event::start(0))), payload);
  EXPECT_EQ(flash.data, payload);
  ASSERT_GE(node.requests.size(), 2u);
  EXPECT_EQ(node.requests[0], (BlockOption{0, false, 6}));
  EXPECT_EQ(node.requests[1], (BlockOption{1, false, 4}));
  EXPECT_EQ(node.requests.size(), 20u);
}

TEST(Download, ServerShrinkingBlockSizeMidTransferIsAdopted) {
  const Bytes payload = make_payload(6000, 4);
  Server server{payload};
  Download download(config_for(payload));
  Flash flash;

  std::vector<BlockOption> requests;
  Action action = download.step(Event::start(0));
  while (action.kind == ActionKind::kSendRequest) {
    requests.push_back(action.request);
    if (requests.size() == 3) server.max_szx = 3;  // from the third block on: 128 bytes
    const Reply reply = server.serve(action.request);
    action = download.step(Event::received(reply.view(), 0));
    ASSERT_EQ(action.kind, ActionKind::kWriteBlock) << action.status.name();
    flash.write(action.offset, action.data);
    action = download.step(Event::written(0));
  }
  ASSERT_EQ(action.kind, ActionKind::kComplete);
  EXPECT_EQ(action.digest, crypto::Sha256::of(payload));
  EXPECT_EQ(flash.data, payload);
  EXPECT_EQ(requests[1], (BlockOption{1, false, 6}));
  EXPECT_EQ(requests[2], (BlockOption{2, false, 6}));   // answered as block 16 of 128 bytes
  EXPECT_EQ(requests[3], (BlockOption{17, false, 3}));  // byte offset 2176
  EXPECT_EQ(download.progress().szx, 3);
}

TEST(Download, LargerBlockSizeThanRequestedIsAProtocolError) {
  Config config;
  config.preferred_szx = 4;
  Download download(config);
  const Action request = download.step(Event::start(0));
  ASSERT_EQ(request.kind, ActionKind::kSendRequest);
  const Reply reply = block_reply({0, true, 5}, Bytes(512, 0xAA));
  expect_failure(download.step(Event::received(reply.view(), 1)), Error::kInvalidValue);
  EXPECT_EQ(download.state(), State::kFailed);
}

TEST(Download, BlockSizeBelow64BytesIsRejected) {
  Download download(Config{});
  (void)download.step(Event::start(0));
  const Reply reply = block_reply({0, true, 1}, Bytes(32, 0xAA));
  expect_failure(download.step(Event::received(reply.view(), 1)), Error::kInvalidValue);
}

// Records every progress record an uninterrupted run asks to persist, with the flash
// contents at that moment, so a test can resume from any of them.
struct Snapshot {
  Progress progress;
  Bytes stored;
};
std::vector<Snapshot> snapshots_of_uninterrupted_run(const Bytes& payload, const Config& config,
                                                     Server& server) {
  std::vector<Snapshot> snapshots;
  Download download(config);
  Flash flash;
  Action action = download.step(Event::start(0));
  while (action.kind == ActionKind::kSendRequest) {
    const Reply reply = server.serve(action.request);
    action = download.step(Event::received(reply.view(), 0));
    EXPECT_EQ(action.kind, ActionKind::kWriteBlock);
    if (action.kind != ActionKind::kWriteBlock) break;
    flash.write(action.offset, action.data);
    snapshots.push_back({action.progress, flash.data});
    action = download.step(Event::written(0));
  }
  EXPECT_EQ(action.kind, ActionKind::kComplete);
  EXPECT_EQ(action.digest, crypto::Sha256::of(payload));
  return snapshots;
}

TEST(Download, ResumeFromFirstMiddleAndLastBlockGivesTheUninterruptedDigest) {
  const Bytes payload = make_payload(5 * 1024 + 300, 5);  // 6 blocks, the last partial
  Server server{payload};
  const Config config = config_for(payload);
  const auto snapshots = snapshots_of_uninterrupted_run(payload, config, server);
  ASSERT_EQ(snapshots.size(), 6u);

  for (const std::size_t index : {std::size_t{0}, std::size_t{2}, std::size_t{5}}) {
    SCOPED_TRACE(index);
    Flash flash{snapshots[index].stored, snapshots[index].progress};
    Node node(server, flash);
    Download download(config);
    const auto result = node.run(download, node.boot(download));
    expect_complete(result, payload);
    EXPECT_EQ(flash.data, payload);
    // Blocks already stored are not fetched again.
    ASSERT_FALSE(node.requests.empty());
    EXPECT_EQ(node.requests.front().num, snapshots[index].progress.next_block);
  }
  EXPECT_EQ(snapshots[0].progress.next_block, 1u);
  EXPECT_EQ(snapshots[5].progress.next_block, 5u);  // the last block itself is re-fetched
}

TEST(Download, ResumeFeedsStoredBytesBackInChunksBeforeRequesting) {
  const Bytes payload = make_payload(4096, 6);
  Progress progress;
  progress.next_block = 2;
  progress.szx = 6;
  progress.etag_length = 2;
  progress.etag = {0xE1, 0x01};
  Download download(config_for(payload));

  Action action = download.step(Event::resume(progress, 0));
  ASSERT_EQ(action.kind, ActionKind::kRehashStored);
  EXPECT_EQ(action.offset, 0u);
  EXPECT_EQ(action.length, 2048u);
  const std::span<const std::uint8_t> stored(payload.data(), 2048);
  action = download.step(Event::stored_bytes(stored.first(1000), 1));
  ASSERT_EQ(action.kind, ActionKind::kRehashStored);
  EXPECT_EQ(action.offset, 1000u);
  EXPECT_EQ(action.length, 1048u);
  action = download.step(Event::stored_bytes(stored.subspan(1000), 2));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  EXPECT_EQ(action.request, (BlockOption{2, false, 6}));
  EXPECT_EQ(download.bytes_received(), 2048u);
}

TEST(Download, ResumeKeepsAPersistedSmallerBlockSize) {
  const Bytes payload = make_payload(4096, 7);
  Server server{payload};
  const Bytes stored(payload.begin(), payload.begin() + 512);
  Progress progress;
  progress.next_block = 2;  // 2 x 256 bytes
  progress.szx = 4;
  progress.etag_length = 2;
  progress.etag = {0xE1, 0x01};
  Flash flash{stored, progress};
  Node node(server, flash);
  Download download(config_for(payload));
  expect_complete(node.run(download, node.boot(download)), payload);
  EXPECT_EQ(node.requests.front(), (BlockOption{2, false, 4}));
}

TEST(Download, ResumeRescalesToASmallerPreferredBlockSize) {
  const Bytes payload = make_payload(4096, 8);
  Progress progress;
  progress.next_block = 3;  // 3 x 1024 bytes
  progress.szx = 6;
  Config config = config_for(payload);
  config.preferred_szx = 2;
  Download download(config);
  Action action = download.step(Event::resume(progress, 0));
  ASSERT_EQ(action.kind, ActionKind::kRehashStored);
  action = download.step(Event::stored_bytes({payload.data(), 3072}, 0));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  EXPECT_EQ(action.request, (BlockOption{48, false, 2}));
}

TEST(Download, ResumeFromBlockZeroRequestsBlockZero) {
  Progress progress;
  progress.szx = 6;
  Download download(Config{});
  const Action action = download.step(Event::resume(progress, 0));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  EXPECT_EQ(action.request, (BlockOption{0, false, 6}));
}

TEST(Download, ResumeRejectsACorruptProgressRecord) {
  const auto resume_with = [](Progress progress, std::uint32_t expected_size) {
    Config config;
    config.expected_size = expected_size;
    Download download(config);
    return download.step(Event::resume(progress, 0));
  };
  Progress bad_szx;
  bad_szx.next_block = 1;
  bad_szx.szx = kReservedSzx;
  expect_failure(resume_with(bad_szx, 0), Error::kInvalidValue);
  bad_szx.szx = 1;
  expect_failure(resume_with(bad_szx, 0), Error::kInvalidValue);

  Progress long_etag;
  long_etag.szx = 6;
  long_etag.etag_length = kMaxEtagLength + 1;
  expect_failure(resume_with(long_etag, 0), Error::kInvalidValue);

  Progress far_block;
  far_block.szx = 6;
  far_block.next_block = kMaxBlockNum + 1;
  expect_failure(resume_with(far_block, 0), Error::kInvalidValue);

  Progress beyond_payload;
  beyond_payload.szx = 6;
  beyond_payload.next_block = 4;
  expect_failure(resume_with(beyond_payload, 4096), Error::kSizeMismatch);
}

TEST(Download, StoredBytesBeyondTheRequestedRangeFail) {
  Progress progress;
  progress.next_block = 1;
  progress.szx = 2;
  Download download(Config{});
  ASSERT_EQ(download.step(Event::resume(progress, 0)).kind, ActionKind::kRehashStored);
  const Bytes too_many(65, 0);
  expect_failure(download.step(Event::stored_bytes(too_many, 0)), Error::kInvalidValue);
}

TEST(Download, EtagChangeMidTransferDiscardsAndRestartsFromBlockZero) {
  const Bytes old_payload = make_payload(4096, 9);
  const Bytes new_payload = make_payload(4096, 10);
  Server server{old_payload};
  Download download(config_for(old_payload));
  Flash flash;

  Action action = download.step(Event::start(0));
  for (int block = 0; block < 2; ++block) {
    const Reply reply = server.serve(action.request);
    action = download.step(Event::received(reply.view(), 0));
    ASSERT_EQ(action.kind, ActionKind::kWriteBlock);
    flash.write(action.offset, action.data);
    flash.progress = action.progress;
    action = download.step(Event::written(0));
  }
  server.content = new_payload;
  server.etag = {0xE2};
  ASSERT_EQ(action.request.num, 2u);
  const Reply changed = server.serve(action.request);
  action = download.step(Event::received(changed.view(), 0));
  ASSERT_EQ(action.kind, ActionKind::kDiscardStored);
  EXPECT_EQ(download.bytes_received(), 2048u);  // unchanged until the caller has erased

  flash = Flash{};
  action = download.step(Event::discarded(0));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  EXPECT_EQ(action.request, (BlockOption{0, false, 6}));
  Node node(server, flash);
  expect_complete(node.run(download, action), new_payload);
  EXPECT_EQ(flash.data, new_payload);
  EXPECT_EQ(flash.progress->etag_length, 1);
  EXPECT_EQ(flash.progress->etag[0], 0xE2);
}

TEST(Download, EtagChangeWhileResumingDiscardsTheStoredData) {
  const Bytes old_payload = make_payload(3000, 11);
  const Bytes new_payload = make_payload(3000, 12);
  Server server{old_payload};
  const Config config = config_for(old_payload);
  const auto snapshots = snapshots_of_uninterrupted_run(old_payload, config, server);
  server.content = new_payload;
  server.etag = {0xE2, 0x02};

  Flash flash{snapshots[1].stored, snapshots[1].progress};
  Node node(server, flash);
  Download download(config);
  expect_complete(node.run(download, node.boot(download)), new_payload);
  EXPECT_EQ(flash.data, new_payload);
  ASSERT_GE(node.requests.size(), 2u);
  EXPECT_EQ(node.requests[0].num, 2u);
  EXPECT_EQ(node.requests[1].num, 0u);
}

TEST(Download, EtagChangesBeyondTheRestartBudgetFail) {
  const Bytes payload = make_payload(4096, 13);
  Server server{payload};
  Config config = config_for(payload);
  config.max_restarts = 3;
  Download download(config);

  Action action = download.step(Event::start(0));
  std::uint8_t etag = 0;
  int restarts = 0;
  for (int guard = 0; guard < 100 && action.kind != ActionKind::kFail; ++guard) {
    if (action.kind == ActionKind::kSendRequest) {
      // Every time the client gets past block 0, the representation has changed again.
      if (action.request.num == 1) server.etag = {++etag};
      const Reply reply = server.serve(action.request);
      action = download.step(Event::received(reply.view(), 0));
    } else if (action.kind == ActionKind::kWriteBlock) {
      action = download.step(Event::written(0));
    } else if (action.kind == ActionKind::kDiscardStored) {
      ++restarts;
      action = download.step(Event::discarded(0));
    } else {
      FAIL() << "unexpected action";
    }
  }
  expect_failure(action, Error::kRetriesExhausted);
  EXPECT_EQ(restarts, 3);
}

TEST(Download, StaleOrDuplicateResponseIsIgnored) {
  const Bytes payload = make_payload(3072, 14);
  Server server{payload};
  Download download(config_for(payload));

  Action action = download.step(Event::start(0));
  const Reply block0 = server.serve(action.request);
  ASSERT_EQ(download.step(Event::received(block0.view(), 10)).kind, ActionKind::kWriteBlock);
  // Late copies of a reply may also arrive while the block is being written.
  EXPECT_EQ(download.step(Event::received(block0.view(), 11)).kind, ActionKind::kWait);
  EXPECT_EQ(download.state(), State::kWriting);
  action = download.step(Event::written(20));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  ASSERT_EQ(action.request.num, 1u);

  const Progress before = download.progress();
  const Action ignored = download.step(Event::received(block0.view(), 30));
  EXPECT_EQ(ignored.kind, ActionKind::kWait);
  EXPECT_EQ(ignored.deadline_ms, action.deadline_ms);
  EXPECT_EQ(download.state(), State::kAwaitingResponse);
  EXPECT_EQ(download.progress(), before);
  EXPECT_EQ(download.bytes_received(), 1024u);
  // A block from further ahead is not what was asked for either.
  const Reply block2 = server.serve({2, false, 6});
  EXPECT_EQ(download.step(Event::received(block2.view(), 31)).kind, ActionKind::kWait);

  const Reply block1 = server.serve(action.request);
  action = download.step(Event::received(block1.view(), 40));
  ASSERT_EQ(action.kind, ActionKind::kWriteBlock);
  EXPECT_EQ(action.offset, 1024u);
}

TEST(Download, TimerFiringBeforeTheDeadlineIsIgnored) {
  Download download(Config{});
  const Action request = download.step(Event::start(100));
  const Action early = download.step(Event::timeout(request.deadline_ms - 1));
  EXPECT_EQ(early.kind, ActionKind::kWait);
  EXPECT_EQ(early.deadline_ms, request.deadline_ms);
  EXPECT_EQ(download.state(), State::kAwaitingResponse);
}

TEST(Download, TimeoutsResendWithDoublingDeadlinesThenExhaustRetries) {
  Config config;
  config.initial_timeout_ms = 1000;
  config.max_timeout_ms = 5000;
  config.max_retries = 4;
  Download download(config);

  Action action = download.step(Event::start(0));
  std::vector<std::uint64_t> deadlines;
  while (action.kind == ActionKind::kSendRequest) {
    EXPECT_EQ(action.request, (BlockOption{0, false, 6}));
    deadlines.push_back(action.deadline_ms);
    action = download.step(Event::timeout(action.deadline_ms));
  }
  // Timeouts 1 s, 2 s, 4 s, then capped at 5 s.
  EXPECT_EQ(deadlines, (std::vector<std::uint64_t>{1000, 3000, 7000, 12000, 17000}));
  expect_failure(action, Error::kRetriesExhausted);
}

TEST(Download, RetryBudgetResetsAfterEachGoodBlock) {
  const Bytes payload = make_payload(3 * 1024, 15);
  Server server{payload};
  Config config = config_for(payload);
  config.max_retries = 2;
  Download download(config);

  Action action = download.step(Event::start(0));
  std::uint64_t now = 0;
  for (std::uint32_t block = 0; block < 3; ++block) {
    // Each block needs all of its retries; without the reset the second block would fail.
    for (int lost = 0; lost < 2; ++lost) {
      ASSERT_EQ(action.kind, ActionKind::kSendRequest) << action.status.name();
      now = action.deadline_ms;
      action = download.step(Event::timeout(now));
    }
    ASSERT_EQ(action.kind, ActionKind::kSendRequest) << action.status.name();
    EXPECT_EQ(action.deadline_ms, now + 4000);  // third attempt: 1 s doubled twice
    const Reply reply = server.serve(action.request);
    action = download.step(Event::received(reply.view(), now + 5));
    ASSERT_EQ(action.kind, ActionKind::kWriteBlock);
    action = download.step(Event::written(now + 6));
    if (block < 2) {
      ASSERT_EQ(action.kind, ActionKind::kSendRequest);
      EXPECT_EQ(action.deadline_ms, now + 6 + 1000);  // back to the initial timeout
    }
  }
  ASSERT_EQ(action.kind, ActionKind::kComplete);
  EXPECT_EQ(action.digest, crypto::Sha256::of(payload));
}

TEST(Download, ServerErrorBacksOffThenResendsAndSpendsTheRetryBudget) {
  Config config;
  config.initial_timeout_ms = 1000;
  config.max_retries = 2;
  Download download(config);
  const Reply unavailable = error_reply(coap_code(5, 3));

  Action action = download.step(Event::start(0));
  for (std::uint64_t backoff : {2000u, 4000u}) {
    const std::uint64_t now = action.deadline_ms - 500;
    action = download.step(Event::received(unavailable.view(), now));
    ASSERT_EQ(action.kind, ActionKind::kWait);
    EXPECT_EQ(action.deadline_ms, now + backoff);
    EXPECT_EQ(download.state(), State::kBackingOff);
    action = download.step(Event::timeout(action.deadline_ms));
    ASSERT_EQ(action.kind, ActionKind::kSendRequest);
    EXPECT_EQ(action.request.num, 0u);
  }
  expect_failure(download.step(Event::received(unavailable.view(), action.deadline_ms - 1)),
                 Error::kRetriesExhausted);
}

TEST(Download, TooManyRequestsBacksOffLikeAServerError) {
  Config config;
  config.initial_timeout_ms = 1000;
  Download download(config);
  const Reply busy = error_reply(coap_code(4, 29));  // RFC 8516
  Action action = download.step(Event::start(0));
  action = download.step(Event::received(busy.view(), 10));
  ASSERT_EQ(action.kind, ActionKind::kWait);
  EXPECT_EQ(download.state(), State::kBackingOff);
  action = download.step(Event::timeout(action.deadline_ms));
  ASSERT_EQ(action.kind, ActionKind::kSendRequest);
  EXPECT_EQ(action.request.num, 0u);
}

TEST(Download, NotFoundFailsWithRemoteError) {
  Download download(Config{});
  (void)download.step(Event::start(0));
  const Reply not_found = error_reply(coap_code(4, 4));
  expect_failure(download.step(Event::received(not_found.view(), 1)), Error::kRemoteError);
}

TEST(Download, Size2DisagreeingWithTheManifestFails) {
  const Bytes payload = make_payload(3000, 16);
  Server server{payload};
  Config config = config_for(payload);
  config.expected_size = 2999;
  Download download(config);
  const Action request = download.step(Event::start(0));
  const Reply reply = server.serve(request.request);
  expect_failure(download.step(Event::received(reply.view(), 1)), Error::kSizeMismatch);
}

TEST(Download, Size2ChangingMidTransferFails) {
  const Bytes payload = make_payload(3000, 17);
  Server server{payload};
  Download download(Config{});  // no manifest size: the first Size2 becomes the reference
  Action action = download.step(Event::start(0));
  Reply reply = server.serve(action.request);
  ASSERT_EQ(download.step(Event::received(reply.view(), 1)).kind, ActionKind::kWriteBlock);
  action = download.step(Event::written(2));
  reply = server.serve(action.request);
  reply.size2 = 4000;
  expect_failure(download.step(Event::received(reply.view(), 3)), Error::kSizeMismatch);
}

TEST(Download, MoreDataThanExpectedFails) {
  const Bytes payload = make_payload(2048, 18);
  Server server{payload};
  server.send_size2 = false;
  Config config = config_for(payload);
  config.expected_size = 1000;
  Flash flash;
  Node node(server, flash);
  Download download(config);
  const auto result = node.run(download, download.step(Event::start(0)));
  ASSERT_TRUE(result.has_value());
  expect_failure(*result, Error::kSizeMismatch);
  EXPECT_TRUE(flash.data.empty());  // nothing past the expected size reaches flash
}

TEST(Download, LastBlockShortOfTheExpectedSizeFails) {
  const Bytes payload = make_payload(1500, 19);
  Server server{payload};
  server.send_size2 = false;
  Config config = config_for(payload);
  config.expected_size = 1600;
  Flash flash;
  Node node(server, flash);
  Download download(config);
  const auto result = node.run(download, download.step(Event::start(0)));
  ASSERT_TRUE(result.has_value());
  expect_failure(*result, Error::kSizeMismatch);
}

TEST(Download, PayloadLengthMustMatchTheBlock2Option) {
  {
    Download download(Config{});
    (void)download.step(Event::start(0));
    const Reply short_block = block_reply({0, true, 6}, Bytes(1000, 1));
    expect_failure(download.step(Event::received(short_block.view(), 1)), Error::kSizeMismatch);
  }
  {
    Download download(Config{});
    (void)download.step(Event::start(0));
    const Reply long_last = block_reply({0, false, 6}, Bytes(1025, 1));
    expect_failure(download.step(Event::received(long_last.view(), 1)), Error::kSizeMismatch);
  }
  {
    Config config;
    config.preferred_szx = 2;
    Download download(config);
    (void)download.step(Event::start(0));
    const Reply first = block_reply({0, true, 2}, Bytes(64, 1));
    ASSERT_EQ(download.step(Event::received(first.view(), 1)).kind, ActionKind::kWriteBlock);
    (void)download.step(Event::written(2));
    const Reply empty_last = block_reply({1, false, 2}, Bytes{});
    expect_failure(download.step(Event::received(empty_last.view(), 3)), Error::kSizeMismatch);
  }
}

TEST(Download, OverlongEtagFails) {
  Download download(Config{});
  (void)download.step(Event::start(0));
  const Reply reply = block_reply({0, false, 6}, Bytes(10, 1), Bytes(kMaxEtagLength + 1, 0xEE));
  expect_failure(download.step(Event::received(reply.view(), 1)), Error::kOversize);
}

TEST(Download, ResponseWithoutBlock2ToBlockZeroIsTheWholePayload) {
  const Bytes payload = make_payload(1500, 20);  // larger than a block: the server ignored it
  Server server{payload};
  server.use_block2 = false;
  Flash flash;
  Node node(server, flash);
  Download download(config_for(payload));
  expect_complete(node.run(download, download.step(Event::start(0))), payload);
  EXPECT_EQ(flash.data, payload);
}

TEST(Download, ResponseWithoutBlock2ToALaterBlockFails) {
  const Bytes payload = make_payload(2048, 21);
  Server server{payload};
  Download download(config_for(payload));
  Action action = download.step(Event::start(0));
  const Reply block0 = server.serve(action.request);
  (void)download.step(Event::received(block0.view(), 1));
  action = download.step(Event::written(2));
  server.use_block2 = false;
  const Reply whole = server.serve({0, false, 6});
  expect_failure(download.step(Event::received(whole.view(), 3)), Error::kMissingField);
}

TEST(Download, EventsInvalidInTheCurrentStateFail) {
  {
    Download download(Config{});
    expect_failure(download.step(Event::written(0)), Error::kInvalidState);
  }
  {
    Download download(Config{});
    expect_failure(download.step(Event::timeout(0)), Error::kInvalidState);
  }
  {
    Download download(Config{});
    (void)download.step(Event::start(0));
    expect_failure(download.step(Event::start(1)), Error::kInvalidState);
  }
  {
    Download download(Config{});
    (void)download.step(Event::start(0));
    expect_failure(download.step(Event::written(1)), Error::kInvalidState);
    // Once failed, it stays failed.
    expect_failure(download.step(Event::timeout(100000)), Error::kInvalidState);
  }
  {
    Download download(Config{});
    (void)download.step(Event::start(0));
    const Bytes chunk(4, 0);
    expect_failure(download.step(Event::stored_bytes(chunk, 1)), Error::kInvalidState);
  }
}

TEST(Download, EventsAfterCompletionFailWithoutUndoingIt) {
  const Bytes payload = make_payload(100, 22);
  Server server{payload};
  Flash flash;
  Node node(server, flash);
  Download download(config_for(payload));
  expect_complete(node.run(download, download.step(Event::start(0))), payload);
  const Reply late = server.serve({0, false, 6});
  expect_failure(download.step(Event::received(late.view(), node.now)), Error::kInvalidState);
  EXPECT_EQ(download.state(), State::kDone);
}

TEST(Download, InvalidConfigFails) {
  const auto start_with = [](Config config) {
    Download download(config);
    return download.step(Event::start(0));
  };
  Config config;
  config.preferred_szx = kReservedSzx;
  expect_failure(start_with(config), Error::kInvalidValue);
  config.preferred_szx = 1;
  expect_failure(start_with(config), Error::kInvalidValue);
  config = Config{};
  config.initial_timeout_ms = 0;
  expect_failure(start_with(config), Error::kInvalidValue);
  config = Config{};
  config.max_timeout_ms = config.initial_timeout_ms - 1;
  expect_failure(start_with(config), Error::kInvalidValue);
  config = Config{};
  config.expected_size = kMaxTransferSize + 1;
  expect_failure(start_with(config), Error::kInvalidValue);
}

// MCUboot-style: cut power before every single operation of a download, reboot, resume
// from what flash holds, and require the same bytes and digest as an uninterrupted run.
TEST(Download, InterruptedBeforeAnyOperationResumesToTheSameDigest) {
  const Bytes payload = make_payload(3 * 256 + 100, 23);
  Server server{payload};
  Config config = config_for(payload);
  config.preferred_szx = 4;

  Flash reference_flash;
  Node reference(server, reference_flash);
  Download uninterrupted(config);
  expect_complete(reference.run(uninterrupted, uninterrupted.step(Event::start(0))), payload);
  const std::size_t operations = reference.operations;
  ASSERT_GT(operations, 10u);

  for (std::size_t cut = 0; cut < operations; ++cut) {
    SCOPED_TRACE(cut);
    Flash flash;
    Node first_boot(server, flash);
    first_boot.interrupt_at = cut;
    Download download(config);
    ASSERT_FALSE(first_boot.run(download, download.step(Event::start(0))).has_value());

    Node second_boot(server, flash);
    second_boot.now = first_boot.now + 1;
    Download resumed(config);
    expect_complete(second_boot.run(resumed, second_boot.boot(resumed)), payload);
    EXPECT_EQ(flash.data, payload);
  }
}

// A seeded, bounded simulation: lost, duplicated, reordered and late replies, 5.03
// answers, a server that shrinks its block size, and power cuts with resume.
TEST(Download, CompletesOverALossyLinkWithPowerCuts) {
  int power_cuts = 0;
  std::size_t requests = 0;
  std::size_t blocks = 0;
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(seed);
    const Bytes payload = make_payload(8000 + seed * 37, seed);
    Server server{payload};
    server.max_szx = seed % 3 == 0 ? 4 : kMaxSzx;
    Config config = config_for(payload);
    config.max_retries = 8;
    Flash flash;
    std::mt19937 power(seed);

    std::optional<Action> result;
    std::uint64_t now = 0;
    for (int boot = 0; !result && boot < 200; ++boot) {
      Node node(server, flash);
      node.link.rng.seed(seed * 1000 + static_cast<std::uint32_t>(boot));
      node.link.loss = 0.15;
      node.link.duplicate = 0.15;
      node.link.server_error = 0.05;
      node.link.max_latency_ms = 1500;  // some replies arrive after the timeout
      node.now = now;
      node.rehashed_chunk = 500;
      if (power() % 8 != 0) {  // most boots lose power again
        node.interrupt_at = std::uniform_int_distribution<std::size_t>(3, 40)(power);
      }
      Download download(config);
      result = node.run(download, node.boot(download));
      now = node.now + 1;
      requests += node.requests.size();
      if (!result) ++power_cuts;
    }
    expect_complete(result, payload);
    EXPECT_EQ(flash.data, payload);
    blocks += (payload.size() + block_size(server.max_szx) - 1) / block_size(server.max_szx);
  }
  // The run did exercise what it claims to: resets, and requests lost or refused.
  EXPECT_GT(power_cuts, 40);
  EXPECT_GT(requests, blocks + blocks / 5);
}

}  // namespace
}  // namespace spindle::blockwise

// ---- Block1

namespace spindle::blockwise {
namespace {

std::vector<std::uint8_t> bytes_of(std::size_t size, std::uint8_t first = 0) {
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

TEST(Block1Place, AppendsInOrderAndRecognisesRepeats) {
  const auto body = bytes_of(200);
  std::vector<std::uint8_t> held;
  const std::span<const std::uint8_t> all(body);
  EXPECT_EQ(*block1_place(held, {0, true, 2}, all.subspan(0, 64), 1000), Block1Placement::kAppend);
  held.assign(body.begin(), body.begin() + 64);
  EXPECT_EQ(*block1_place(held, {0, true, 2}, all.subspan(0, 64), 1000), Block1Placement::kRepeat);
  EXPECT_EQ(*block1_place(held, {1, true, 2}, all.subspan(64, 64), 1000), Block1Placement::kAppend);
  held.assign(body.begin(), body.begin() + 128);
  EXPECT_EQ(*block1_place(held, {1, true, 2}, all.subspan(64, 64), 1000), Block1Placement::kRepeat);
  EXPECT_EQ(block1_place(held, {3, false, 2}, all.subspan(192, 8), 1000).status(),
            Status(Error::kSizeMismatch));  // block 2 is missing
  EXPECT_EQ(*block1_place(held, {2, true, 2}, all.subspan(128, 64), 1000),
            Block1Placement::kAppend);
  // Block 0 of another body starts over.
  const auto other = bytes_of(64, 0x80);
  EXPECT_EQ(*block1_place(held, {0, true, 2}, other, 1000), Block1Placement::kRestart);
}

TEST(Block1Place, RefusesMalformedAndOversizeBlocks) {
  const auto block = bytes_of(64);
  const std::vector<std::uint8_t> none;
  EXPECT_EQ(block1_place(none, {0, true, 1}, block, 1000).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(block1_place(none, {0, true, 3}, block, 1000).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(block1_place(none, {0, false, 2}, {}, 1000).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(block1_place(none, {0, true, 2}, block, 63).status(), Status(Error::kOversize));
  EXPECT_TRUE(block1_place(none, {0, false, 3}, block, 1000).ok());  // a short last block
}

TEST(Upload, SendsEveryBlockAndFinishesOnTheFinalAnswer) {
  Upload upload;
  ASSERT_TRUE(upload.start(150, 2).ok());
  EXPECT_EQ(upload.block(), (BlockOption{0, true, 2}));
  EXPECT_EQ(upload.length(), 64U);
  EXPECT_EQ(*upload.on_answer(kCoapContinue, BlockOption{0, true, 2}), UploadStep::kContinue);
  EXPECT_EQ(upload.offset(), 64U);
  // A lost answer: the same block is sent again, and its answer still fits.
  EXPECT_EQ(upload.block(), (BlockOption{1, true, 2}));
  EXPECT_EQ(*upload.on_answer(kCoapContinue, BlockOption{1, true, 2}), UploadStep::kContinue);
  EXPECT_EQ(upload.block(), (BlockOption{2, false, 2}));
  EXPECT_EQ(upload.length(), 22U);
  EXPECT_EQ(upload.on_answer(kCoapContinue, BlockOption{2, true, 2}).status(),
            Status(Error::kInvalidState));
  EXPECT_EQ(*upload.on_answer(coap_code(2, 4), BlockOption{2, false, 2}), UploadStep::kDone);
  EXPECT_TRUE(upload.done());
  EXPECT_EQ(upload.on_answer(coap_code(2, 4), std::nullopt).status(), Status(Error::kInvalidState));
}

TEST(Upload, FollowsASmallerBlockSizeAndRestartsOn408) {
  Upload upload;
  ASSERT_TRUE(upload.start(300, 3).ok());  // 128-byte blocks
  // The server takes 64 bytes of the first block.
  EXPECT_EQ(*upload.on_answer(kCoapContinue, BlockOption{0, true, 2}), UploadStep::kContinue);
  EXPECT_EQ(upload.block(), (BlockOption{1, true, 2}));
  EXPECT_EQ(upload.on_answer(kCoapContinue, BlockOption{2, true, 2}).status(),
            Status(Error::kInvalidValue));  // names a block that was not sent
  EXPECT_EQ(upload.on_answer(kCoapContinue, BlockOption{0, true, 3}).status(),
            Status(Error::kInvalidValue));  // a larger size than the client sends
  EXPECT_EQ(*upload.on_answer(kCoapRequestEntityIncomplete, std::nullopt), UploadStep::kRestart);
  EXPECT_EQ(upload.offset(), 0U);
  EXPECT_EQ(upload.on_answer(coap_code(4, 4), std::nullopt).status(), Status(Error::kRemoteError));
  EXPECT_EQ(upload.on_answer(coap_code(2, 4), std::nullopt).status(), Status(Error::kInvalidState));
}

TEST(Upload, RefusesAnInvalidStart) {
  Upload upload;
  EXPECT_EQ(upload.start(0, 2), Status(Error::kInvalidValue));
  EXPECT_EQ(upload.start(10, 7), Status(Error::kInvalidValue));
  EXPECT_EQ(upload.on_answer(kCoapContinue, std::nullopt).status(), Status(Error::kInvalidState));
}

}  // namespace
}  // namespace spindle::blockwise
