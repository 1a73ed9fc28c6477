// The model store's state log: snapshots and progress marks in two sectors used in turn.
#include "spindle/modelstore/model_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "scratch_file.hpp"
#include "spindle/os/posix/file_flash.hpp"

namespace spindle::modelstore {
namespace {

constexpr std::uint32_t kSector = 4096;

class ModelStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { reboot(); }

  // Flash: state (2 sectors), slot 0 and slot 1 (4 sectors each).
  void reboot() {
    flash_ = std::make_unique<os::posix::FileFlash>();
    ASSERT_TRUE(flash_->open(path_.c_str(), 10 * kSector, kSector, 4).ok());
    state_ = std::make_unique<os::FlashArea>(*flash_, 0, 2 * kSector);
    slot0_ = std::make_unique<os::FlashArea>(*flash_, 2 * kSector, 4 * kSector);
    slot1_ = std::make_unique<os::FlashArea>(*flash_, 6 * kSector, 4 * kSector);
    store_ = std::make_unique<ModelStore>();
    ASSERT_TRUE(store_->mount(state_.get(), slot0_.get(), slot1_.get()).ok());
  }

  static StoreState numbered(std::uint64_t n) {
    StoreState s;
    s.slots[0].state = registration::SlotState::kActive;
    s.slots[0].set_id("model-" + std::to_string(n));
    s.slots[0].version = n;
    s.slots[0].digest[0] = static_cast<std::uint8_t>(n);
    s.active = 0;
    s.floor_version = n;
    return s;
  }

  spindle::test::ScratchFile scratch_{".flash"};
  const std::filesystem::path path_ = scratch_.path();
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> state_, slot0_, slot1_;
  std::unique_ptr<ModelStore> store_;
};

TEST_F(ModelStoreTest, AFreshStoreIsEmpty) {
  EXPECT_EQ(store_->state().active, kNoSlot);
  EXPECT_EQ(store_->state().slots[0].state, registration::SlotState::kEmpty);
  EXPECT_EQ(store_->payload_capacity(), 3 * kSector);
}

TEST_F(ModelStoreTest, StateSurvivesRebootsAcrossManySectorSwitches) {
  for (std::uint64_t n = 1; n <= 100; ++n) {
    ASSERT_TRUE(store_->commit(numbered(n)).ok());
    if (n % 7 == 0) {
      reboot();
      EXPECT_EQ(store_->state().floor_version, n);
      EXPECT_EQ(store_->state().slots[0].id(), "model-" + std::to_string(n));
    }
  }
  reboot();
  EXPECT_EQ(store_->state().slots[0].version, 100U);
}

// The shadow slot is part of the snapshot; a record that names the active slot as its own
// shadow is not one any encoder writes and does not count.
TEST_F(ModelStoreTest, TheShadowSlotSurvivesAReboot) {
  StoreState s = numbered(1);
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().shadow, kNoSlot);
  s.slots[1].state = registration::SlotState::kVerified;
  s.slots[1].set_id("candidate");
  s.slots[1].version = 2;
  s.shadow = 1;
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().shadow, 1);
  EXPECT_EQ(store_->state().slots[1].id(), "candidate");
  StoreState self = s;
  self.shadow = self.active;
  ASSERT_TRUE(store_->commit(self).ok());
  reboot();
  EXPECT_EQ(store_->state().shadow, 1);  // the record before it stands
  s.shadow = kNoSlot;
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().shadow, kNoSlot);
}

// The same for the slot awaiting activation (docs/firmware/activation.md).
TEST_F(ModelStoreTest, TheAwaitingSlotSurvivesARebootAndIsNeverTheActiveOne) {
  StoreState s = numbered(1);
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().awaiting, kNoSlot);
  s.slots[1].state = registration::SlotState::kVerified;
  s.slots[1].set_id("candidate");
  s.slots[1].version = 2;
  s.awaiting = 1;
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().awaiting, 1);
  EXPECT_EQ(store_->state().shadow, kNoSlot);
  StoreState self = s;
  self.awaiting = self.active;
  ASSERT_TRUE(store_->commit(self).ok());
  reboot();
  EXPECT_EQ(store_->state().awaiting, 1);  // the record before it stands
  s.awaiting = kNoSlot;
  ASSERT_TRUE(store_->commit(s).ok());
  reboot();
  EXPECT_EQ(store_->state().awaiting, kNoSlot);
}

