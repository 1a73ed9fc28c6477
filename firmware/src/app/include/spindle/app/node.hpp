// The node application, the Zephyr way:
//   sensor thread  — fills windows from the sample source (double-buffered), paced to the
//                    sensor rate, and hands each full window to the work queue;
//   work queue     — features and inference, then the reading goes into the flash ring
//                    (durable first) and the network thread is woken;
//   network thread — owns the CoAP client: registers at /rd, refreshes before the lifetime
//                    ends, observes /d/{id}/manifest and installs what it names (the
//                    modelstore Installer), reports every install step and answers
//                    attestation challenges on /d/{id}/status, and sends the ring's
//                    unacknowledged records to /t/{id} in SenML-CBOR batches,
//                    acknowledging each batch the gateway confirmed.
// Nothing heavy runs in a callback; all memory is static.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/net/coap_client.hpp"
#include "spindle/os/flash.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/sensor/sample_source.hpp"
#include "spindle/status.hpp"

namespace spindle::app {

struct NodeConfig {
  std::string_view device_id;
  std::string_view firmware_version;
  net::ClientConfig client;  // gateway URI, PSK
  board::BoardProfile board;
  std::uint32_t lifetime_s = 300;      // registration lifetime
  double speed = 1.0;                  // sensor time per wall time; 0: as fast as possible
  std::uint64_t window_limit = 0;      // stop sampling after this many windows (0: never)
  bool exit_when_sent = false;         // with window_limit: stop once the ring is empty
  std::uint32_t drain_timeout_s = 60;  // how long exit_when_sent waits for the gateway
  std::uint32_t stats_every = 32;      // windows per feature-statistics record
  // Provisioned secrets and trust (docs/delivery.md): the manifest signing keys the node
  // trusts, its model key-encryption key (16 bytes) and attestation key (32 bytes).
  std::span<const cose::TrustedKey> trusted_keys;
  std::span<const std::uint8_t> model_kek;
  std::span<const std::uint8_t> attestation_key;
  std::uint32_t health_windows = 16;  // scored windows before a new model is confirmed
  std::uint8_t block_szx = 6;         // Block2 size asked for: 2^(4+szx) bytes
  // The manifest is observed; it is also read again this often, because notifications
  // are non-confirmable and one lost notification must not leave a deployment unnoticed.
  std::uint32_t manifest_check_s = 60;
  // Development only: a plaintext container run while the model store has no model.
  std::span<const std::uint8_t> model;
  std::string_view model_id;
  std::uint64_t model_version = 0;
  float threshold = 0.0F;
};

struct Platform {
  os::FlashDevice* flash = nullptr;  // sized and shaped like the board's flash
  sensor::SampleSource* source = nullptr;
  // UTC, milliseconds since the Unix epoch (readings' timestamps, maintenance windows of
  // gated activations); nullptr or 0: the board has no time yet.
  std::uint64_t (*wall_clock_ms)() = nullptr;
};

// Runs the node until stop() or, with window_limit and exit_when_sent, until everything is
// sent. Errors at start: kInvalidValue (config), kDoesNotFit (board larger than this
// build), the flash's and the pipeline's errors.
Status run_node(const NodeConfig& config, const Platform& platform);

// Asks a running node to stop (async-signal-safe).
void request_stop();

}  // namespace spindle::app
