// The registration body a node POSTs to /rd?ep={id}&lt={s} (protocol/cddl/registration.cddl):
// what it is, what it runs and what it can hold. The device id travels in the query and
// as the DTLS PSK identity, not in the body.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/protocol/limits.hpp"
#include "spindle/status.hpp"

namespace spindle::registration {

enum class SlotState : std::uint8_t {
  kEmpty = 0,
  kDownloading = 1,
  kDownloaded = 2,  // complete, digest not yet checked
  kVerified = 3,    // digest, signature and self-test passed
  kActive = 4,      // running and confirmed
  kPending = 5,     // running, waiting for the health period to confirm
  kFailed = 6,
};
inline constexpr std::uint8_t kMaxSlotState = 6;

struct Slot {
  SlotState state = SlotState::kEmpty;
  std::string_view model_id;  // empty when the slot is empty
  std::uint64_t version = 0;
  std::span<const std::uint8_t> digest;  // empty, or 32 bytes
};

struct Budgets {
  std::uint32_t sram_bytes = 0;
  std::uint32_t arena_bytes = 0;        // largest model arena the node can give
  std::uint32_t model_flash_bytes = 0;  // size of one model slot
  std::uint32_t op_set = 0;             // bit i set: the runtime implements opcode i
};

inline constexpr int kNoActiveSlot = -1;

struct Registration {
  std::string_view board;
  std::string_view firmware_version;
  std::array<Slot, kModelSlots> slots{};
  int active_slot = kNoActiveSlot;  // 0, 1 or kNoActiveSlot
  Budgets budgets;
};

// Errors: kBufferTooSmall; kInvalidValue / kOversize for content the decoder would refuse.
Result<std::span<const std::uint8_t>> encode(const Registration& registration,
                                             std::span<std::uint8_t> out);

// Errors: the CBOR reader's, kMissingField, kDuplicateKey, kUnknownCriticalField,
// kOversize, kInvalidValue (slot state out of range, active slot not 0/1/null, a digest
// not 32 bytes, an active slot that is empty).
Result<Registration> decode(std::span<const std::uint8_t> input);

}  // namespace spindle::registration
