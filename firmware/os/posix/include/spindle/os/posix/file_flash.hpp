// The native_sim flash: a NOR device kept in a file, with a power-cut fault hook.
//
// Every write and erase reaches the file (pwrite) before it returns, so a node process
// killed with SIGKILL at any moment leaves exactly the flash contents it had produced.
// (There is no fsync: the fault being simulated is the node losing power, not the host.)
//
// Power cuts, for testing that every flash user survives them (the MCUboot way):
// cut_power_after(n) lets n more writes/erases complete; the next one is torn - a write
// programs only its first half (rounded down to whole write blocks), an erase sets only the
// first half of its range to 0xFF - and returns kPowerLoss, and from then on every call
// returns kPowerLoss until open() is called again (the "reboot"). With PowerCutMode::kExit
// the process instead ends with _exit(kPowerCutExitCode) right after the torn operation,
// which is how integration tests cut power in a real node process: they set
//   SPINDLE_FLASH_POWER_CUT_AFTER=<n>
// in its environment, which open() reads and arms in kExit mode.
#pragma once

#include <cstdint>
#include <span>

#include "spindle/os/flash.hpp"
#include "spindle/os/sync.hpp"
#include "spindle/status.hpp"

namespace spindle::os::posix {

// Exit status of a node process whose power was cut in PowerCutMode::kExit.
inline constexpr int kPowerCutExitCode = 86;

// Name of the environment variable read by FileFlash::open().
inline constexpr const char* kPowerCutEnvironmentVariable = "SPINDLE_FLASH_POWER_CUT_AFTER";

enum class PowerCutMode : std::uint8_t {
  kReturnError,  // the torn operation and all later ones return kPowerLoss
  kExit,         // the process exits with kPowerCutExitCode after the torn operation
};

class FileFlash final : public FlashDevice {
 public:
  FileFlash() = default;
  ~FileFlash() override;
  FileFlash(const FileFlash&) = delete;
  FileFlash& operator=(const FileFlash&) = delete;

  // Opens the flash file at `path`, creating it erased (all 0xFF) if absent; creation is
  // atomic (a temporary file renamed into place), so a cut during it leaves no half-made
  // file. Opening again closes the previous file first and restores power: the reboot
  // after a cut. Resets operations() and disarms any power cut, then arms kExit mode if
  // SPINDLE_FLASH_POWER_CUT_AFTER is set.
  // Errors: kInvalidValue if the geometry is inconsistent (zero sizes, `size` not a
  // multiple of `sector_size`, `sector_size` not a multiple of `write_block_size`), if the
  // file exists with another size, or if SPINDLE_FLASH_POWER_CUT_AFTER is not a decimal
  // number; kIoError if the file cannot be created, opened or filled.
  Status open(const char* path, std::uint32_t size, std::uint32_t sector_size,
              std::uint32_t write_block_size);

  // Arms a power cut: `operations` more writes/erases complete, the next one is torn.
  void cut_power_after(std::uint64_t operations, PowerCutMode mode);

  // Writes and erases carried out (or torn) since open().
  std::uint64_t operations() const;

  std::uint32_t size() const override;
  std::uint32_t sector_size() const override;
  std::uint32_t write_block_size() const override;
  // The FlashDevice contract; kInvalidState before open().
  Status read(std::uint32_t offset, std::span<std::uint8_t> out) override;
  Status write(std::uint32_t offset, std::span<const std::uint8_t> data) override;
  Status erase(std::uint32_t offset, std::uint32_t size) override;

 private:
  Status check_ready_locked() const;
  // Counts an operation; true if it is the one to tear.
  bool consume_operation_locked();
  void after_torn_operation_locked();
  Status program_locked(std::uint32_t offset, std::span<const std::uint8_t> data);
  void close_locked();

  mutable Mutex mutex_;  // Zephyr flash drivers serialise callers too
  int fd_ = -1;
  std::uint32_t size_ = 0;
  std::uint32_t sector_size_ = 0;
  std::uint32_t write_block_size_ = 0;
  std::uint64_t operations_ = 0;
  bool cut_armed_ = false;
  std::uint64_t operations_before_cut_ = 0;
  PowerCutMode cut_mode_ = PowerCutMode::kReturnError;
  bool power_lost_ = false;
};

}  // namespace spindle::os::posix
