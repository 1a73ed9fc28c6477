#include "spindle/protocol/registration.hpp"

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::registration {
namespace {

enum Key : std::int64_t { kBoard = 1, kFirmware = 2, kSlots = 3, kActiveSlot = 4, kBudgets = 5 };
enum SlotKey : std::int64_t { kSlotState = 1, kSlotModel = 2, kSlotVersion = 3, kSlotDigest = 4 };
enum BudgetKey : std::int64_t { kSram = 1, kArena = 2, kModelFlash = 3, kOpSet = 4 };
constexpr std::size_t kMaxEntries = 16;

Status validate_text(std::string_view text, std::size_t max) {
  if (text.empty()) return Error::kInvalidValue;
  return text.size() <= max ? kOk : Status(Error::kOversize);
}

Status validate(const Registration& reg) {
  SPINDLE_TRY(validate_text(reg.board, kMaxBoardNameSize));
  SPINDLE_TRY(validate_text(reg.firmware_version, kMaxVersionTextSize));
  for (const Slot& slot : reg.slots) {
    if (static_cast<std::uint8_t>(slot.state) > kMaxSlotState) return Error::kInvalidValue;
    if (!slot.digest.empty() && slot.digest.size() != kDigestSize) return Error::kInvalidValue;
    if (!slot.model_id.empty()) SPINDLE_TRY(check_id(slot.model_id));
    // A slot that holds something names what it holds.
    if (slot.state != SlotState::kEmpty && slot.model_id.empty()) return Error::kMissingField;
  }
  if (reg.active_slot != kNoActiveSlot) {
    if (reg.active_slot < 0 || reg.active_slot >= static_cast<int>(kModelSlots)) {
      return Error::kInvalidValue;
    }
    if (reg.slots[static_cast<std::size_t>(reg.active_slot)].state == SlotState::kEmpty) {
      return Error::kInvalidValue;
    }
  }
  return kOk;
}

Status decode_slot(cbor::Reader& r, Slot* slot) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kSlotState: {
        std::uint8_t state = 0;
        SPINDLE_TRY(codec::read_uint_into(r, &state, 0, kMaxSlotState));
        slot->state = static_cast<SlotState>(state);
        return kOk;
      }
      case kSlotModel:
        return codec::read_id(r, &slot->model_id);
      case kSlotVersion:
        return codec::read_uint_into(r, &slot->version);
      case kSlotDigest:
        return codec::read_fixed_bytes(r, kDigestSize, &slot->digest);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kSlotState});
}

Status decode_budgets(cbor::Reader& r, Budgets* b) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kSram:
        return codec::read_uint_into(r, &b->sram_bytes);
      case kArena:
        return codec::read_uint_into(r, &b->arena_bytes);
      case kModelFlash:
        return codec::read_uint_into(r, &b->model_flash_bytes);
      case kOpSet:
        return codec::read_uint_into(r, &b->op_set);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kSram, kArena, kModelFlash, kOpSet});
}

}  // namespace

Result<Registration> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  Registration reg;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kBoard: {
        SPINDLE_TRY_ASSIGN(reg.board, r.read_text(kMaxBoardNameSize));
        return kOk;
      }
      case kFirmware: {
        SPINDLE_TRY_ASSIGN(reg.firmware_version, r.read_text(kMaxVersionTextSize));
        return kOk;
      }
      case kSlots: {
        SPINDLE_TRY_ASSIGN(const std::size_t count, r.read_array(kModelSlots));
        if (count != kModelSlots) return Error::kInvalidValue;
        for (Slot& slot : reg.slots)
          SPINDLE_TRY(decode_slot(r, &slot));
        return kOk;
      }
      case kActiveSlot: {
        SPINDLE_TRY_ASSIGN(const bool none, r.read_null_if_present());
        if (none) return kOk;
        SPINDLE_TRY_ASSIGN(const std::uint64_t slot, codec::read_uint_in(r, 0, kModelSlots - 1));
        reg.active_slot = static_cast<int>(slot);
        return kOk;
      }
      case kBudgets:
        return decode_budgets(r, &reg.budgets);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kBoard, kFirmware, kSlots, kActiveSlot, kBudgets}));
  SPINDLE_TRY(validate(reg));
  return reg;
}

Result<std::span<const std::uint8_t>> encode(const Registration& reg, std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(reg));
  cbor::Writer w(out);
  w.map(5);
  w.uint(kBoard).text(reg.board);
  w.uint(kFirmware).text(reg.firmware_version);
  w.uint(kSlots).array(kModelSlots);
  for (const Slot& slot : reg.slots) {
    const bool named = !slot.model_id.empty();
    const bool digest = !slot.digest.empty();
    w.map(1 + (named ? 2U : 0U) + (digest ? 1U : 0U));
    w.uint(kSlotState).uint(static_cast<std::uint8_t>(slot.state));
    if (named) w.uint(kSlotModel).text(slot.model_id).uint(kSlotVersion).uint(slot.version);
    if (digest) w.uint(kSlotDigest).bytes(slot.digest);
  }
  w.uint(kActiveSlot);
  if (reg.active_slot == kNoActiveSlot) {
    w.null();
  } else {
    w.uint(static_cast<std::uint64_t>(reg.active_slot));
  }
  w.uint(kBudgets).map(4);
  w.uint(kSram).uint(reg.budgets.sram_bytes);
  w.uint(kArena).uint(reg.budgets.arena_bytes);
  w.uint(kModelFlash).uint(reg.budgets.model_flash_bytes);
  w.uint(kOpSet).uint(reg.budgets.op_set);
  return w.finish();
}

}  // namespace spindle::registration
