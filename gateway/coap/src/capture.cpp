// POST /d/{id}/capture: the chunks of a data capture the operator asked a device for
// (docs/protocol.md "Data capture"), one body or Block1 blocks reassembled here (one
// bounded body per device at a time), stored by the writer as capture_chunk.hpp decides.
#include <spdlog/spdlog.h>

#include "coap_server_private.hpp"
#include "pdu_private.hpp"
#include "spindle/gateway/capture_chunk.hpp"
#include "spindle/gateway/clock.hpp"
#include "spindle/protocol/blockwise.hpp"

namespace spindle::gateway {

void CoapServer::Impl::request_capture(const StoredCapture& capture) {
  const auto kind = capture::kind_from_name(capture.kind);
  if (registry_.find(capture.device_id) == nullptr || !kind.ok()) {
    spdlog::warn("coap: capture {} for unknown device {}", capture.id, capture.device_id);
    return;
  }
  captures_.insert_or_assign(
      capture.device_id,
      capture::Request{static_cast<std::uint64_t>(capture.id), *kind, capture.windows_requested});
}

void CoapServer::Impl::forget_idle_uploads(std::int64_t now) {
  // An abandoned block-wise body: free it.
  std::erase_if(uploads_,
                [now](const auto& entry) { return now - entry.second.last_ms > kTransferIdleMs; });
}

void CoapServer::Impl::handle_capture(DeviceRecord& device, coap_session_t* session,
                                      const coap_pdu_t* request, coap_pdu_t* response) {
  constexpr auto kResource = CoapResource::kCapture;
  if (answer_if_completed(kResource, session, request, response)) return;
  if (!admit(kResource, session, request, &device, response)) return;
  if (content_format_of(request) != content_format::kCbor) {
    metrics_.count_capture_chunk_refused();
    respond(kResource, response, COAP_RESPONSE_CODE_UNSUPPORTED_CONTENT_FORMAT,
            "capture chunk must be content-format 60");
    return;
  }
  const auto payload = payload_of(request);
  coap_opt_iterator_t it;
  const coap_opt_t* option = coap_check_option(request, COAP_OPTION_BLOCK1, &it);
  if (option == nullptr) {
    const auto body =
        accept_body(kResource, request, response, content_format::kCbor, device.id, "capture");
    if (!body) {
      metrics_.count_capture_chunk_refused();
      return;
    }
    store_capture_chunk(device, session, request, response, *body, {});
    return;
  }
  const auto block =
      blockwise::decode_block_option({coap_opt_value(option), coap_opt_length(option)});
  if (!block.ok()) {
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_OPTION, "malformed Block1 option");
    return;
  }
  // Only a device with a capture outstanding may make the gateway hold a partial body.
  if (captures_.find(device.id) == captures_.end()) {
    metrics_.count_capture_chunk_refused();
    uploads_.erase(device.id);
    respond(kResource, response, COAP_RESPONSE_CODE_NOT_FOUND,
            "no capture is outstanding for this device");
    return;
  }
  Upload& upload = uploads_[device.id];
  const auto placement =
      blockwise::block1_place(upload.body, *block, payload, capture::kMaxChunkSize);
  if (!placement.ok()) {
    uploads_.erase(device.id);
    if (placement.status() == Status(Error::kSizeMismatch)) {
      respond(kResource, response, COAP_RESPONSE_CODE_INCOMPLETE,
              "block " + std::to_string(block->num) +
                  " does not follow the blocks held: send the chunk again from block 0");
    } else if (placement.status() == Status(Error::kOversize)) {
      add_uint_option(response, COAP_OPTION_SIZE1,
                      static_cast<std::uint32_t>(capture::kMaxChunkSize));
      respond(kResource, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
              "capture chunk larger than " + std::to_string(capture::kMaxChunkSize) + " bytes");
    } else {
      respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
              std::string("Block1: ") + placement.status().name());
    }
    return;
  }
  if (*placement == blockwise::Block1Placement::kRestart) upload.body.clear();
  if (*placement != blockwise::Block1Placement::kRepeat) {
    upload.body.insert(upload.body.end(), payload.begin(), payload.end());
  }
  upload.last_ms = now_ms();
  std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> echo{};
  const auto echo_size = blockwise::encode_block_option(*block, echo);
  Bytes echoed(echo.begin(), echo.begin() + (echo_size.ok() ? *echo_size : 0));
  if (block->more) {
    coap_add_option(response, COAP_OPTION_BLOCK1, echoed.size(), echoed.data());
    respond(kResource, response, COAP_RESPONSE_CODE_CONTINUE, "");
    return;
  }
  const Bytes body = std::move(upload.body);
  uploads_.erase(device.id);
  store_capture_chunk(device, session, request, response, body, std::move(echoed));
}

