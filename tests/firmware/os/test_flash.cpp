// FileFlash and FlashArea: NOR semantics, refusals, persistence (also across SIGKILL),
// and power cuts at every operation of a sequence, in-process and in a child process.
#include "spindle/os/flash.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spindle/os/posix/file_flash.hpp"

namespace spindle::os {
namespace {

using posix::FileFlash;
using posix::kPowerCutExitCode;
using posix::PowerCutMode;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint32_t kSize = 16 * 1024;
constexpr std::uint32_t kSector = 4096;
constexpr std::uint32_t kBlock = 4;

Bytes filled(std::size_t size, std::uint8_t value) {
  return Bytes(size, value);
}

Bytes pattern(std::size_t size, std::uint8_t seed) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<std::uint8_t>(seed + i * 7);
  return out;
}

class FlashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = ::testing::TempDir() + "spindle-flash-XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ / "flash.bin";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Status open(FileFlash& flash) { return flash.open(path_.c_str(), kSize, kSector, kBlock); }

  Bytes read(FlashDevice& flash, std::uint32_t offset, std::size_t size) {
    Bytes out(size, 0x5A);
    EXPECT_EQ(flash.read(offset, out), kOk);
    return out;
  }

  Bytes file_bytes() {
    std::ifstream in(path_, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // Runs `child` in a forked process and returns its exit status, or -signal.
  template <typename Child>
  int run_child(Child child) {
    const pid_t pid = fork();
    if (pid == 0) {
      child();
      _exit(0);
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return WEXITSTATUS(status);
  }

  std::filesystem::path dir_;
  std::filesystem::path path_;
};

TEST_F(FlashTest, NewFileIsCreatedErasedWithTheBoardSize) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(flash.size(), kSize);
  EXPECT_EQ(flash.sector_size(), kSector);
  EXPECT_EQ(flash.write_block_size(), kBlock);
  EXPECT_EQ(std::filesystem::file_size(path_), kSize);
  EXPECT_EQ(read(flash, 0, kSize), filled(kSize, 0xFF));
  EXPECT_EQ(flash.operations(), 0u);
}

TEST_F(FlashTest, EraseSetsWholeSectorsTo0xFF) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  ASSERT_EQ(flash.write(0, filled(2 * kSector, 0x00)), kOk);
  ASSERT_EQ(flash.erase(kSector, kSector), kOk);
  EXPECT_EQ(read(flash, 0, kSector), filled(kSector, 0x00));
  EXPECT_EQ(read(flash, kSector, kSector), filled(kSector, 0xFF));
}

TEST_F(FlashTest, WriteCanOnlyClearBits) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  ASSERT_EQ(flash.write(8, Bytes{0xF0, 0x0F, 0xAA, 0xFF}), kOk);
  ASSERT_EQ(flash.write(8, Bytes{0x3C, 0xFF, 0x0F, 0x00}), kOk);
  EXPECT_EQ(read(flash, 8, 4), (Bytes{0x30, 0x0F, 0x0A, 0x00}));
  EXPECT_EQ(read(flash, 4, 4), filled(4, 0xFF));  // neighbours untouched
  EXPECT_EQ(read(flash, 12, 4), filled(4, 0xFF));
}

TEST_F(FlashTest, MisalignedOrOutOfRangeRequestsAreRefusedAndChangeNothing) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  const Bytes block = filled(kBlock, 0x00);
  Bytes out(8);
  EXPECT_EQ(flash.write(2, block), Error::kInvalidValue);            // misaligned offset
  EXPECT_EQ(flash.write(0, filled(3, 0x00)), Error::kInvalidValue);  // partial block
  EXPECT_EQ(flash.write(kSize, block), Error::kInvalidValue);        // past the end
  EXPECT_EQ(flash.write(kSize - kBlock, filled(2 * kBlock, 0)), Error::kInvalidValue);
  EXPECT_EQ(flash.write(0xFFFFFFFC, filled(8, 0)), Error::kInvalidValue);  // wraps around
  EXPECT_EQ(flash.erase(100, kSector), Error::kInvalidValue);              // misaligned offset
  EXPECT_EQ(flash.erase(0, 100), Error::kInvalidValue);                    // partial sector
  EXPECT_EQ(flash.erase(kSize - kSector, 2 * kSector), Error::kInvalidValue);
  EXPECT_EQ(flash.erase(0xFFFFF000, kSector), Error::kInvalidValue);
  EXPECT_EQ(flash.read(kSize - 4, out), Error::kInvalidValue);
  EXPECT_EQ(flash.read(0xFFFFFFFF, out), Error::kInvalidValue);
  EXPECT_EQ(read(flash, 0, kSize), filled(kSize, 0xFF));
  EXPECT_EQ(flash.operations(), 0u);  // refused requests never reach the medium
}

