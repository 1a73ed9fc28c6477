#include "spindle/modelstore/installer.hpp"

#include <algorithm>
#include <cstdio>

#include "spindle/os/kernel.hpp"
#include "spindle/os/log.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"

namespace spindle::modelstore {
namespace {

constexpr const char* kLog = "install";
using registration::SlotState;
using status_report::InstallState;

// Path of a payload: "m/" and the digest in hex.
using PayloadPath = std::array<char, 2 + 2 * kDigestSize + 1>;

PayloadPath payload_path(std::span<const std::uint8_t> digest) {
  PayloadPath path{};
  path[0] = 'm';
  path[1] = '/';
  (void)hex::encode(digest, {path.data() + 2, path.size() - 2});
  return path;
}

bool same_id(const SlotInfo& slot, std::string_view id) {
  return slot.id() == id;
}

bool same_digest(const SlotInfo& slot, std::span<const std::uint8_t> digest) {
  return digest.size() == slot.digest.size() &&
         std::equal(digest.begin(), digest.end(), slot.digest.begin());
}

// Whether `slot` holds exactly the model a decision names.
bool holds(const StoreState& s, int slot, const decision::Decision& d) {
  if (slot == kNoSlot) return false;
  const SlotInfo& info = s.slots[static_cast<std::size_t>(slot)];
  return info.state != SlotState::kEmpty && same_id(info, d.model_id) &&
         info.version == d.version && same_digest(info, d.payload_digest);
}

// Whether the decision's model is the one the store records as failed (discarded,
// reverted, or failed on its own).
bool recorded_failed(const StoreState& s, const decision::Decision& d) {
  return s.failed_version == d.version && std::string_view(s.failed_model_id.data()) == d.model_id;
}

bool holds_model(const StoreState& s, int slot, const manifest::Manifest& m) {
  if (slot == kNoSlot) return false;
  const SlotInfo& info = s.slots[static_cast<std::size_t>(slot)];
  return same_id(info, m.model_id) && info.version == m.version &&
         same_digest(info, m.payload_digest);
}

bool flash_failure(const Status& s) {
  return s == Status(Error::kPowerLoss) || s == Status(Error::kIoError);
}

// How a report names an activation condition: "window 23:00-02:00 UTC", "machine idle".
using ConditionText = std::array<char, 32>;

ConditionText condition_text(const manifest::Activation& a) {
  ConditionText text{};
  switch (a.mode) {
    case manifest::ActivationMode::kImmediate:
      break;
    case manifest::ActivationMode::kWindow: {
      const unsigned start = a.window_start_min;
      const unsigned end = (start + a.window_length_min) % manifest::kMinutesPerDay;
      std::snprintf(text.data(), text.size(), "window %02u:%02u-%02u:%02u UTC", start / 60,
                    start % 60, end / 60, end % 60);
      break;
    }
    case manifest::ActivationMode::kIdle:
      std::snprintf(text.data(), text.size(), "machine idle");
      break;
  }
  return text;
}

}  // namespace

struct Installer::Checked {
  manifest::Manifest manifest;
};

Installer::Installer(const InstallerConfig& config, ModelStore& store, BlockSource& source,
                     ModelRunner& runner, Reporter& reporter, std::span<std::uint8_t> model_ram,
                     std::span<std::uint8_t> shadow_ram, ActivationConditions* conditions)
    : config_(config),
      store_(store),
      source_(source),
      runner_(runner),
      reporter_(reporter),
      model_ram_(model_ram),
      shadow_ram_(shadow_ram),
      conditions_(conditions) {}

void Installer::report(std::string_view model_id, std::uint64_t version, InstallState state,
                       Error reason, std::string_view detail) {
  status_report::UpdateReport r;
  r.model_id = model_id.empty() ? std::string_view("unknown") : model_id;
  r.version = version;
  r.state = state;
  r.reason = reason;
  r.detail = detail.substr(0, std::min(detail.size(), status_report::kMaxDetailSize));
  SPINDLE_LOG_INF(kLog, "%.*s v%llu: %s (%s)%s%.*s", static_cast<int>(r.model_id.size()),
                  r.model_id.data(), static_cast<unsigned long long>(version),
                  status_report::install_state_name(state), error_name(reason),
                  r.detail.empty() ? "" : " ", static_cast<int>(r.detail.size()), r.detail.data());
  reporter_.report(r);
}

void Installer::report_slot(int slot, InstallState state, Error reason, std::string_view detail) {
  const SlotInfo& info = store_.state().slots[static_cast<std::size_t>(slot)];
  report(info.id(), info.version, state, reason, detail);
}

bool Installer::active_digest(crypto::Digest* out) const {
  const StoreState& s = store_.state();
  if (s.active == kNoSlot || !running_) return false;
  *out = s.slots[static_cast<std::size_t>(s.active)].digest;
  return true;
}

// ---- boot ----

Status Installer::boot() {
  SPINDLE_TRY(boot_active());
  SPINDLE_TRY(boot_shadow());
  return boot_awaiting();
}

Status Installer::boot_active() {
  StoreState s = store_.state();
  if (s.active != kNoSlot &&
      s.slots[static_cast<std::size_t>(s.active)].state == SlotState::kPending) {
    ++s.trial_boots;
    if (s.trial_boots > config_.max_trial_boots) {
      SPINDLE_LOG_WRN(kLog, "the pending model was not confirmed within %u boots",
                      config_.max_trial_boots);
      return revert(Error::kTimeout);
    }
    SPINDLE_TRY(store_.commit(s));
  }
  if (s.active != kNoSlot) {
    const Status loaded = load_slot(s.active);
    if (flash_failure(loaded)) return loaded;
    if (!loaded.ok()) {
      SPINDLE_LOG_ERR(kLog, "the active model does not load: %s", loaded.name());
      SPINDLE_TRY(revert(loaded.error()));
    }
  }
  return kOk;
}

// A model verified before the reset keeps waiting: its condition is read again from its
// signed header (verified, so flash that rotted under it does not activate anything).
Status Installer::boot_awaiting() {
  const StoreState& s = store_.state();
  const int slot = s.awaiting;
  if (slot == kNoSlot) return kOk;
  const auto activation = read_activation(slot);
  if (flash_failure(activation.status())) return activation.status();
  const bool verified = s.slots[static_cast<std::size_t>(slot)].state == SlotState::kVerified;
  if (activation.ok() && verified) {
    awaiting_activation_ = *activation;
    const ConditionText why = condition_text(*activation);
    report_slot(slot, InstallState::kAwaitingActivation, Error::kOk, why.data());
    return kOk;
  }
  const Error reason = activation.ok() ? Error::kInvalidState : activation.status().error();
  SPINDLE_LOG_ERR(kLog, "the model awaiting activation no longer verifies: %s", error_name(reason));
  report_slot(slot, InstallState::kFailed, reason, "awaiting activation");
  StoreState next = s;
  next.awaiting = kNoSlot;
  if (slot != next.shadow) next.slots[static_cast<std::size_t>(slot)].state = SlotState::kFailed;
  return store_.commit(next);
}

Status Installer::boot_shadow() {
  const int shadow = store_.state().shadow;
  if (shadow == kNoSlot) return kOk;
  const Status loaded = load_slot(shadow, true);
  if (loaded.ok() || flash_failure(loaded)) return loaded;
  SPINDLE_LOG_ERR(kLog, "the shadow does not load: %s", loaded.name());
  report_slot(shadow, InstallState::kFailed, loaded.error(), "shadow");
  return drop_shadow(true);
}

Status Installer::drop_shadow(bool failed) {
  StoreState s = store_.state();
  if (s.shadow == kNoSlot) return kOk;
  runner_.suspend_shadow();
  shadow_running_ = false;
  std::fill(shadow_ram_.begin(), shadow_ram_.end(), std::uint8_t{0});  // no plaintext behind
  SlotInfo& slot = s.slots[static_cast<std::size_t>(s.shadow)];
  if (s.awaiting == s.shadow) s.awaiting = kNoSlot;  // a promotion waiting for its condition
  if (failed) {
    // The slot keeps what it held (the next download reuses it) but is never run again,
    // and the version is not installed again.
    slot.state = SlotState::kFailed;
    s.failed_model_id = slot.model_id;
    s.failed_version = std::max(s.failed_version, slot.version);
  }
  s.shadow = kNoSlot;
  return store_.commit(s);
}

// Reverts the active model: back to the previous slot if there is one, else to no model.
Status Installer::revert(Error reason) {
  const StoreState& s = store_.state();
  const bool usable = s.revert != kNoSlot && s.revert != s.shadow &&
                      s.slots[static_cast<std::size_t>(s.revert)].state == SlotState::kVerified;
  return go_back(usable ? s.revert : kNoSlot, reason, false);
}

Status Installer::go_back(int previous, Error reason, bool raise_floor) {
  StoreState s = store_.state();
  const int failed = s.active;
  if (failed == kNoSlot) return kOk;
  SlotInfo& failed_slot = s.slots[static_cast<std::size_t>(failed)];
  failed_slot.state = SlotState::kFailed;
  s.failed_model_id = failed_slot.model_id;
  s.failed_version = std::max(s.failed_version, failed_slot.version);
  // An operator's revert: a replay of the reverted manifest, or of anything older than it,
  // must not install. The previous model still runs below the floor: it is already in
  // flash, verified, and running it is not an installation.
  if (raise_floor) s.floor_version = std::max(s.floor_version, failed_slot.version);
  s.active = previous;
  if (previous != kNoSlot) s.slots[static_cast<std::size_t>(previous)].state = SlotState::kActive;
  s.revert = kNoSlot;
  s.trial_boots = 0;
  runner_.suspend();
  running_ = false;
  SPINDLE_TRY(store_.commit(s));
  report_slot(failed, InstallState::kRolledBack, reason, raise_floor ? "decision" : "");
  if (s.active == kNoSlot) return kOk;
  const Status loaded = load_slot(s.active);
  if (!loaded.ok()) {
    SPINDLE_LOG_ERR(kLog, "the previous model does not load either: %s", loaded.name());
    if (flash_failure(loaded)) return loaded;
    report_slot(s.active, InstallState::kFailed, loaded.error(), "previous model");
  }
  return kOk;
}

// ---- loading: verify, decrypt into RAM, self-test ----

Status Installer::load_slot(int slot, bool as_shadow) {
  SPINDLE_TRY_ASSIGN(const auto signed_manifest, store_.read_manifest(slot, header_scratch_));
  SPINDLE_TRY_ASSIGN(const auto sign1, cose::verify(signed_manifest, config_.trusted_keys));
  SPINDLE_TRY_ASSIGN(const manifest::Manifest m, manifest::decode(sign1.payload));
  if (m.device_id != config_.device_id) return Error::kNotForThisDevice;
  const SlotInfo& info = store_.state().slots[static_cast<std::size_t>(slot)];
  if (m.payload_size != info.payload_size || !same_digest(info, m.payload_digest)) {
    return Error::kMalformed;  // the header does not belong to the recorded download
  }
  const std::span<std::uint8_t> ram = as_shadow ? shadow_ram_ : model_ram_;
  if (m.payload_size > ram.size() || m.payload_size < crypto::kCcmTagSize) {
    return Error::kDoesNotFit;
  }
  crypto::ContentKey key{};
  SPINDLE_TRY(crypto::aes_key_unwrap(config_.model_kek, m.encryption.wrapped_key, key));
  crypto::CcmNonce nonce{};
  std::copy(m.encryption.nonce.begin(), m.encryption.nonce.end(), nonce.begin());

  if (as_shadow) {
    runner_.suspend_shadow();
    shadow_running_ = false;
  } else {
    runner_.suspend();
    running_ = false;
  }
  const std::span<std::uint8_t> payload = ram.first(m.payload_size);
  SPINDLE_TRY(store_.read_payload(slot, 0, payload));
  // The digest of what is in flash, checked again at every load: flash can rot, and the
  // digest is what the node attests.
  if (crypto::Sha256::of(payload) != info.digest) return Error::kDigestMismatch;
  // In place: the plaintext overwrites the ciphertext it came from; the tag stays behind it.
  const Status decrypted = crypto::open_model_payload(key, nonce, m.model_id, payload, payload);
  key.fill(0);
  SPINDLE_TRY(decrypted);
  const std::span<const std::uint8_t> container =
      payload.first(m.payload_size - crypto::kCcmTagSize);
  const Status loaded = as_shadow ? runner_.load_shadow(container, m) : runner_.load(container, m);
  if (!loaded.ok()) {
    std::fill(payload.begin(), payload.end(), std::uint8_t{0});  // no plaintext left behind
    return loaded;
  }
  if (as_shadow) {
    shadow_running_ = true;
  } else {
    running_ = true;
  }
  SPINDLE_LOG_INF(kLog, "running %.*s v%llu from slot %d%s", static_cast<int>(m.model_id.size()),
                  m.model_id.data(), static_cast<unsigned long long>(m.version), slot,
                  as_shadow ? " in shadow" : "");
  return kOk;
}

// ---- manifests ----

Result<bool> Installer::check(std::span<const std::uint8_t> signed_manifest, Checked* out) {
  // Decoded once, before the signature is checked, so that even a rejection for the
  // signature names the model (the labels are only shown, not trusted); the signature
  // covers exactly this payload, so after verify() the decoded manifest is authentic.
  const auto unverified = cose::decode(signed_manifest);
  const auto decoded = unverified.ok() ? manifest::decode(unverified->payload)
                                       : Result<manifest::Manifest>(unverified.status());
  const std::string_view model_id = decoded.ok() ? decoded->model_id : std::string_view();
  const std::uint64_t version = decoded.ok() ? decoded->version : 0;
  const auto reject = [&](Error reason, std::string_view detail) -> Result<bool> {
    report(model_id, version, InstallState::kManifestRejected, reason, detail);
    return false;
  };

  const auto sign1 = cose::verify(signed_manifest, config_.trusted_keys);
  if (!sign1.ok()) return reject(sign1.status().error(), "signature");
  if (!decoded.ok()) return reject(decoded.status().error(), "manifest");
  const manifest::Manifest& m = *decoded;
  if (m.device_id != config_.device_id) return reject(Error::kNotForThisDevice, m.device_id);

  const StoreState& s = store_.state();
  if (s.active != kNoSlot) {
    const SlotInfo& active = s.slots[static_cast<std::size_t>(s.active)];
    if (active.version == m.version && same_id(active, m.model_id) &&
        same_digest(active, m.payload_digest)) {
      return false;  // already running it
    }
    if (m.version <= active.version) return reject(Error::kRollback, "below the active version");
  }
  const bool shadow = m.role == manifest::ManifestRole::kShadow;
  if (shadow && holds_model(s, s.shadow, m)) return false;  // already running it in shadow
  // Verified already and waiting for its activation condition (reported when it started
  // waiting, and again at boot).
  if (!shadow && s.awaiting != s.shadow && holds_model(s, s.awaiting, m)) return false;
  if (m.version <= s.floor_version) return reject(Error::kRollback, "below a confirmed version");
  if (m.version <= s.failed_version) return false;  // failed before, and reported then
  if (shadow && (s.active == kNoSlot || !running_)) {
    return reject(Error::kInvalidState, "no active model to shadow");
  }

  const board::BoardProfile& b = *config_.board;
  char why[status_report::kMaxDetailSize];
  const auto too_big = [&](const char* what, unsigned long long need,
                           unsigned long long have) -> Result<bool> {
    std::snprintf(why, sizeof why, "%s%s %llu > %llu", shadow ? "shadow " : "", what, need, have);
    return reject(Error::kDoesNotFit, why);
  };
  const std::uint32_t capacity = std::min<std::uint32_t>(
      store_.payload_capacity(), static_cast<std::uint32_t>(model_ram_.size()));
  if (m.payload_size > capacity) return too_big("payload", m.payload_size, capacity);
  if (m.requirements.flash_bytes > capacity) {
    return too_big("flash", m.requirements.flash_bytes, capacity);
  }
  if (shadow) {
    // The shadow has memory of its own beside the active model's, which keeps running: the
    // board's shadow arena and the shadow RAM (both smaller than the active model's on the
    // small boards, 0 on a board with no room for a shadow).
    const std::uint32_t shadow_capacity = std::min<std::uint32_t>(
        store_.payload_capacity(), static_cast<std::uint32_t>(shadow_ram_.size()));
    if (shadow_capacity == 0 || b.shadow_arena_bytes == 0) {
      return reject(Error::kDoesNotFit, "this board has no room for a shadow model");
    }
    if (m.payload_size > shadow_capacity) {
      return too_big("payload", m.payload_size, shadow_capacity);
    }
    if (m.requirements.arena_bytes > b.shadow_arena_bytes) {
      return too_big("arena", m.requirements.arena_bytes, b.shadow_arena_bytes);
    }
  } else if (m.requirements.arena_bytes > b.model_arena_bytes) {
    return too_big("arena", m.requirements.arena_bytes, b.model_arena_bytes);
  }
  if ((m.requirements.op_set & ~config_.op_set) != 0) {
    return too_big("op set", m.requirements.op_set, config_.op_set);
  }
  if (m.input.feature_count != config_.feature_count ||
      m.input.sample_rate_hz != b.sensor_rate_hz || m.input.window_length != b.window_length ||
      m.input.axes > b.sensor_axes) {
    std::snprintf(why, sizeof why, "input %u features %u Hz %u samples, board %zu %u Hz %u",
                  m.input.feature_count, m.input.sample_rate_hz, m.input.window_length,
                  config_.feature_count, b.sensor_rate_hz, b.window_length);
    return reject(Error::kDoesNotFit, why);
  }
  crypto::ContentKey key{};
  const Status unwrapped = crypto::aes_key_unwrap(config_.model_kek, m.encryption.wrapped_key, key);
  key.fill(0);
  if (!unwrapped.ok()) return reject(unwrapped.error(), "content key");
  out->manifest = m;
  return true;
}

Status Installer::on_manifest(std::span<const std::uint8_t> signed_manifest) {
  if (signed_manifest.empty()) return kOk;  // nothing deployed
  // The manifest handled last, notified or read again: nothing new to check or report.
  const crypto::Digest digest = crypto::Sha256::of(signed_manifest);
  if (have_handled_ && digest == last_handled_) return kOk;
  Checked checked;
  SPINDLE_TRY_ASSIGN(const bool install_it, check(signed_manifest, &checked));
  const Status done = install_it ? install(checked, signed_manifest) : kOk;
  if (done.ok()) {
    last_handled_ = digest;
    have_handled_ = true;
  }
  return done;
}

Status Installer::install(const Checked& checked, std::span<const std::uint8_t> signed_manifest) {
  const manifest::Manifest& m = checked.manifest;
  StoreState s = store_.state();
  const auto matches = [&](int slot) {
    const SlotInfo& info = s.slots[static_cast<std::size_t>(slot)];
    return slot != s.active && same_id(info, m.model_id) && info.version == m.version &&
           same_digest(info, m.payload_digest) && info.payload_size == m.payload_size;
  };
  int slot = s.download_slot;
  bool downloaded = false;
  bool resume = false;
  if (slot != kNoSlot && matches(slot) &&
      s.slots[static_cast<std::size_t>(slot)].state == SlotState::kDownloading) {
    resume = true;
  } else if (const int other = s.inactive_slot();
             matches(other) &&
             s.slots[static_cast<std::size_t>(other)].state == SlotState::kDownloaded) {
    slot = other;
    downloaded = true;  // complete before a reset; only the checks are left
  } else {
    slot = s.inactive_slot();
    report(m.model_id, m.version, InstallState::kManifestAccepted, Error::kOk);
    if (s.shadow == slot || s.awaiting == slot) {
      // A newer manifest, shadow or not, replaces the shadow or the model awaiting
      // activation: it is dropped first (its slot is the inactive one), without counting it
      // as failed.
      report_slot(slot, InstallState::kDiscarded, Error::kOk, "replaced");
    }
    if (s.shadow == slot) {
      runner_.suspend_shadow();
      shadow_running_ = false;
      std::fill(shadow_ram_.begin(), shadow_ram_.end(), std::uint8_t{0});
      s.shadow = kNoSlot;
    }
    s.awaiting = kNoSlot;
    // The slot stops being anything (a revert target included) before it is erased.
    s.slots[static_cast<std::size_t>(slot)] = SlotInfo{};
    if (s.revert == slot) s.revert = kNoSlot;
    s.download_slot = kNoSlot;
    s.progress = {};
    SPINDLE_TRY(store_.commit(s));
    SPINDLE_TRY(store_.erase_slot(slot, m.payload_size));
    SPINDLE_TRY(store_.write_manifest(slot, signed_manifest));
    SlotInfo& info = s.slots[static_cast<std::size_t>(slot)];
    info.state = SlotState::kDownloading;
    info.set_id(m.model_id);
    info.version = m.version;
    info.payload_size = m.payload_size;
    std::copy(m.payload_digest.begin(), m.payload_digest.end(), info.digest.begin());
    s.download_slot = slot;
    SPINDLE_TRY(store_.commit(s));
  }
  if (!downloaded) {
    report(m.model_id, m.version, InstallState::kDownloading, Error::kOk, resume ? "resumed" : "");
    SPINDLE_TRY(download(slot, m, signed_manifest, resume));
    s = store_.state();
    s.slots[static_cast<std::size_t>(slot)].state = SlotState::kDownloaded;
    s.download_slot = kNoSlot;
    s.progress = {};
    SPINDLE_TRY(store_.commit(s));
    report(m.model_id, m.version, InstallState::kDownloaded, Error::kOk);
  }

  // Verify: signature again (from the slot header), digest of the stored bytes, decrypt,
  // self-tests. The running model is suspended while its RAM is reused; a shadow has RAM
  // of its own and the active model runs on.
  const bool shadow = m.role == manifest::ManifestRole::kShadow;
  const Status loaded = load_slot(slot, shadow);
  if (flash_failure(loaded)) return loaded;
  if (!loaded.ok()) {
    report(m.model_id, m.version, InstallState::kFailed, loaded.error());
    s = store_.state();
    s.slots[static_cast<std::size_t>(slot)].state =
        loaded == Status(Error::kDigestMismatch) ? SlotState::kEmpty : SlotState::kFailed;
    if (loaded != Status(Error::kDigestMismatch)) {
      s.failed_model_id = s.slots[static_cast<std::size_t>(slot)].model_id;
      s.failed_version = std::max(s.failed_version, m.version);
    }
    SPINDLE_TRY(store_.commit(s));
    if (s.active != kNoSlot && !shadow) {
      const Status back = load_slot(s.active);
      if (!back.ok()) SPINDLE_LOG_ERR(kLog, "the running model does not reload: %s", back.name());
    }
    // A digest that fails is a transfer problem: the payload is fetched again later.
    return loaded == Status(Error::kDigestMismatch) ? loaded : kOk;
  }
  report(m.model_id, m.version, InstallState::kVerified, Error::kOk);
  report(m.model_id, m.version, InstallState::kSelfTestPassed, Error::kOk);

  s = store_.state();
  if (shadow) {
    s.slots[static_cast<std::size_t>(slot)].state = SlotState::kVerified;
    s.shadow = slot;
    SPINDLE_TRY(store_.commit(s));
    report(m.model_id, m.version, InstallState::kShadowing, Error::kOk);
    return kOk;
  }
  if (m.activation.mode != manifest::ActivationMode::kImmediate && s.active != kNoSlot &&
      !activation_due(m.activation)) {
    // Gated: verified ahead, the switch waits. The model that ran before the check goes
    // back into the model RAM it lent for the self-tests. (A node with no model running
    // has nothing to keep running: it takes the model at once.)
    SPINDLE_TRY(await_activation(slot, m.activation, {}));
    const Status back = load_slot(s.active);
    if (flash_failure(back)) return back;
    if (!back.ok()) SPINDLE_LOG_ERR(kLog, "the running model does not reload: %s", back.name());
    return kOk;
  }
  if (s.active != kNoSlot) {
    s.slots[static_cast<std::size_t>(s.active)].state = SlotState::kVerified;
  }
  s.revert = s.active;
  s.active = slot;
  s.slots[static_cast<std::size_t>(slot)].state = SlotState::kPending;
  s.trial_boots = 0;
  healthy_windows_ = 0;
  runtime_failed_ = false;
  SPINDLE_TRY(store_.commit(s));
  const ConditionText why = condition_text(m.activation);
  report(m.model_id, m.version, InstallState::kActivated, Error::kOk, why.data());
  return kOk;
}

// ---- gated activation ----

Result<manifest::Activation> Installer::read_activation(int slot) {
  SPINDLE_TRY_ASSIGN(const auto signed_manifest, store_.read_manifest(slot, header_scratch_));
  SPINDLE_TRY_ASSIGN(const auto sign1, cose::verify(signed_manifest, config_.trusted_keys));
  SPINDLE_TRY_ASSIGN(const manifest::Manifest m, manifest::decode(sign1.payload));
  return m.activation;
}

bool Installer::activation_due(const manifest::Activation& activation) {
  switch (activation.mode) {
    case manifest::ActivationMode::kImmediate:
      return true;
    case manifest::ActivationMode::kWindow: {
      std::uint64_t now_ms = 0;
      if (conditions_ == nullptr || !conditions_->utc_now_ms(&now_ms)) return false;
      constexpr std::uint64_t kMsPerMinute = 60'000;
      const auto minute =
          static_cast<std::uint32_t>((now_ms / kMsPerMinute) % manifest::kMinutesPerDay);
      return manifest::window_contains(activation, minute);
    }
    case manifest::ActivationMode::kIdle:
      return conditions_ != nullptr && conditions_->machine_idle();
  }
  return false;
}

Status Installer::await_activation(int slot, const manifest::Activation& activation,
                                   std::string_view detail) {
  StoreState s = store_.state();
  s.slots[static_cast<std::size_t>(slot)].state = SlotState::kVerified;
  s.awaiting = slot;
  SPINDLE_TRY(store_.commit(s));
  awaiting_activation_ = activation;
  const ConditionText why = condition_text(activation);
  char text[status_report::kMaxDetailSize];
  std::snprintf(text, sizeof text, "%s%s%.*s", why.data(), detail.empty() ? "" : ", ",
                static_cast<int>(detail.size()), detail.data());
  report_slot(slot, InstallState::kAwaitingActivation, Error::kOk, text);
  return kOk;
}

Status Installer::switch_to(int slot, std::string_view detail) {
  StoreState s = store_.state();
  const bool from_shadow = s.shadow == slot;
  // One commit turns `slot` into the pending active model and the active model into its
  // revert target: a reset before it leaves the model waiting (or in shadow), after it the
  // trial of the new model, which the health period confirms or reverts as for any install.
  if (s.active != kNoSlot) {
    s.slots[static_cast<std::size_t>(s.active)].state = SlotState::kVerified;
  }
  s.revert = s.active;
  s.active = slot;
  if (from_shadow) s.shadow = kNoSlot;
  if (s.awaiting == slot) s.awaiting = kNoSlot;
  s.slots[static_cast<std::size_t>(slot)].state = SlotState::kPending;
  s.trial_boots = 0;
  if (from_shadow) {
    runner_.suspend_shadow();
    shadow_running_ = false;
    std::fill(shadow_ram_.begin(), shadow_ram_.end(), std::uint8_t{0});
  }
  healthy_windows_ = 0;
  runtime_failed_ = false;
  SPINDLE_TRY(store_.commit(s));
  // From flash into the model RAM: verified, decrypted and self-tested again, no download.
  const Status loaded = load_slot(slot);
  if (flash_failure(loaded)) return loaded;
  if (!loaded.ok()) {
    report_slot(slot, InstallState::kFailed, loaded.error(), detail);
    return revert(loaded.error());
  }
  report_slot(slot, InstallState::kActivated, Error::kOk, detail);
  return kOk;
}

Status Installer::download(int slot, const manifest::Manifest& m,
                           std::span<const std::uint8_t> signed_manifest, bool resume) {
  blockwise::Config config;
  config.preferred_szx = config_.preferred_szx;
  config.expected_size = m.payload_size;
  blockwise::Download download(config);
  const PayloadPath path = payload_path(m.payload_digest);
  const std::string_view path_view(path.data());
  const auto now = [] { return static_cast<std::uint64_t>(os::uptime_ms()); };
  // A download interrupted before its first block was recorded starts at block 0 (the
  // slot is erased already; rewriting the same bytes over a torn block is harmless on NOR).
  resume = resume && store_.state().progress.szx != 0;
  blockwise::Action action =
      resume ? download.step(blockwise::Event::resume(store_.state().progress, now()))
             : download.step(blockwise::Event::start(now()));
  if (resume) {
    SPINDLE_LOG_INF(kLog, "resuming the download at block %u", store_.state().progress.next_block);
  }
  std::array<std::uint8_t, 1024> chunk{};
  for (;;) {
    switch (action.kind) {
      case blockwise::ActionKind::kSendRequest: {
        const auto answer = source_.fetch(path_view, action.request);
        if (answer.ok()) {
          action = download.step(blockwise::Event::received(*answer, now()));
        } else if (answer.status() == Status(Error::kTimeout)) {
          action = download.step(blockwise::Event::timeout(std::max(now(), action.deadline_ms)));
        } else {
          return answer.status();  // progress is persisted: the next attempt resumes
        }
        break;
      }
      case blockwise::ActionKind::kWait: {
        if (action.deadline_ms == 0) return Error::kInvalidState;
        const std::uint64_t t = now();
        if (action.deadline_ms > t) os::sleep_ms(static_cast<std::int64_t>(action.deadline_ms - t));
        action = download.step(blockwise::Event::timeout(std::max(now(), action.deadline_ms)));
        break;
      }
      case blockwise::ActionKind::kRehashStored: {
        const std::uint32_t length = std::min<std::uint32_t>(action.length, chunk.size());
        const std::span<std::uint8_t> part(chunk.data(), length);
        SPINDLE_TRY(store_.read_payload(slot, action.offset, part));
        action = download.step(blockwise::Event::stored_bytes(part, now()));
        break;
      }
      case blockwise::ActionKind::kWriteBlock:
        SPINDLE_TRY(store_.write_payload(slot, action.offset, action.data));
        SPINDLE_TRY(store_.save_progress(action.progress));
        SPINDLE_LOG_DBG(
            kLog, "stored block %u: %u of %u bytes",
            action.offset / blockwise::block_size(action.progress.szx != 0 ? action.progress.szx
                                                                           : config_.preferred_szx),
            action.offset + static_cast<std::uint32_t>(action.data.size()), m.payload_size);
        action = download.step(blockwise::Event::written(now()));
        break;
      case blockwise::ActionKind::kDiscardStored:
        // The representation changed under the transfer: start the slot over.
        SPINDLE_TRY(store_.erase_slot(slot, m.payload_size));
        SPINDLE_TRY(store_.write_manifest(slot, signed_manifest));
        SPINDLE_TRY(store_.save_progress(blockwise::Progress{}));
        action = download.step(blockwise::Event::discarded(now()));
        break;
      case blockwise::ActionKind::kComplete:
        if (action.digest != crypto::Digest{} &&
            std::equal(action.digest.begin(), action.digest.end(), m.payload_digest.begin())) {
          return kOk;
        }
        {
          // Corrupted in transit or in flash: nothing of it is used, the slot starts over.
          report(m.model_id, m.version, InstallState::kFailed, Error::kDigestMismatch, "download");
          StoreState s = store_.state();
          s.slots[static_cast<std::size_t>(slot)] = SlotInfo{};
          s.download_slot = kNoSlot;
          s.progress = {};
          SPINDLE_TRY(store_.commit(s));
        }
        return Error::kDigestMismatch;
      case blockwise::ActionKind::kFail:
        return action.status;
    }
  }
}

// ---- health ----

void Installer::on_window_scored(bool ok) {
  if (ok) {
    ++healthy_windows_;
  } else {
    runtime_failed_ = true;
  }
}

Status Installer::poll() {
  const StoreState& s = store_.state();
  if (s.active == kNoSlot ||
      s.slots[static_cast<std::size_t>(s.active)].state != SlotState::kPending) {
    // Nothing on trial: a model waiting for its condition may take over once it holds.
    if (s.awaiting == kNoSlot || !activation_due(awaiting_activation_)) return kOk;
    const ConditionText why = condition_text(awaiting_activation_);
    char detail[status_report::kMaxDetailSize];
    std::snprintf(detail, sizeof detail, "%s%s", s.awaiting == s.shadow ? "promoted, " : "",
                  why.data());
    return switch_to(s.awaiting, detail);
  }
  if (runtime_failed_) return revert(Error::kInvalidState);
  if (healthy_windows_ < config_.health_windows) return kOk;
  StoreState next = s;
  next.slots[static_cast<std::size_t>(next.active)].state = SlotState::kActive;
  next.floor_version =
      std::max(next.floor_version, next.slots[static_cast<std::size_t>(next.active)].version);
  next.trial_boots = 0;
  // The previous model stays in its slot (verified) until the next download reuses it.
  SPINDLE_TRY(store_.commit(next));
  report_slot(next.active, InstallState::kConfirmed, Error::kOk);
  return kOk;
}

}  // namespace spindle::modelstore

