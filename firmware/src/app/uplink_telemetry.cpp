// Telemetry: the flash ring's unacknowledged records to /t/{id} in SenML-CBOR batches.
#include "node_state_private.hpp"
#include "spindle/os/log.hpp"
#include "spindle/protocol/content_format.hpp"
#include "spindle/telemetry/reading.hpp"
#include "uplink_private.hpp"

namespace spindle::app::internal {

Result<UplinkOutcome> send_batch(net::CoapClient& client) {
  const NodeConfig& config = *g_state.config;
  std::size_t count = 0;
  {
    os::LockGuard guard(g_state.ring_mutex);
    SPINDLE_TRY_ASSIGN(count, g_state.ring.peek(g_state.batch_entries));
  }
  if (count == 0) return UplinkOutcome::kDone;
  const auto encoded = telemetry::encode_batch(
      config.device_id, {g_state.batch_entries.data(), count}, g_state.datagram);
  if (encoded.status() == Status(Error::kMalformed)) {
    // The oldest record does not decode (e.g. written by other firmware): no gateway will
    // ever take it, so it must not block the ones behind it. Dropped and counted.
    SPINDLE_LOG_ERR(kLog, "dropping an undecodable telemetry record");
    os::LockGuard guard(g_state.ring_mutex);
    SPINDLE_TRY(g_state.ring.acknowledge(g_state.batch_entries[0]));
    g_state.ring.count_dropped(1);
    return UplinkOutcome::kMore;
  }
  SPINDLE_TRY(encoded.status());
  const telemetry::Batch& batch = *encoded;
  const auto answer = post_own(client, "t/", "", content_format::kSenmlCbor, batch.bytes);
  if (!answer.ok()) {
    SPINDLE_LOG_DBG(kLog, "batch of %zu records (seq %u..): %s", batch.entries,
                    telemetry::record_seq(g_state.batch_entries[0]).value(),
                    answer.status().name());
    return answer.status();
  }
  const net::Response& response = *answer;
  take_gateway_request(response);
  const std::uint8_t code_class = response.code_class();
  SPINDLE_LOG_DBG(kLog, "batch of %zu records (seq %u..): %u.%02u", batch.entries,
                  telemetry::record_seq(g_state.batch_entries[0]).value(), code_class,
                  response.code & 31U);
  const std::uint8_t detail = static_cast<std::uint8_t>(response.code & 31U);
  if (code_class == 4 && (detail == 3 || detail == 4)) {
    // 4.03 / 4.04: the gateway does not know us (expired, restarted): register again.
    return UplinkOutcome::kForgotten;
  }
  // 4.00 Bad Request, 4.02 Bad Option, 4.15 Unsupported Content-Format: the gateway refuses
  // these very bytes and resending cannot change that; they are dropped, counted and
  // logged rather than blocking every later reading. Any other error (4.29 Too Many
  // Requests, 5.xx, ...) is temporary: back off and send the same records again.
  const bool refused = code_class == 4 && (detail == 0 || detail == 2 || detail == 15);
  if (refused) {
    char code[8];
    net::format_code(response.code, code);
    SPINDLE_LOG_ERR(kLog, "gateway refused a batch of %zu records with %s; dropping them",
                    batch.entries, code);
  } else if (code_class != 2) {
    return Error::kRemoteError;
  }
  os::LockGuard guard(g_state.ring_mutex);
  for (std::size_t i = 0; i < batch.entries; ++i) {
    SPINDLE_TRY(g_state.ring.acknowledge(g_state.batch_entries[i]));
  }
  if (refused) g_state.ring.count_dropped(static_cast<std::uint32_t>(batch.entries));
  return UplinkOutcome::kMore;
}

bool all_sent() {
  // Every window handed to the work queue has been processed into the ring.
  if (!g_state.sampling_done) return false;
  if (g_state.windows_processed != g_state.windows_submitted) return false;
  os::LockGuard guard(g_state.ring_mutex);
  return g_state.ring.unacknowledged() == 0;
}

}  // namespace spindle::app::internal