TEST_F(FlashTest, ReadsNeedNoAlignment) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  ASSERT_EQ(flash.write(0, pattern(16, 1)), kOk);
  Bytes out(5);
  ASSERT_EQ(flash.read(3, out), kOk);
  const Bytes expected = pattern(16, 1);
  EXPECT_EQ(out, Bytes(expected.begin() + 3, expected.begin() + 8));
}

TEST_F(FlashTest, OperationsBeforeOpenAreInvalidState) {
  FileFlash flash;
  Bytes out(4);
  EXPECT_EQ(flash.size(), 0u);
  EXPECT_EQ(flash.read(0, out), Error::kInvalidState);
  EXPECT_EQ(flash.write(0, out), Error::kInvalidState);
  EXPECT_EQ(flash.erase(0, kSector), Error::kInvalidState);
}

TEST_F(FlashTest, InconsistentGeometryIsRefused) {
  FileFlash flash;
  EXPECT_EQ(flash.open(path_.c_str(), 0, kSector, kBlock), Error::kInvalidValue);
  EXPECT_EQ(flash.open(path_.c_str(), kSize, 0, kBlock), Error::kInvalidValue);
  EXPECT_EQ(flash.open(path_.c_str(), kSize, kSector, 0), Error::kInvalidValue);
  EXPECT_EQ(flash.open(path_.c_str(), kSize + 1, kSector, kBlock), Error::kInvalidValue);
  EXPECT_EQ(flash.open(path_.c_str(), kSize, kSector, 3), Error::kInvalidValue);
  EXPECT_EQ(flash.open(nullptr, kSize, kSector, kBlock), Error::kInvalidValue);
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(FlashTest, UnwritableLocationIsIoError) {
  FileFlash flash;
  const auto missing = dir_ / "no-such-dir" / "flash.bin";
  EXPECT_EQ(flash.open(missing.c_str(), kSize, kSector, kBlock), Error::kIoError);
}

TEST_F(FlashTest, ContentsPersistAcrossReopen) {
  {
    FileFlash flash;
    ASSERT_EQ(open(flash), kOk);
    ASSERT_EQ(flash.write(kSector, pattern(64, 9)), kOk);
  }
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(read(flash, kSector, 64), pattern(64, 9));
  EXPECT_EQ(read(flash, 0, kSector), filled(kSector, 0xFF));
}

TEST_F(FlashTest, ExistingFileOfAnotherSizeIsRefusedAndKept) {
  {
    FileFlash flash;
    ASSERT_EQ(open(flash), kOk);
    ASSERT_EQ(flash.write(0, pattern(8, 3)), kOk);
  }
  FileFlash flash;
  EXPECT_EQ(flash.open(path_.c_str(), 2 * kSize, kSector, kBlock), Error::kInvalidValue);
  EXPECT_EQ(std::filesystem::file_size(path_), kSize);
  const Bytes kept = file_bytes();
  EXPECT_EQ(Bytes(kept.begin(), kept.begin() + 8), pattern(8, 3));
}

TEST_F(FlashTest, WritesSurviveSigkillRightAfterTheCall) {
  const int status = run_child([this] {
    FileFlash flash;
    if (!open(flash).ok() || !flash.write(256, pattern(32, 5)).ok()) _exit(1);
    kill(getpid(), SIGKILL);
  });
  ASSERT_EQ(status, -SIGKILL);
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(read(flash, 256, 32), pattern(32, 5));
}

TEST_F(FlashTest, OperationsCountsWritesAndErasesSinceOpen) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  Bytes out(4);
  ASSERT_EQ(flash.write(0, filled(4, 0)), kOk);
  ASSERT_EQ(flash.read(0, out), kOk);
  ASSERT_EQ(flash.erase(0, kSector), kOk);
  ASSERT_EQ(flash.write(0, Bytes{}), kOk);  // nothing to program: no operation
  EXPECT_EQ(flash.operations(), 2u);
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(flash.operations(), 0u);
}

// The same NOR rules as the device, in memory, to predict what a torn sequence leaves.
struct NorModel {
  Bytes cells = Bytes(kSize, 0xFF);

