// The node's model-install state machine (docs/delivery.md): from a signed manifest to a
// confirmed model, every step persisted in the ModelStore so that a reset at any point
// leaves a valid model (the old one or the new one) and a download resumes where it
// stopped. A manifest with the shadow role installs a candidate beside the active model
// instead (docs/firmware/shadow.md), which a signed decision (decision.hpp) later promotes
// or discards; a decision can also revert the active model to the one before it.
//
// The Installer runs on the network thread. It reaches the network through a BlockSource,
// the model runtime through a ModelRunner and the gateway's status resource through a
// Reporter, so the same code runs against libcoap on the node and against in-memory
// stand-ins in the unit tests (which also cut power at every flash operation).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/modelstore/model_store.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/board_profile.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/status_report.hpp"
#include "spindle/status.hpp"

namespace spindle::modelstore {

// Fetches one block of a payload: GET `path` with Block2 = `block`. The response's spans
// stay valid until the next fetch. Errors: kTimeout (no answer after retransmissions),
// kUnavailable (the link is down, or the node is stopping), the transport's.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual Result<blockwise::Response> fetch(std::string_view path,
                                            const blockwise::BlockOption& block) = 0;
};

// The model runtime as the installer sees it.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  // Stops scoring with the current model: the model RAM is about to be overwritten.
  virtual void suspend() = 0;
  // Loads the plaintext container (in the model RAM given to the Installer) and checks it
  // against the manifest: input size, every self-test vector bit for bit. Scoring resumes
  // with it on success. Errors: kSelfTestFailed, kSizeMismatch, the runtime's.
  virtual Status load(std::span<const std::uint8_t> container,
                      const manifest::Manifest& manifest) = 0;
  // The same for the shadow (in the shadow RAM given to the Installer): it is scored beside
  // the active model, which keeps running throughout, and never acted upon.
  virtual void suspend_shadow() = 0;
  virtual Status load_shadow(std::span<const std::uint8_t> container,
                             const manifest::Manifest& manifest) = 0;
};

// What a gated activation (manifest key 14, docs/firmware/activation.md) waits for, as the
// node's application knows it. Both are asked from the network thread.
class ActivationConditions {
 public:
  virtual ~ActivationConditions() = default;
  // UTC wall-clock time, milliseconds since the Unix epoch; false when the node has none
  // (a board whose clock has not been set): a window activation then keeps waiting.
  virtual bool utc_now_ms(std::uint64_t* out) = 0;
  // Whether the application reports the machine idle (app/idle_detector.hpp).
  virtual bool machine_idle() = 0;
};

// Receives every transition, in order (the node queues them for /d/{id}/status).
class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void report(const status_report::UpdateReport& report) = 0;
};

struct InstallerConfig {
  std::string_view device_id;
  const board::BoardProfile* board = nullptr;
  std::span<const cose::TrustedKey> trusted_keys;
  std::span<const std::uint8_t> model_kek;  // 16 bytes
  std::uint32_t op_set = 0xFE;              // opcodes the runtime implements (1..7)
  std::size_t feature_count = 0;            // features the node extracts per window
  std::uint8_t preferred_szx = blockwise::kMaxSzx;
  std::uint32_t health_windows = 16;  // scored windows before a new model is confirmed
  std::uint8_t max_trial_boots = 1;   // boots of an unconfirmed model before it is reverted
};

class Installer {
 public:
  // `model_ram` holds the decrypted model while it runs (at least the payload capacity of
  // a slot), `shadow_ram` the shadow's (empty: this node runs no shadow, and refuses shadow
  // manifests as not fitting); both are the Installer's from now on. The store must be
  // mounted. `conditions` answers gated activations (nullptr: none ever holds, so a gated
  // model waits in its slot).
  Installer(const InstallerConfig& config, ModelStore& store, BlockSource& source,
            ModelRunner& runner, Reporter& reporter, std::span<std::uint8_t> model_ram,
            std::span<std::uint8_t> shadow_ram = {}, ActivationConditions* conditions = nullptr);

  // At boot: counts a trial boot of a pending model (reverting past the limit), then
  // decrypts, checks and loads the active model; a model that fails to load is reverted
  // if it was pending. Then the shadow, if there is one; a shadow that does not load is
  // dropped. A model awaiting activation keeps waiting (its signed header is read again for
  // the condition; one that no longer verifies is dropped). Errors: only flash failures (a model
  // that does not load leaves the node running without one and reports why).
  Status boot();

  // A manifest from the gateway (COSE_Sign1 bytes). Checks it, and when it names a model
  // to install, downloads, verifies and activates it before returning; a manifest with an
  // activation condition (key 14) that does not hold yet leaves the verified model waiting
  // in its slot, reported awaiting-activation, for poll() to activate (resuming a
  // download of the same payload). Returns kOk when nothing more is to be done with this
  // manifest (installed, already running, or rejected and reported; the same manifest
  // again is then skipped at once); an error when the attempt stopped short and should be
  // retried later with the same manifest: kTimeout, kUnavailable, kRetriesExhausted,
  // kDigestMismatch (the payload is fetched again), the flash's errors.
  Status on_manifest(std::span<const std::uint8_t> signed_manifest);

