// Capture upload: the chunk the work queue filled, to /d/{id}/capture. A lost answer leaves
// the block to send again on the next pass, so progress survives link loss; 4.08 (the
// gateway lost the earlier blocks) starts the chunk over.
#include <cstdio>
#include <optional>
#include <string_view>

#include "node_state_private.hpp"
#include "spindle/os/log.hpp"
#include "spindle/protocol/content_format.hpp"
#include "uplink_private.hpp"

namespace spindle::app::internal {

Status upload_capture(net::CoapClient& client) {
  const NodeConfig& config = *g_state.config;
  const std::span<const std::uint8_t> chunk = g_state.capture.ready_chunk();
  if (chunk.empty()) return kOk;
  if (!g_state.uploading) {
    SPINDLE_TRY(g_state.upload.start(static_cast<std::uint32_t>(chunk.size()), config.block_szx));
    g_state.uploading = true;
  }
  char path[16 + kMaxIdSize];
  std::snprintf(path, sizeof path, "d/%.*s/capture", static_cast<int>(config.device_id.size()),
                config.device_id.data());
  blockwise::Upload& upload = g_state.upload;
  while (!upload.done()) {
    std::array<std::uint8_t, blockwise::kMaxBlockOptionLength> option{};
    SPINDLE_TRY_ASSIGN(const std::size_t option_size,
                       blockwise::encode_block_option(upload.block(), option));
    net::Request request;
    request.method = net::Method::kPost;
    request.path = path;
    request.content_format = content_format::kCbor;
    request.payload = chunk.subspan(upload.offset(), upload.length());
    request.block1 = {option.data(), option_size};
    SPINDLE_TRY_ASSIGN(const net::Response response, client.request(request, kRequestTimeoutMs));
    std::optional<blockwise::BlockOption> echoed;
    if (response.has_block1) {
      const auto decoded =
          blockwise::decode_block_option({response.block1.data(), response.block1_size});
      if (decoded.ok()) echoed = *decoded;
    }
    const auto step = upload.on_answer(response.code, echoed);
    if (step.ok()) continue;
    char code[8];
    net::format_code(response.code, code);
    if (response.code_class() == 5 || response.code == blockwise::coap_code(4, 29)) {
      return Error::kRemoteError;  // temporary: the same block again after a back-off
    }
    const std::string_view diagnostic(reinterpret_cast<const char*>(response.payload.data()),
                                      response.payload_size);
    if (step.status() == Status(Error::kRemoteError)) {
      // Refused for good (unknown or finished capture, a chunk the gateway will not take).
      SPINDLE_LOG_ERR(kLog, "gateway refused capture chunk with %s (%.*s); capture dropped", code,
                      static_cast<int>(diagnostic.size()), diagnostic.data());
      g_state.capture.abandon();
      g_state.uploading = false;
      return kOk;
    }
    // An answer the upload cannot follow (a 2.04 to a block that is not the last, an echo of
    // another block). Sent again from block 0 a few times; a gateway that keeps answering
    // so would otherwise hold the rest of the uplink (telemetry waits behind the chunk).
    g_state.uploading = false;
    if (++g_state.capture_confused_answers >= kMaxConfusedCaptureAnswers) {
      SPINDLE_LOG_ERR(kLog, "capture upload answered %s (%s) %u times; capture dropped", code,
                      step.status().name(), g_state.capture_confused_answers);
      g_state.capture_confused_answers = 0;
      g_state.capture.abandon();
      return kOk;
    }
    SPINDLE_LOG_WRN(kLog, "capture upload answered %s (%s); sending the chunk again", code,
                    step.status().name());
    return Error::kRemoteError;
  }
  g_state.uploading = false;
  g_state.capture_confused_answers = 0;
  g_state.capture.acknowledged();
  const CaptureProgress progress = g_state.capture.progress();
  SPINDLE_LOG_INF(kLog, "capture %llu: %u of %u windows delivered (%u skipped while uploading)",
                  static_cast<unsigned long long>(progress.capture_id),
                  progress.windows_acknowledged, progress.windows_total, progress.windows_skipped);
  return kOk;
}

}  // namespace spindle::app::internal