TEST_F(ModelStoreTest, ProgressMarksPersistEveryBlockWithoutRewritingTheSnapshot) {
  StoreState s = numbered(1);
  s.download_slot = 1;
  s.progress.szx = 4;
  s.progress.etag_length = 2;
  s.progress.etag = {1, 2};
  ASSERT_TRUE(store_->commit(s).ok());
  for (std::uint32_t block = 1; block <= 2000; ++block) {
    blockwise::Progress p = s.progress;
    p.next_block = block;
    ASSERT_TRUE(store_->save_progress(p).ok());
  }
  reboot();
  EXPECT_EQ(store_->state().progress.next_block, 2000U);
  EXPECT_EQ(store_->state().progress.etag_length, 2U);
  EXPECT_EQ(store_->state().download_slot, 1);
}

TEST_F(ModelStoreTest, APowerCutDuringAnyWriteKeepsThePreviousOrTheNewState) {
  // Enough commits and marks to switch sectors several times; cut at every operation.
  const auto run = [&](std::uint64_t* completed) -> Status {
    for (std::uint64_t n = 1; n <= 40; ++n) {
      StoreState s = numbered(n);
      s.download_slot = 1;
      s.progress.szx = 4;
      SPINDLE_TRY(store_->commit(s));
      for (std::uint32_t b = 1; b <= 5; ++b) {
        blockwise::Progress p = s.progress;
        p.next_block = b;
        SPINDLE_TRY(store_->save_progress(p));
      }
      *completed = n;
    }
    return kOk;
  };
  std::uint64_t clean = 0;
  ASSERT_TRUE(run(&clean).ok());
  const std::uint64_t total = flash_->operations();
  for (std::uint64_t cut = 0; cut < total; ++cut) {
    SCOPED_TRACE(cut);
    std::filesystem::remove(path_);
    reboot();
    flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
    std::uint64_t completed = 0;
    ASSERT_EQ(run(&completed), Status(Error::kPowerLoss));
    reboot();
    const StoreState& s = store_->state();
    if (s.active == kNoSlot) {
      ASSERT_EQ(completed, 0U);  // nothing was ever committed
      continue;
    }
    // The newest complete commit, or the one being written when the power went.
    ASSERT_TRUE(s.floor_version == completed || s.floor_version == completed + 1)
        << s.floor_version << " after " << completed;
    ASSERT_EQ(s.slots[0].id(), "model-" + std::to_string(s.floor_version));
    ASSERT_LE(s.progress.next_block, 5U);
    // And the store keeps working.
    ASSERT_TRUE(store_->commit(numbered(99)).ok());
    reboot();
    ASSERT_EQ(store_->state().floor_version, 99U);
  }
}

TEST_F(ModelStoreTest, SlotHeaderKeepsTheManifestAndDetectsATornOne) {
  const std::vector<std::uint8_t> manifest(1000, 0x5A);
  ASSERT_TRUE(store_->erase_slot(1, 5000).ok());
  ASSERT_TRUE(store_->write_manifest(1, manifest).ok());
  std::array<std::uint8_t, kMaxManifestBytes> out{};
  const auto read = store_->read_manifest(1, out);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(std::equal(read->begin(), read->end(), manifest.begin(), manifest.end()));
  EXPECT_EQ(store_->read_manifest(0, out).status(), Status(Error::kMalformed));

  ASSERT_TRUE(store_->erase_slot(0, 10).ok());
  flash_->cut_power_after(0, os::posix::PowerCutMode::kReturnError);
  EXPECT_EQ(store_->write_manifest(0, manifest), Status(Error::kPowerLoss));
  reboot();
  EXPECT_EQ(store_->read_manifest(0, out).status(), Status(Error::kMalformed));
}

TEST_F(ModelStoreTest, PayloadTailsShorterThanAWriteBlockArePadded) {
  ASSERT_TRUE(store_->erase_slot(0, 100).ok());
  std::vector<std::uint8_t> data(67);
  for (std::size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<std::uint8_t>(i);
  ASSERT_TRUE(store_->write_payload(0, 0, data).ok());
  std::vector<std::uint8_t> back(67);
  ASSERT_TRUE(store_->read_payload(0, 0, back).ok());
  EXPECT_EQ(back, data);
  EXPECT_EQ(store_->write_payload(0, 3 * kSector - 4, data), Status(Error::kDoesNotFit));
}

}  // namespace
}  // namespace spindle::modelstore