  void write(std::uint32_t offset, const Bytes& data, std::size_t length) {
    for (std::size_t i = 0; i < length; ++i)
      cells[offset + i] &= data[i];
  }
  void erase(std::uint32_t offset, std::uint32_t size) {
    std::fill_n(cells.begin() + offset, size, 0xFF);
  }
};

struct Operation {
  bool is_erase;
  std::uint32_t offset;
  Bytes data;          // writes
  std::uint32_t size;  // erases
};

// A short update the way the model store does one: erase, program in pieces, erase the
// state sector, program a record. Odd block counts make "half, rounded down" visible.
std::vector<Operation> update_sequence() {
  return {
      {true, 0, {}, 2 * kSector},
      {false, 0, pattern(5 * kBlock, 11), 0},
      {false, 5 * kBlock, pattern(kSector, 12), 0},
      {true, 3 * kSector, {}, kSector},
      {false, 3 * kSector, pattern(3 * kBlock, 13), 0},
      {false, 3 * kSector + 3 * kBlock, pattern(kBlock, 14), 0},
  };
}

Status apply(FlashDevice& flash, const Operation& op) {
  return op.is_erase ? flash.erase(op.offset, op.size) : flash.write(op.offset, op.data);
}

TEST_F(FlashTest, PowerCutAtEveryOperationLeavesATornButDefinedState) {
  const auto sequence = update_sequence();
  for (std::size_t cut = 0; cut < sequence.size(); ++cut) {
    SCOPED_TRACE("power cut at operation " + std::to_string(cut));
    std::filesystem::remove(path_);
    NorModel model;
    FileFlash flash;
    ASSERT_EQ(open(flash), kOk);
    // Old contents everywhere, so that a torn erase shows.
    ASSERT_EQ(flash.write(0, filled(kSize, 0x00)), kOk);
    model.write(0, filled(kSize, 0x00), kSize);

    flash.cut_power_after(cut, PowerCutMode::kReturnError);
    for (std::size_t i = 0; i < sequence.size(); ++i) {
      const Operation& op = sequence[i];
      const Status status = apply(flash, op);
      if (i < cut) {
        ASSERT_EQ(status, kOk);
        op.is_erase ? model.erase(op.offset, op.size)
                    : model.write(op.offset, op.data, op.data.size());
      } else {
        ASSERT_EQ(status, Error::kPowerLoss);
        if (i == cut) {
          op.is_erase ? model.erase(op.offset, op.size / 2)
                      : model.write(op.offset, op.data, op.data.size() / 2 / kBlock * kBlock);
        }
      }
    }
    // Dead until the reboot: reads fail too, and nothing more is counted.
    Bytes out(4);
    EXPECT_EQ(flash.read(0, out), Error::kPowerLoss);
    EXPECT_EQ(flash.operations(), 1 + 1 + cut);  // the pattern write, the completed, the torn

    ASSERT_EQ(open(flash), kOk);  // reboot
    EXPECT_EQ(read(flash, 0, kSize), model.cells);
    EXPECT_EQ(flash.write(kSize - kBlock, filled(kBlock, 0)), kOk);  // powered again
  }
}

TEST_F(FlashTest, PowerCutInExitModeEndsTheProcessAfterTheTornOperation) {
  const Operation first{false, 0, pattern(8, 21), 0};
  const Operation second{false, kSector, pattern(6 * kBlock, 22), 0};
  const int status = run_child([&] {
    FileFlash flash;
    if (!open(flash).ok()) _exit(1);
    flash.cut_power_after(1, PowerCutMode::kExit);
    if (!apply(flash, first).ok()) _exit(2);
    static_cast<void>(apply(flash, second));
    _exit(3);  // not reached: the cut exits
  });
  ASSERT_EQ(status, kPowerCutExitCode);
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(read(flash, 0, 8), pattern(8, 21));
  const Bytes torn = read(flash, kSector, 6 * kBlock);
  const Bytes expected = pattern(6 * kBlock, 22);
  EXPECT_EQ(Bytes(torn.begin(), torn.begin() + 3 * kBlock),
            Bytes(expected.begin(), expected.begin() + 3 * kBlock));
  EXPECT_EQ(Bytes(torn.begin() + 3 * kBlock, torn.end()), filled(3 * kBlock, 0xFF));
}