  // A signed decision the gateway sent (gateway_request key 4): verified against the
  // trusted keys and this device id, then carried out (docs/firmware/shadow.md): promote
  // makes the shadow the active model, pending its health period, without a download (a
  // shadow whose manifest has an activation condition that does not hold yet is reported
  // awaiting-activation, runs on in shadow, and poll() promotes it when it holds);
  // discard drops the shadow and never installs its version again; revert goes back from
  // the active model to the verified one in the other slot and raises the anti-rollback
  // floor to the reverted version. One that already took effect re-reports its effect; one
  // that fails verification, is for another device, or whose model is not where the
  // action needs it is reported as decision-rejected with the reason. Each distinct
  // decision is handled once (the gateway repeats it until it sees the effect). Returns kOk
  // when the decision is handled; errors (the flash's) mean: retry it later.
  Status on_decision(std::span<const std::uint8_t> signed_decision);

  // Called by the scoring thread for every window the active model scored (ok) or failed.
  void on_window_scored(bool ok);
  // Called by the network thread between requests: confirms a pending model that has been
  // healthy for the health period, reverts one that failed; then, with no model pending,
  // activates a model awaiting activation whose condition holds now (reported activated,
  // then confirmed or rolled back as any install). Errors: the flash's.
  Status poll();

  // What the node reports and attests.
  const StoreState& state() const { return store_.state(); }
  // The payload digest of the active model; false when none is active.
  bool active_digest(crypto::Digest* out) const;
  // Decrypted model loaded and scoring.
  bool running() const { return running_; }
  // A shadow loaded and scoring beside it.
  bool shadow_running() const { return shadow_running_; }
  // A verified model waiting for its activation condition.
  bool awaiting_activation() const { return store_.state().awaiting != kNoSlot; }

 private:
  struct Checked;
  Result<bool> check(std::span<const std::uint8_t> signed_manifest, Checked* out);
  Status install(const Checked& checked, std::span<const std::uint8_t> signed_manifest);
  Status download(int slot, const manifest::Manifest& m,
                  std::span<const std::uint8_t> signed_manifest, bool resume);
  // Verifies, decrypts and self-tests a slot into the model RAM (as the active model) or
  // the shadow RAM.
  Status load_slot(int slot, bool as_shadow = false);
  Status boot_active();
  Status boot_shadow();
  Status boot_awaiting();
  Status revert(Error reason);
  // Leaves the active model for `previous` (a verified slot, or kNoSlot: none), recording
  // the active one as failed; `raise_floor`: a revert the operator decided, after which
  // nothing up to the reverted version installs again.
  Status go_back(int previous, Error reason, bool raise_floor);
  // Drops the shadow from RAM and from the state (one commit); `failed`: never install its
  // version again.
  Status drop_shadow(bool failed);
  Status promote(const decision::Decision& d);
  // Makes the verified `slot` (the inactive one, or the shadow) the active model, pending its
  // health period, in one commit, then loads it from flash; reverts if it does not load.
  Status switch_to(int slot, std::string_view detail);
  // The activation condition in the signed header of `slot`. Errors: the header's and the
  // verifier's.
  Result<manifest::Activation> read_activation(int slot);
  // Whether `activation` holds now.
  bool activation_due(const manifest::Activation& activation);
  // Leaves the verified `slot` waiting for `activation` (one commit) and reports it.
  Status await_activation(int slot, const manifest::Activation& activation,
                          std::string_view detail);
  Status discard(const decision::Decision& d);
  Status revert_to_previous(const decision::Decision& d);
  void report(std::string_view model_id, std::uint64_t version, status_report::InstallState state,
              Error reason, std::string_view detail = {});
  void report_slot(int slot, status_report::InstallState state, Error reason,
                   std::string_view detail = {});

  InstallerConfig config_;
  ModelStore& store_;
  BlockSource& source_;
  ModelRunner& runner_;
  Reporter& reporter_;
  std::span<std::uint8_t> model_ram_;
  std::span<std::uint8_t> shadow_ram_;
  bool running_ = false;
  bool shadow_running_ = false;
  ActivationConditions* conditions_ = nullptr;
  // The condition of the model awaiting activation (the store's `awaiting` slot), read from
  // its signed header when it started waiting or at boot, so poll() need not verify it again.
  manifest::Activation awaiting_activation_{};
  std::atomic<std::uint32_t> healthy_windows_{0};
  std::atomic<bool> runtime_failed_{false};
  // The last manifest handled to the end (installed, already running, or rejected and
  // reported), by digest: a repeated notification or periodic read is not handled again.
  crypto::Digest last_handled_{};
  bool have_handled_ = false;
  // The last decision handled, by digest of its signed bytes: a repeated one is skipped.
  crypto::Digest last_decision_{};
  bool have_decision_ = false;
  // Scratch for a manifest read back from a slot header.
  std::array<std::uint8_t, kMaxManifestBytes> header_scratch_{};
};

}  // namespace spindle::modelstore
