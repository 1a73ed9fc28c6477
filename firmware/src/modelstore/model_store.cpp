#include "spindle/modelstore/model_store.hpp"

#include <algorithm>
#include <cstring>

#include "spindle/support/crc32.hpp"
#include "spindle/support/little_endian.hpp"

namespace spindle::modelstore {
namespace {

using support::crc32_update;
using support::load16;
using support::load32;
using support::load64;
using support::store16;
using support::store32;
using support::store64;

// ---- Record layouts (little-endian) ----
constexpr std::array<std::uint8_t, 4> kSnapshotMagic = {'S', 'P', 'S', '1'};
constexpr std::uint32_t kSnapshotSize = 256;
constexpr std::uint32_t kSlotRecordSize = 80;  // state, 3 reserved, size, version, id, digest
constexpr std::uint32_t kSlotsOffset = 8;
constexpr std::uint32_t kTailOffset = kSlotsOffset + kModelSlots * kSlotRecordSize;  // 168
constexpr std::uint32_t kFloorOffset = kTailOffset + 4;
constexpr std::uint32_t kFailedVersionOffset = kFloorOffset + 8;
constexpr std::uint32_t kFailedIdOffset = kFailedVersionOffset + 8;
constexpr std::uint32_t kProgressOffset = kFailedIdOffset + kMaxIdSize;  // 220
// The shadow slot, plus one: records written before shadows existed hold 0 there (none).
constexpr std::uint32_t kShadowOffset = kProgressOffset + sizeof(blockwise::Progress);  // 236
// The slot awaiting activation, plus one, the same way: older records read as "none".
constexpr std::uint32_t kAwaitingOffset = kShadowOffset + 1;
constexpr std::uint32_t kCrcOffset = kSnapshotSize - 4;
static_assert(kAwaitingOffset + 1 <= kCrcOffset);

constexpr std::uint8_t kMarkType = 'P';
constexpr std::uint32_t kMarkSize = 8;  // type, szx, next_block (4), check (2)

constexpr std::array<std::uint8_t, 4> kHeaderMagic = {'S', 'P', 'M', 'H'};
constexpr std::uint32_t kHeaderFieldsSize = 16;  // magic, length, crc, reserved

std::uint8_t slot_byte(int slot) {
  return slot == kNoSlot ? 0xFF : static_cast<std::uint8_t>(slot);
}
int slot_from_byte(std::uint8_t b) {
  return b < kModelSlots ? b : kNoSlot;
}
void copy_id(std::uint8_t* out, const std::array<char, kMaxIdSize + 1>& id) {
  std::memset(out, 0, kMaxIdSize);
  std::memcpy(out, id.data(), std::strlen(id.data()));
}
void load_id(const std::uint8_t* in, std::array<char, kMaxIdSize + 1>* id) {
  id->fill('\0');
  std::memcpy(id->data(), in, kMaxIdSize);
}

void encode_snapshot(const StoreState& s, std::uint32_t seq,
                     std::array<std::uint8_t, kSnapshotSize>& out) {
  out.fill(0);
  std::copy(kSnapshotMagic.begin(), kSnapshotMagic.end(), out.begin());
  store32(&out[4], seq);
  for (std::size_t i = 0; i < kModelSlots; ++i) {
    std::uint8_t* p = &out[kSlotsOffset + i * kSlotRecordSize];
    const SlotInfo& slot = s.slots[i];
    p[0] = static_cast<std::uint8_t>(slot.state);
    store32(p + 4, slot.payload_size);
    store64(p + 8, slot.version);
    copy_id(p + 16, slot.model_id);
    std::copy(slot.digest.begin(), slot.digest.end(), p + 48);
  }
  out[kTailOffset] = slot_byte(s.active);
  out[kTailOffset + 1] = slot_byte(s.revert);
  out[kTailOffset + 2] = s.trial_boots;
  out[kTailOffset + 3] = slot_byte(s.download_slot);
  store64(&out[kFloorOffset], s.floor_version);
  store64(&out[kFailedVersionOffset], s.failed_version);
  copy_id(&out[kFailedIdOffset], s.failed_model_id);
  std::uint8_t* p = &out[kProgressOffset];
  store32(p, s.progress.next_block);
  p[4] = s.progress.szx;
  p[5] = s.progress.etag_length;
  std::copy(s.progress.etag.begin(), s.progress.etag.end(), p + 8);
  out[kShadowOffset] = s.shadow == kNoSlot ? 0 : static_cast<std::uint8_t>(s.shadow + 1);
  out[kAwaitingOffset] = s.awaiting == kNoSlot ? 0 : static_cast<std::uint8_t>(s.awaiting + 1);
  store32(&out[kCrcOffset], crc32_update(0, {out.data(), kCrcOffset}));
}

// False when the record fails its check or holds values no encoder writes.
bool decode_snapshot(const std::array<std::uint8_t, kSnapshotSize>& in, StoreState* s,
                     std::uint32_t* seq) {
  if (!std::equal(kSnapshotMagic.begin(), kSnapshotMagic.end(), in.begin())) return false;
  if (load32(&in[kCrcOffset]) != crc32_update(0, {in.data(), kCrcOffset})) return false;
  *seq = load32(&in[4]);
  for (std::size_t i = 0; i < kModelSlots; ++i) {
    const std::uint8_t* p = &in[kSlotsOffset + i * kSlotRecordSize];
    if (p[0] > registration::kMaxSlotState) return false;
    SlotInfo& slot = s->slots[i];
    slot.state = static_cast<registration::SlotState>(p[0]);
    slot.payload_size = load32(p + 4);
    slot.version = load64(p + 8);
    load_id(p + 16, &slot.model_id);
    std::copy(p + 48, p + 48 + kDigestSize, slot.digest.begin());
  }
  s->active = slot_from_byte(in[kTailOffset]);
  s->revert = slot_from_byte(in[kTailOffset + 1]);
  s->trial_boots = in[kTailOffset + 2];
  s->download_slot = slot_from_byte(in[kTailOffset + 3]);
  s->floor_version = load64(&in[kFloorOffset]);
  s->failed_version = load64(&in[kFailedVersionOffset]);
  load_id(&in[kFailedIdOffset], &s->failed_model_id);
  const std::uint8_t* p = &in[kProgressOffset];
  s->progress = {};
  s->progress.next_block = load32(p);
  s->progress.szx = p[4];
  s->progress.etag_length = p[5];
  if (s->progress.etag_length > blockwise::kMaxEtagLength) return false;
  std::copy(p + 8, p + 8 + blockwise::kMaxEtagLength, s->progress.etag.begin());
  const std::uint8_t shadow = in[kShadowOffset];
  if (shadow > kModelSlots) return false;
  s->shadow = shadow == 0 ? kNoSlot : shadow - 1;
  // A shadow runs beside the active model, never in its slot.
  if (s->shadow != kNoSlot && s->shadow == s->active) return false;
  const std::uint8_t awaiting = in[kAwaitingOffset];
  if (awaiting > kModelSlots) return false;
  s->awaiting = awaiting == 0 ? kNoSlot : awaiting - 1;
  // What waits to be activated is never what is active already.
  if (s->awaiting != kNoSlot && s->awaiting == s->active) return false;
  return true;
}

std::uint16_t mark_check(const std::uint8_t* mark) {
  return static_cast<std::uint16_t>(crc32_update(0, {mark, 6}));
}

bool all_erased(std::span<const std::uint8_t> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0xFF; });
}

}  // namespace

