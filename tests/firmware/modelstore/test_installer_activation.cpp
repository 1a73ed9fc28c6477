// Gated activation (manifest key 14, docs/firmware/activation.md), end to end in one process
// as in test_installer.cpp: a model with an activation condition is downloaded, verified and
// self-tested ahead, waits in the other slot while the running model runs on (across
// reboots), and takes over when its window opens or the machine is idle. Power is cut at
// every flash operation around the wait and the switch.
#include <gtest/gtest.h>

#include "installer_fixture.hpp"
#include "spindle/modelstore/installer.hpp"

namespace spindle::modelstore::test {
namespace {

using decision::Action;

constexpr std::uint64_t kMinute = 60'000;
constexpr std::uint64_t kDay = 1440 * kMinute;
// 2026-01-01 00:00 UTC, a midnight: the clock's minute of the day is the offset from it.
constexpr std::uint64_t kMidnight = 1'767'225'600'000;

class ActivationTest : public InstallerTest {
 protected:
  // 02:00-03:00 UTC.
  static ManifestOptions window_options(bool shadow = false) {
    ManifestOptions options;
    options.shadow = shadow;
    options.activation = {manifest::ActivationMode::kWindow, 120, 60};
    return options;
  }
  static ManifestOptions idle_options() {
    ManifestOptions options;
    options.activation.mode = manifest::ActivationMode::kIdle;
    return options;
  }
  void at(std::uint64_t minute_of_day) {
    conditions_.utc_ms = kMidnight + 3 * kDay + minute_of_day * kMinute;
  }

  // The slot holding `model`, or kNoSlot.
  int slot_of(const Model& model) const {
    for (int slot = 0; slot < 2; ++slot) {
      const SlotInfo& info = state().slots[static_cast<std::size_t>(slot)];
      if (info.version == model.version && info.id() == model.id) return slot;
    }
    return kNoSlot;
  }

  // Checks that `waiting` is verified in the other slot while `running_model` runs.
  void expect_waiting(const Model& running_model, const Model& waiting) {
    EXPECT_EQ(running(), running_model.digest_hex());
    const int slot = slot_of(waiting);
    ASSERT_NE(slot, kNoSlot);
    EXPECT_NE(slot, state().active);
    EXPECT_EQ(state().awaiting, slot);
    EXPECT_EQ(state().slots[static_cast<std::size_t>(slot)].state, SlotState::kVerified);
    EXPECT_TRUE(installer_->awaiting_activation());
  }
};

TEST_F(ActivationTest, OutsideItsWindowTheVerifiedModelWaitsInTheOtherSlotAndSwitchesInside) {
  const Model v1 = make_model("vib-ae", 1, 301);
  const Model v2 = make_model("vib-ae", 2, 302);
  at(60);  // 01:00
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  EXPECT_EQ(reporter_.states(),
            (std::vector<std::string>{"manifest-accepted", "downloading", "downloaded", "verified",
                                      "self-test-passed", "awaiting-activation"}));
  EXPECT_EQ(reporter_.entries.back().detail, "window 02:00-03:00 UTC");
  expect_waiting(v1, v2);

  // Still outside (the end is exclusive; the clock is read, not the day): nothing happens.
  for (const std::uint64_t minute : {119U, 180U, 1439U, 0U}) {
    at(minute);
    ASSERT_TRUE(installer_->poll().ok());
    expect_waiting(v1, v2);
  }
  // The same manifest again is nothing new.
  const int requests = server_.requests_;
  reporter_.entries.clear();
  ASSERT_TRUE(boot().ok());
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"awaiting-activation"}));  // at boot
  EXPECT_EQ(server_.requests_, requests);

  // The window opens: activated from flash without a download, then confirmed as usual.
  at(150);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"activated"}));
  EXPECT_EQ(reporter_.entries.back().detail, "window 02:00-03:00 UTC");
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(state().awaiting, kNoSlot);
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().revert)].id(), "vib-ae");
  ASSERT_TRUE(run_healthy().ok());
  EXPECT_EQ(reporter_.states().back(), "confirmed");
  EXPECT_EQ(server_.requests_, requests);
}

TEST_F(ActivationTest, InsideItsWindowTheModelSwitchesAtOnce) {
  const Model v1 = make_model("vib-ae", 1, 311);
  const Model v2 = make_model("vib-ae", 2, 312);
  at(130);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  EXPECT_EQ(reporter_.states().back(), "activated");
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(state().awaiting, kNoSlot);
}

TEST_F(ActivationTest, WithoutAUtcClockAWindowNeverOpensAndTheRunningModelStays) {
  const Model v1 = make_model("vib-ae", 1, 321);
  const Model v2 = make_model("vib-ae", 2, 322);
  conditions_.has_clock = false;
  at(150);  // the time is there, but the node does not trust it
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  ASSERT_TRUE(installer_->poll().ok());
  expect_waiting(v1, v2);
  conditions_.has_clock = true;
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(running(), v2.digest_hex());
}

TEST_F(ActivationTest, AnIdleActivationWaitsForTheMachineToStandStill) {
  const Model v1 = make_model("vib-ae", 1, 331);
  const Model v2 = make_model("vib-ae", 2, 332);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, idle_options())).ok());
  EXPECT_EQ(reporter_.states().back(), "awaiting-activation");
  EXPECT_EQ(reporter_.entries.back().detail, "machine idle");
  ASSERT_TRUE(installer_->poll().ok());
  expect_waiting(v1, v2);
  conditions_.idle = true;
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(reporter_.states().back(), "activated");
  ASSERT_TRUE(run_healthy().ok());
  EXPECT_EQ(reporter_.states().back(), "confirmed");
}