TEST_F(FlashTest, EnvironmentVariableArmsAPowerCutInExitMode) {
  const int status = run_child([this] {
    setenv(posix::kPowerCutEnvironmentVariable, "2", 1);
    FileFlash flash;
    if (!open(flash).ok()) _exit(1);
    for (std::uint32_t i = 0; i < 4; ++i) {
      if (!flash.write(i * kBlock, filled(kBlock, 0)).ok()) _exit(2);
    }
    _exit(3);
  });
  ASSERT_EQ(status, kPowerCutExitCode);
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  // Two writes completed; the third was one block, so its torn half programmed nothing.
  EXPECT_EQ(read(flash, 0, 2 * kBlock), filled(2 * kBlock, 0x00));
  EXPECT_EQ(read(flash, 2 * kBlock, 2 * kBlock), filled(2 * kBlock, 0xFF));
}

TEST_F(FlashTest, MalformedPowerCutVariableIsRefused) {
  const int status = run_child([this] {
    setenv(posix::kPowerCutEnvironmentVariable, "12x", 1);
    FileFlash flash;
    _exit(open(flash) == Error::kInvalidValue ? 0 : 1);
  });
  EXPECT_EQ(status, 0);
}

TEST_F(FlashTest, FlashAreaAddressesFromItsOwnStart) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  FlashArea area(flash, kSector, 2 * kSector);
  EXPECT_EQ(area.offset(), kSector);
  EXPECT_EQ(area.size(), 2 * kSector);
  EXPECT_EQ(area.sector_size(), kSector);
  EXPECT_EQ(area.write_block_size(), kBlock);
  ASSERT_EQ(area.write(0, pattern(8, 31)), kOk);
  EXPECT_EQ(read(flash, kSector, 8), pattern(8, 31));
  Bytes out(8);
  ASSERT_EQ(area.read(0, out), kOk);
  EXPECT_EQ(out, pattern(8, 31));
  ASSERT_EQ(flash.write(0, filled(kSize, 0x00)), kOk);
  ASSERT_EQ(area.erase(kSector, kSector), kOk);
  EXPECT_EQ(read(flash, 2 * kSector, kSector), filled(kSector, 0xFF));
  EXPECT_EQ(read(flash, kSector, kSector), filled(kSector, 0x00));
  EXPECT_EQ(read(flash, 3 * kSector, kSector), filled(kSector, 0x00));
}

TEST_F(FlashTest, FlashAreaRefusesToReachPastItsBounds) {
  FileFlash flash;
  ASSERT_EQ(open(flash), kOk);
  FlashArea area(flash, kSector, kSector);
  Bytes out(8);
  EXPECT_EQ(area.write(kSector, filled(kBlock, 0)), Error::kInvalidValue);
  EXPECT_EQ(area.write(kSector - kBlock, filled(2 * kBlock, 0)), Error::kInvalidValue);
  EXPECT_EQ(area.erase(kSector, kSector), Error::kInvalidValue);
  EXPECT_EQ(area.erase(0, 2 * kSector), Error::kInvalidValue);
  EXPECT_EQ(area.read(kSector - 4, out), Error::kInvalidValue);
  EXPECT_EQ(area.read(0xFFFFFFFF, out), Error::kInvalidValue);
  EXPECT_EQ(area.write(2, filled(kBlock, 0)), Error::kInvalidValue);  // device alignment
  EXPECT_EQ(read(flash, 0, kSize), filled(kSize, 0xFF));
}

TEST_F(FlashTest, FlashAreaThatDoesNotFitTheDeviceIsUnusable) {
  FileFlash flash;
  FlashArea early(flash, 0, kSector);
  Bytes out(4);
  EXPECT_EQ(early.read(0, out), Error::kInvalidState);  // device not open yet
  ASSERT_EQ(open(flash), kOk);
  EXPECT_EQ(early.read(0, out), kOk);
  FlashArea beyond(flash, kSize - kSector, 2 * kSector);
  FlashArea misaligned(flash, 512, kSector);
  FlashArea ragged(flash, 0, kSector + 512);
  for (FlashArea* area : {&beyond, &misaligned, &ragged}) {
    EXPECT_EQ(area->read(0, out), Error::kInvalidValue);
    EXPECT_EQ(area->write(0, filled(kBlock, 0)), Error::kInvalidValue);
    EXPECT_EQ(area->erase(0, kSector), Error::kInvalidValue);
  }
}

}  // namespace
}  // namespace spindle::os