void SlotInfo::set_id(std::string_view id) {
  model_id.fill('\0');
  std::memcpy(model_id.data(), id.data(), std::min(id.size(), kMaxIdSize));
}

Status ModelStore::mount(os::FlashArea* state_area, os::FlashArea* slot0, os::FlashArea* slot1) {
  if (state_area == nullptr || slot0 == nullptr || slot1 == nullptr) return Error::kInvalidValue;
  const std::uint32_t sector = state_area->sector_size();
  const std::uint32_t block = state_area->write_block_size();
  if (sector < 2 * kSnapshotSize || state_area->size() < 2 * sector || block == 0 ||
      kMarkSize % block != 0 || slot0->size() != slot1->size() || slot0->size() < 2 * sector) {
    return Error::kInvalidValue;
  }
  state_area_ = state_area;
  slots_ = {slot0, slot1};
  state_ = {};
  seq_ = 0;
  sector_ = 1;  // with nothing valid, the first commit erases and starts sector 0
  next_ = sector;
  sector_usable_ = false;
  bool found = false;
  for (std::uint32_t s = 0; s < 2; ++s) {
    const std::uint32_t base = s * sector;
    std::uint32_t offset = 0;
    bool newest_here = false;  // the newest snapshot so far is in this sector
    bool usable = true;
    while (offset + kMarkSize <= sector) {
      std::array<std::uint8_t, kMarkSize> head{};
      SPINDLE_TRY(state_area->read(base + offset, head));
      if (all_erased(head)) break;
      if (std::equal(kSnapshotMagic.begin(), kSnapshotMagic.end(), head.begin())) {
        if (offset + kSnapshotSize > sector) {
          usable = false;
          break;
        }
        std::array<std::uint8_t, kSnapshotSize> record{};
        SPINDLE_TRY(state_area->read(base + offset, record));
        StoreState candidate;
        std::uint32_t seq = 0;
        const bool valid = decode_snapshot(record, &candidate, &seq);
        if (valid && (!found || seq > seq_)) {
          found = true;
          state_ = candidate;
          seq_ = seq;
          newest_here = true;
        } else if (valid) {
          newest_here = false;
        }
        offset += kSnapshotSize;  // a torn record is skipped whole
      } else if (head[0] == kMarkType) {
        if (mark_check(head.data()) == load16(&head[6]) && newest_here &&
            state_.download_slot != kNoSlot && head[1] == state_.progress.szx) {
          state_.progress.next_block = load32(&head[2]);
        }
        offset += kMarkSize;
      } else {
        usable = false;  // not a record of ours: never append behind it
        break;
      }
    }
    if (newest_here) {
      sector_ = s;
      next_ = offset;
      sector_usable_ = usable;
    }
  }
  return kOk;
}

