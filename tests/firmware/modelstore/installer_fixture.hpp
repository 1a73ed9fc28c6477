// The installer tests' node: a flash file with the native_sim board's geometry, the real
// pipeline as the model runner, the in-memory BlockServer as the network. Reboots are
// simulated by opening the flash file again and building a new ModelStore and Installer,
// as a reset would.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "delivery_fixture.hpp"
#include "scratch_file.hpp"
#include "spindle/modelstore/installer.hpp"

namespace spindle::modelstore::test {

using registration::SlotState;

inline constexpr std::uint32_t kHealthWindows = 3;

class InstallerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = native_sim_board();
    trusted_key_ = {crypto::as_bytes(kKid), {}};
    ASSERT_TRUE(
        crypto::ec_public_from_private(fixed_private_key(1), &trusted_key_.public_key).ok());
    kek_ = device_kek();
    ASSERT_TRUE(pipeline_.init(board_, {}, 0.0F).ok());
  }

  // A reset: power back, flash reopened, state mounted, active model loaded. Returns what
  // boot() returned.
  Status boot(std::uint8_t szx = 4) {
    installer_.reset();
    store_ = std::make_unique<ModelStore>();
    flash_ = std::make_unique<os::posix::FileFlash>();
    EXPECT_TRUE(flash_
                    ->open(path_.c_str(), board_.flash_bytes, board_.flash_sector_bytes,
                           board_.flash_write_block_bytes)
                    .ok());
    const auto area = [&](board::PartitionId id) {
      const auto& p = board_.partition(id);
      return std::make_unique<os::FlashArea>(*flash_, p.offset, p.size);
    };
    state_area_ = area(board::PartitionId::kState);
    slot0_ = area(board::PartitionId::kSlot0);
    slot1_ = area(board::PartitionId::kSlot1);
    SPINDLE_TRY(store_->mount(state_area_.get(), slot0_.get(), slot1_.get()));
    InstallerConfig config;
    config.device_id = kDevice;
    config.board = &board_;
    config.trusted_keys = {&trusted_key_, 1};
    config.model_kek = kek_;
    config.feature_count = features::feature_count(3);
    config.preferred_szx = szx;  // 256-byte blocks: several blocks even for small models
    config.health_windows = kHealthWindows;
    installer_ = std::make_unique<Installer>(config, *store_, server_, pipeline_, reporter_,
                                             model_ram_, shadow_ram_, &conditions_);
    return installer_->boot();
  }

  // Windows scored by the running model, then a poll: confirms a pending model.
  Status run_healthy() {
    for (std::uint32_t i = 0; i < kHealthWindows; ++i)
      installer_->on_window_scored(true);
    return installer_->poll();
  }

  // The digest of the model the node runs, as hex; "" when none runs.
  std::string running() const {
    crypto::Digest digest{};
    if (!installer_->running() || !installer_->active_digest(&digest)) return "";
    std::string text(64, '\0');
    (void)hex::encode(digest, text);
    return text;
  }
  const StoreState& state() const { return installer_->state(); }

  // Installs and confirms `model` on a node that boots from the current flash.
  void install_confirmed(const Model& model) {
    server_.publish(model);
    ASSERT_TRUE(installer_->on_manifest(sign_manifest(model)).ok());
    ASSERT_TRUE(run_healthy().ok());
    ASSERT_EQ(running(), model.digest_hex());
  }

  // What gated activations see: a settable UTC clock and idle flag.
  struct Conditions final : ActivationConditions {
    bool utc_now_ms(std::uint64_t* out) override {
      *out = utc_ms;
      return has_clock;
    }
    bool machine_idle() override { return idle; }
    bool has_clock = true;
    std::uint64_t utc_ms = 0;
    bool idle = false;
  };

  // Cuts the power at every flash operation `step` makes on the node as the flash is now:
  // after each cut the node boots with an active model among `valid` (digests), and
  // `finish` completes the step from there and checks where it ends. Returns how many cuts
  // left each valid model active.
  std::vector<std::size_t> cut_at_every_operation(const std::function<Status()>& step,
                                                  const std::vector<std::string>& valid,
                                                  const std::function<void()>& finish) {
    const std::filesystem::path baseline = path_.string() + ".base";
    std::filesystem::copy_file(path_, baseline, std::filesystem::copy_options::overwrite_existing);
    std::vector<std::size_t> seen(valid.size(), 0);
    EXPECT_TRUE(boot().ok());
    const std::uint64_t start = flash_->operations();
    EXPECT_TRUE(step().ok());
    const std::uint64_t total = flash_->operations() - start;
    EXPECT_GT(total, 0U);
    for (std::uint64_t cut = 0; cut <= total; ++cut) {
      SCOPED_TRACE(cut);
      std::filesystem::copy_file(baseline, path_,
                                 std::filesystem::copy_options::overwrite_existing);
      EXPECT_TRUE(boot().ok());
      flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
      const Status s = step();
      if (cut < total) {
        EXPECT_EQ(s, Status(Error::kPowerLoss));
      }
      EXPECT_TRUE(boot().ok());  // power returns
      const auto found = std::find(valid.begin(), valid.end(), running());
      EXPECT_NE(found, valid.end()) << "no valid active model";
      if (found != valid.end()) ++seen[static_cast<std::size_t>(found - valid.begin())];
      finish();
      if (::testing::Test::HasFailure()) break;
    }
    std::filesystem::remove(baseline);
    return seen;
  }

  board::BoardProfile board_;
  Conditions conditions_;
  spindle::test::ScratchFile scratch_{".flash"};
  const std::filesystem::path path_ = scratch_.path();
  cose::TrustedKey trusted_key_;
  std::array<std::uint8_t, 16> kek_{};
  app::Pipeline pipeline_;
  BlockServer server_;
  RecordingReporter reporter_;
  std::vector<std::uint8_t> model_ram_ = std::vector<std::uint8_t>(256 * 1024);
  std::vector<std::uint8_t> shadow_ram_ = std::vector<std::uint8_t>(256 * 1024);
  std::unique_ptr<os::posix::FileFlash> flash_;
  std::unique_ptr<os::FlashArea> state_area_, slot0_, slot1_;
  std::unique_ptr<ModelStore> store_;
  std::unique_ptr<Installer> installer_;
};

}  // namespace spindle::modelstore::test
