// The node's model store: two model slots and a power-safe state record (docs/delivery.md).
//
// ModelStore is the flash layer only: it keeps the store's state (StoreState) as a log of
// snapshot records in the state partition, and reads and writes the slots. What the state
// means, and in which order it changes, is the Installer's (installer.hpp).
//
// State partition: two sectors used in turn. A sector holds snapshot records (the whole
// StoreState, sequence-numbered, CRC-32) and, after a snapshot, progress marks (8 bytes:
// "the download reached block N"), so a download persists its progress after every block
// without rewriting the snapshot or erasing. When a sector is full the other one is
// erased and a snapshot written there first; the newest valid snapshot (highest sequence
// number), plus the marks behind it, is the state. A torn record fails its check and the
// record before it stands.
//
// Slot: the first sector is the header (magic, manifest length, CRC-32, the signed
// manifest the slot was filled from); the payload follows from the second sector.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/os/flash.hpp"
#include "spindle/protocol/blockwise.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/limits.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/status.hpp"

namespace spindle::modelstore {

inline constexpr int kNoSlot = -1;
// The largest signed manifest a slot header keeps (the header is one sector).
inline constexpr std::size_t kMaxManifestBytes = kMaxSignedManifestSize;

struct SlotInfo {
  registration::SlotState state = registration::SlotState::kEmpty;
  std::array<char, kMaxIdSize + 1> model_id{};  // NUL-terminated; empty when the slot is
  std::uint64_t version = 0;
  std::uint32_t payload_size = 0;
  crypto::Digest digest{};  // the manifest's payload digest

  std::string_view id() const { return model_id.data(); }
  void set_id(std::string_view id);
};

struct StoreState {
  std::array<SlotInfo, kModelSlots> slots{};
  int active = kNoSlot;             // the slot whose model runs
  int revert = kNoSlot;             // the slot to go back to while the active one is pending
  std::uint8_t trial_boots = 0;     // boots of a pending model so far
  std::uint64_t floor_version = 0;  // highest version ever confirmed: nothing at or below
  std::array<char, kMaxIdSize + 1> failed_model_id{};  // the last version that failed
  std::uint64_t failed_version = 0;
  int download_slot = kNoSlot;  // the slot being filled
  blockwise::Progress progress{};
  // The slot whose verified model runs in shadow beside the active one (docs/firmware/
  // shadow.md); never the active slot.
  int shadow = kNoSlot;
  // The verified slot whose model waits for its manifest's activation condition (manifest
  // key 14, docs/firmware/activation.md): the inactive slot holding an active-role candidate,
  // or the shadow slot after a promote decision. Never the active slot.
  int awaiting = kNoSlot;

  int inactive_slot() const { return active == 1 ? 0 : 1; }
};

class ModelStore {
 public:
  // Reads the state (no writes). A store never written is all-empty. Errors: kInvalidValue
  // (areas that are not at least two sectors, slots of different geometry, a sector
  // smaller than a snapshot), the flash's errors.
  Status mount(os::FlashArea* state_area, os::FlashArea* slot0, os::FlashArea* slot1);

  const StoreState& state() const { return state_; }

  // Makes `next` the state: one snapshot record (and an erase of the other sector when the
  // current one is full). On error the previous state stands, in flash and here.
  Status commit(const StoreState& next);
  // Persists the download progress: a progress mark when only next_block moved, else a
  // snapshot. Errors: as commit().
  Status save_progress(const blockwise::Progress& progress);

  // ---- slots ----
  // Bytes of payload a slot holds (its size less the header sector).
  std::uint32_t payload_capacity() const;
  // Erases the header sector and the sectors `payload_size` bytes of payload need.
  Status erase_slot(int slot, std::uint32_t payload_size);
  // Writes the header; the slot must have been erased. Errors: kOversize, the flash's.
  Status write_manifest(int slot, std::span<const std::uint8_t> manifest);
  // Reads the header back into `out`. Errors: kMalformed (no valid header), kBufferTooSmall.
  Result<std::span<const std::uint8_t>> read_manifest(int slot, std::span<std::uint8_t> out);
  // Programs payload bytes at `offset`; a tail shorter than the write block is padded with
  // 0xFF (which leaves erased flash erased). `offset` must be write-block aligned.
  Status write_payload(int slot, std::uint32_t offset, std::span<const std::uint8_t> data);
  Status read_payload(int slot, std::uint32_t offset, std::span<std::uint8_t> out);

  // Record-log statistics, for tests.
  std::uint32_t sector_in_use() const { return sector_; }

 private:
  Status append(std::span<const std::uint8_t> record, bool is_snapshot);
  Status write_snapshot_at(std::uint32_t sector, std::uint32_t offset, const StoreState& state,
                           std::uint32_t seq);
  os::FlashArea* slot_area(int slot) const;

  os::FlashArea* state_area_ = nullptr;
  std::array<os::FlashArea*, kModelSlots> slots_{};
  StoreState state_{};
  std::uint32_t seq_ = 0;       // of the newest snapshot
  std::uint32_t sector_ = 0;    // the sector holding it
  std::uint32_t next_ = 0;      // offset of the first free byte in that sector
  bool sector_usable_ = false;  // false: the next record must go to a fresh sector
};

}  // namespace spindle::modelstore