// ---- decisions ----

namespace spindle::modelstore {

Status Installer::on_decision(std::span<const std::uint8_t> signed_decision) {
  if (signed_decision.empty()) return kOk;
  const crypto::Digest digest = crypto::Sha256::of(signed_decision);
  if (have_decision_ && digest == last_decision_) return kOk;  // the gateway repeating it
  // Decoded unverified first only to name the model in a rejection (as check() does).
  const auto unverified = cose::decode(signed_decision);
  const auto named = unverified.ok() ? decision::decode(unverified->payload)
                                     : Result<decision::Decision>(unverified.status());
  const auto reject = [&](Error reason, std::string_view detail) {
    report(named.ok() ? named->model_id : std::string_view(), named.ok() ? named->version : 0,
           InstallState::kDecisionRejected, reason, detail);
    return kOk;
  };
  Status done = kOk;
  const auto verified = decision::verify(signed_decision, config_.trusted_keys);
  if (!verified.ok()) {
    done = reject(verified.status().error(), "signature");
  } else if (verified->device_id != config_.device_id) {
    done = reject(Error::kNotForThisDevice, verified->device_id);
  } else {
    switch (verified->action) {
      case decision::Action::kPromote:
        done = promote(*verified);
        break;
      case decision::Action::kDiscard:
        done = discard(*verified);
        break;
      case decision::Action::kRevert:
        done = revert_to_previous(*verified);
        break;
    }
  }
  if (done.ok()) {
    last_decision_ = digest;
    have_decision_ = true;
  }
  return done;
}

Status Installer::promote(const decision::Decision& d) {
  StoreState s = store_.state();
  if (holds(s, s.active, d)) {
    // Promoted already (before a reset, or the answer was lost): its state now.
    const bool pending = s.slots[static_cast<std::size_t>(s.active)].state == SlotState::kPending;
    report(d.model_id, d.version, pending ? InstallState::kActivated : InstallState::kConfirmed,
           Error::kOk, "promoted");
    return kOk;
  }
  if (!holds(s, s.shadow, d) || !shadow_running_) {
    report(d.model_id, d.version, InstallState::kDecisionRejected, Error::kNotFound,
           "promote: not the shadow");
    return kOk;
  }
  // The shadow's own manifest says when it may take over (a promote decision does not
  // override what the operator signed into it): the shadow runs on until then.
  const auto activation = read_activation(s.shadow);
  if (flash_failure(activation.status())) return activation.status();
  if (!activation.ok()) {
    report(d.model_id, d.version, InstallState::kDecisionRejected, activation.status().error(),
           "promote: the shadow's header");
    return kOk;
  }
  if (!activation_due(*activation)) {
    if (s.awaiting == s.shadow) {
      report_slot(s.shadow, InstallState::kAwaitingActivation, Error::kOk, "promote");
      return kOk;
    }
    return await_activation(s.shadow, *activation, "promote");
  }
  return switch_to(s.shadow, "promoted");
}

Status Installer::discard(const decision::Decision& d) {
  const StoreState& s = store_.state();
  if (holds(s, s.shadow, d)) {
    SPINDLE_TRY(drop_shadow(true));
    report(d.model_id, d.version, InstallState::kDiscarded, Error::kOk);
    return kOk;
  }
  if (!holds(s, s.active, d) && recorded_failed(s, d)) {
    report(d.model_id, d.version, InstallState::kDiscarded, Error::kOk);  // discarded already
    return kOk;
  }
  report(d.model_id, d.version, InstallState::kDecisionRejected, Error::kNotFound,
         holds(s, s.active, d) ? "discard: it is the active model" : "discard: not the shadow");
  return kOk;
}

Status Installer::revert_to_previous(const decision::Decision& d) {
  const StoreState& s = store_.state();
  if (holds(s, s.active, d)) {
    const int previous = s.inactive_slot();
    if (s.shadow == previous || s.awaiting == previous ||
        s.slots[static_cast<std::size_t>(previous)].state != SlotState::kVerified) {
      report(d.model_id, d.version, InstallState::kDecisionRejected, Error::kNotFound,
             "revert: no previous model");
      return kOk;
    }
    return go_back(previous, Error::kOk, true);
  }
  if (recorded_failed(s, d)) {
    // Reverted already (or failed on its own): the floor still rises as the decision says.
    if (s.floor_version < d.version) {
      StoreState next = s;
      next.floor_version = d.version;
      SPINDLE_TRY(store_.commit(next));
    }
    report(d.model_id, d.version, InstallState::kRolledBack, Error::kOk, "decision");
    return kOk;
  }
  report(d.model_id, d.version, InstallState::kDecisionRejected, Error::kNotFound,
         "revert: not the active model");
  return kOk;
}

}  // namespace spindle::modelstore