Status ModelStore::write_snapshot_at(std::uint32_t sector, std::uint32_t offset,
                                     const StoreState& state, std::uint32_t seq) {
  std::array<std::uint8_t, kSnapshotSize> record{};
  encode_snapshot(state, seq, record);
  return state_area_->write(sector * state_area_->sector_size() + offset, record);
}

Status ModelStore::commit(const StoreState& next) {
  if (state_area_ == nullptr) return Error::kInvalidState;
  const std::uint32_t sector_size = state_area_->sector_size();
  if (sector_usable_ && next_ + kSnapshotSize <= sector_size) {
    SPINDLE_TRY(write_snapshot_at(sector_, next_, next, seq_ + 1));
    next_ += kSnapshotSize;
  } else {
    // The other sector is erased and takes the snapshot; until that write is complete the
    // current sector's newest record stands.
    const std::uint32_t other = 1 - sector_;
    SPINDLE_TRY(state_area_->erase(other * sector_size, sector_size));
    SPINDLE_TRY(write_snapshot_at(other, 0, next, seq_ + 1));
    sector_ = other;
    next_ = kSnapshotSize;
    sector_usable_ = true;
  }
  ++seq_;
  state_ = next;
  return kOk;
}

Status ModelStore::save_progress(const blockwise::Progress& progress) {
  if (state_area_ == nullptr || state_.download_slot == kNoSlot) return Error::kInvalidState;
  blockwise::Progress same = state_.progress;
  same.next_block = progress.next_block;
  if (same == progress && sector_usable_ && next_ + kMarkSize <= state_area_->sector_size()) {
    std::array<std::uint8_t, kMarkSize> mark{};
    mark[0] = kMarkType;
    mark[1] = progress.szx;
    store32(&mark[2], progress.next_block);
    store16(&mark[6], mark_check(mark.data()));
    SPINDLE_TRY(state_area_->write(sector_ * state_area_->sector_size() + next_, mark));
    next_ += kMarkSize;
    state_.progress = progress;
    return kOk;
  }
  StoreState next = state_;
  next.progress = progress;
  return commit(next);
}

// ---- slots ----

os::FlashArea* ModelStore::slot_area(int slot) const {
  return slot == 0 || slot == 1 ? slots_[static_cast<std::size_t>(slot)] : nullptr;
}