void CoapServer::Impl::store_capture_chunk(const DeviceRecord& device, coap_session_t* session,
                                           const coap_pdu_t* request, coap_pdu_t* response,
                                           std::span<const std::uint8_t> body,
                                           Bytes block1_option) {
  constexpr auto kResource = CoapResource::kCapture;
  const auto chunk = capture::decode(body);
  if (!chunk.ok()) {
    metrics_.count_capture_chunk_refused();
    record_event(device.id, "bad-capture", chunk.status().name());
    respond(kResource, response, COAP_RESPONSE_CODE_BAD_REQUEST,
            std::string("capture chunk: ") + chunk.status().name());
    return;
  }
  const capture::ChunkHeader& h = chunk->header;
  StoredCaptureChunk stored;
  stored.capture_id = static_cast<std::int64_t>(h.capture_id);
  stored.sequence = h.sequence;
  stored.first_window = h.first_window;
  stored.window_count = h.window_count;
  stored.board = std::string(h.board);
  stored.sample_rate_hz = h.sample_rate_hz;
  stored.window_length = h.window_length;
  stored.axes = h.axes;
  stored.feature_count = h.feature_count;
  stored.data.assign(chunk->data.begin(), chunk->data.end());
  stored.received_ms = now_ms();
  // Decided inside the write, against the stored capture; answered from it.
  struct Written {
    ChunkDecision decision;
    StoredCapture capture;  // as it is after the chunk (kStored, kDuplicate)
  };
  auto result = std::make_shared<Written>();
  const std::string kind = capture::kind_name(h.kind);
  const std::uint32_t total = h.total_windows;
  write_then_reply(
      kResource, session, request, response,
      [id = device.id, stored = std::move(stored), kind, total, result](Store& store) -> Status {
        const auto found = store.get_capture(stored.capture_id);
        if (!found.ok() && found.status() != Status(Error::kNotFound)) return found.status();
        const StoredCapture* capture = found.ok() ? &*found : nullptr;
        if (auto refused = check_capture_chunk(capture, id, kind, total, stored)) {
          result->decision = std::move(*refused);
          return kOk;
        }
        SPINDLE_TRY_ASSIGN(result->decision,
                           capture_chunk_added(*capture, store.add_capture_chunk(stored)));
        if (result->decision.outcome == ChunkOutcome::kFinished) return kOk;
        SPINDLE_TRY_ASSIGN(result->capture, store.get_capture(stored.capture_id));
        if (result->decision.outcome == ChunkOutcome::kStored &&
            result->capture.state == CaptureState::kComplete) {
          SPINDLE_TRY(store.append_event(id, "capture-complete",
                                         "capture " + std::to_string(capture->id) + ": " +
                                             std::to_string(result->capture.windows_received) +
                                             " " + kind + " windows",
                                         stored.received_ms));
        }
        return kOk;
      },
      [this, id = device.id, capture_id = h.capture_id, windows = h.window_count, result,
       block1_option = std::move(block1_option)](Status status, PendingReply& reply) {
        reply.block1 = block1_option;
        if (reply.failed(status)) return;
        const std::string name = "capture " + std::to_string(capture_id);
        const ChunkOutcome outcome = result->decision.outcome;
        switch (outcome) {
          case ChunkOutcome::kStored:
          case ChunkOutcome::kDuplicate: {
            if (outcome == ChunkOutcome::kStored) {
              metrics_.count_capture_chunk_stored(windows);
            } else {
              metrics_.count_capture_chunk_duplicate();
            }
            reply.code = COAP_RESPONSE_CODE_CHANGED;
            const bool finished = result->capture.state != CaptureState::kRequested &&
                                  result->capture.state != CaptureState::kCollecting;
            const auto outstanding = captures_.find(id);
            if (finished && outstanding != captures_.end() &&
                outstanding->second.capture_id == capture_id) {
              captures_.erase(outstanding);
              if (outcome == ChunkOutcome::kStored) metrics_.count_capture_completed();
              spdlog::info("coap: {} of {} complete ({} windows)", name, id,
                           result->capture.windows_received);
            }
            return;
          }
          case ChunkOutcome::kUnknown:
            reply.code = COAP_RESPONSE_CODE_NOT_FOUND;
            reply.diagnostic = name + " is unknown";
            break;
          case ChunkOutcome::kOtherDevice:
            reply.code = COAP_RESPONSE_CODE_FORBIDDEN;
            reply.diagnostic = name + " belongs to another device";
            break;
          case ChunkOutcome::kFinished:
            reply.code = COAP_RESPONSE_CODE_CONFLICT;
            reply.diagnostic = result->decision.detail;
            break;
          case ChunkOutcome::kMismatch:
            reply.code = COAP_RESPONSE_CODE_BAD_REQUEST;
            reply.diagnostic = result->decision.detail;
            break;
        }
        metrics_.count_capture_chunk_refused();
      });
}

}  // namespace spindle::gateway