TEST_F(ActivationTest, ANewerManifestReplacesTheWaitingModel) {
  const Model v1 = make_model("vib-ae", 1, 341);
  const Model v2 = make_model("vib-ae", 2, 342);
  const Model v3 = make_model("vib-ae", 3, 343);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  server_.publish(v3);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v3)).ok());
  EXPECT_EQ(reporter_.entries.front().version, 3U);
  EXPECT_EQ(reporter_.entries[1].version, 2U);
  EXPECT_EQ(status_report::install_state_name(reporter_.entries[1].state),
            std::string("discarded"));
  EXPECT_EQ(running(), v3.digest_hex());
  EXPECT_EQ(state().awaiting, kNoSlot);
}

TEST_F(ActivationTest, ARevertDecisionDoesNotMistakeTheWaitingModelForThePreviousOne) {
  const Model v1 = make_model("vib-ae", 1, 351);
  const Model v2 = make_model("vib-ae", 2, 352);
  const Model v3 = make_model("vib-ae", 3, 353);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  install_confirmed(v2);
  server_.publish(v3);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v3, window_options())).ok());
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_decision(sign_decision(Action::kRevert, v2)).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"decision-rejected"}));
  expect_waiting(v2, v3);
}

TEST_F(ActivationTest, APromoteOfAShadowWithAWindowWaitsWithTheShadowRunning) {
  const Model v1 = make_model("vib-ae", 1, 361);
  const Model v2 = make_model("vib-ae", 2, 362);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options(true))).ok());
  EXPECT_EQ(reporter_.states().back(), "shadowing");  // running in shadow is not gated
  const int shadow = state().shadow;
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_decision(sign_decision(Action::kPromote, v2)).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"awaiting-activation"}));
  EXPECT_EQ(state().awaiting, shadow);
  EXPECT_TRUE(installer_->shadow_running());
  EXPECT_EQ(running(), v1.digest_hex());
  // A reset keeps the promotion waiting, the shadow running beside the active model.
  ASSERT_TRUE(boot().ok());
  EXPECT_EQ(state().awaiting, shadow);
  EXPECT_TRUE(installer_->shadow_running());
  at(125);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"activated"}));
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(state().shadow, kNoSlot);
  EXPECT_FALSE(installer_->shadow_running());
  ASSERT_TRUE(run_healthy().ok());
  EXPECT_EQ(reporter_.states().back(), "confirmed");
}

TEST_F(ActivationTest, ADiscardDropsAShadowWaitingForItsPromotion) {
  const Model v1 = make_model("vib-ae", 1, 371);
  const Model v2 = make_model("vib-ae", 2, 372);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options(true))).ok());
  ASSERT_TRUE(installer_->on_decision(sign_decision(Action::kPromote, v2)).ok());
  ASSERT_TRUE(installer_->on_decision(sign_decision(Action::kDiscard, v2)).ok());
  EXPECT_EQ(reporter_.states().back(), "discarded");
  EXPECT_EQ(state().awaiting, kNoSlot);
  at(125);
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(running(), v1.digest_hex());
}

// ---- power cuts: every flash operation of the wait, then of the switch ----

TEST_F(ActivationTest, APowerCutAtEveryFlashOperationBeforeTheWaitLeavesTheRunningModel) {
  const Model v1 = make_model("vib-ae", 1, 381);
  const Model v2 = make_model("vib-ae", 2, 382);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  const ByteVector manifest = sign_manifest(v2, window_options());
  const auto seen =
      cut_at_every_operation([&] { return installer_->on_manifest(manifest); }, {v1.digest_hex()},
                             [&] {
                               ASSERT_TRUE(installer_->on_manifest(manifest).ok());
                               ASSERT_TRUE(installer_->poll().ok());
                               expect_waiting(v1, v2);
                             });
  EXPECT_GT(seen[0], 0U);
}

TEST_F(ActivationTest, APowerCutAtEveryFlashOperationOfTheSwitchLeavesAValidModel) {
  const Model v1 = make_model("vib-ae", 1, 391);
  const Model v2 = make_model("vib-ae", 2, 392);
  at(60);
  ASSERT_TRUE(boot().ok());
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, window_options())).ok());
  at(150);
  const auto seen = cut_at_every_operation(
      [&] {
        const Status s = installer_->poll();
        return s.ok() ? run_healthy() : s;
      },
      {v1.digest_hex(), v2.digest_hex()},
      [&] {
        // Before the switch the model still waits; the next poll inside the window takes it.
        if (running() == v1.digest_hex() && state().awaiting != kNoSlot) {
          expect_waiting(v1, v2);
        }
        ASSERT_TRUE(installer_->poll().ok());
        ASSERT_TRUE(run_healthy().ok());
        ASSERT_EQ(running(), v2.digest_hex());
        ASSERT_EQ(state().slots[static_cast<std::size_t>(state().active)].state,
                  SlotState::kActive);
      });
  EXPECT_GT(seen[0], 0U);
  EXPECT_GT(seen[1], 0U);
}

}  // namespace
}  // namespace spindle::modelstore::test