std::uint32_t ModelStore::payload_capacity() const {
  return slots_[0] == nullptr ? 0 : slots_[0]->size() - slots_[0]->sector_size();
}

Status ModelStore::erase_slot(int slot, std::uint32_t payload_size) {
  os::FlashArea* area = slot_area(slot);
  if (area == nullptr) return Error::kInvalidValue;
  if (payload_size > payload_capacity()) return Error::kDoesNotFit;
  const std::uint32_t sector = area->sector_size();
  const std::uint32_t payload_sectors = (payload_size + sector - 1) / sector;
  return area->erase(0, (1 + payload_sectors) * sector);
}

Status ModelStore::write_manifest(int slot, std::span<const std::uint8_t> manifest) {
  os::FlashArea* area = slot_area(slot);
  if (area == nullptr || manifest.empty()) return Error::kInvalidValue;
  if (manifest.size() > kMaxManifestBytes ||
      kHeaderFieldsSize + manifest.size() > area->sector_size()) {
    return Error::kOversize;
  }
  std::array<std::uint8_t, kHeaderFieldsSize + kMaxManifestBytes + 8> header{};
  header.fill(0xFF);
  std::copy(kHeaderMagic.begin(), kHeaderMagic.end(), header.begin());
  store32(&header[4], static_cast<std::uint32_t>(manifest.size()));
  store32(&header[8], crc32_update(0, manifest));
  store32(&header[12], 0);
  std::copy(manifest.begin(), manifest.end(), header.begin() + kHeaderFieldsSize);
  const std::uint32_t block = area->write_block_size();
  const std::size_t length =
      (kHeaderFieldsSize + manifest.size() + block - 1) / block * static_cast<std::size_t>(block);
  if (length > header.size()) return Error::kOversize;
  return area->write(0, {header.data(), length});
}

Result<std::span<const std::uint8_t>> ModelStore::read_manifest(int slot,
                                                                std::span<std::uint8_t> out) {
  os::FlashArea* area = slot_area(slot);
  if (area == nullptr) return Error::kInvalidValue;
  std::array<std::uint8_t, kHeaderFieldsSize> fields{};
  SPINDLE_TRY(area->read(0, fields));
  const std::uint32_t length = load32(&fields[4]);
  if (!std::equal(kHeaderMagic.begin(), kHeaderMagic.end(), fields.begin()) || length == 0 ||
      length > kMaxManifestBytes) {
    return Error::kMalformed;
  }
  if (length > out.size()) return Error::kBufferTooSmall;
  SPINDLE_TRY(area->read(kHeaderFieldsSize, out.first(length)));
  if (crc32_update(0, out.first(length)) != load32(&fields[8])) return Error::kMalformed;
  return std::span<const std::uint8_t>(out.first(length));
}

Status ModelStore::write_payload(int slot, std::uint32_t offset,
                                 std::span<const std::uint8_t> data) {
  os::FlashArea* area = slot_area(slot);
  if (area == nullptr) return Error::kInvalidValue;
  if (static_cast<std::uint64_t>(offset) + data.size() > payload_capacity()) {
    return Error::kDoesNotFit;
  }
  const std::uint32_t block = area->write_block_size();
  const std::uint32_t base = area->sector_size() + offset;
  const std::size_t whole = data.size() / block * block;
  if (whole > 0) SPINDLE_TRY(area->write(base, data.first(whole)));
  if (whole < data.size()) {
    std::array<std::uint8_t, 64> tail{};
    if (block > tail.size()) return Error::kInvalidValue;
    std::fill(tail.begin(), tail.end(), 0xFF);
    std::copy(data.begin() + static_cast<std::ptrdiff_t>(whole), data.end(), tail.begin());
    SPINDLE_TRY(area->write(base + static_cast<std::uint32_t>(whole), {tail.data(), block}));
  }
  return kOk;
}

Status ModelStore::read_payload(int slot, std::uint32_t offset, std::span<std::uint8_t> out) {
  os::FlashArea* area = slot_area(slot);
  if (area == nullptr) return Error::kInvalidValue;
  if (static_cast<std::uint64_t>(offset) + out.size() > payload_capacity()) {
    return Error::kInvalidValue;
  }
  return area->read(area->sector_size() + offset, out);
}

}  // namespace spindle::modelstore
