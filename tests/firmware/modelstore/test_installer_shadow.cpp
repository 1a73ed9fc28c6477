// The installer's shadow models and signed decisions (docs/firmware/shadow.md), end to end
// in one process as in test_installer.cpp: real manifests, decisions, payloads, flash file
// and runtime; only the network is in memory. Power is cut at every flash operation of a
// shadow install, a promote, a discard and a revert.
#include <gtest/gtest.h>

#include <functional>

#include "installer_fixture.hpp"
#include "spindle/modelstore/installer.hpp"

namespace spindle::modelstore::test {
namespace {

using decision::Action;

class ShadowTest : public InstallerTest {
 protected:
  // A node running `active` (confirmed) and `candidate` in shadow.
  void shadow_beside(const Model& active, const Model& candidate) {
    ASSERT_TRUE(boot().ok());
    install_confirmed(active);
    server_.publish(candidate);
    ASSERT_TRUE(installer_->on_manifest(sign_manifest(candidate, shadow_options())).ok());
    ASSERT_EQ(shadow(), candidate.digest_hex());
  }

  static ManifestOptions shadow_options() {
    ManifestOptions options;
    options.shadow = true;
    return options;
  }

  // The digest of the model running in shadow, as hex; "" when none is.
  std::string shadow() const {
    const StoreState& s = state();
    if (!installer_->shadow_running() || s.shadow == kNoSlot) return "";
    std::string text(64, '\0');
    (void)hex::encode(s.slots[static_cast<std::size_t>(s.shadow)].digest, text);
    return text;
  }

  Status decide(Action action, const Model& model, const DecisionOptions& options = {}) {
    return installer_->on_decision(sign_decision(action, model, options));
  }
};

TEST_F(ShadowTest, AShadowInstallsBesideTheActiveModelAndSurvivesAReboot) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 101);
  const Model v2 = make_model("vib-ae", 2, 102);
  install_confirmed(v1);
  server_.publish(v2);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
  EXPECT_EQ(reporter_.states(),
            (std::vector<std::string>{"manifest-accepted", "downloading", "downloaded", "verified",
                                      "self-test-passed", "shadowing"}));
  EXPECT_EQ(running(), v1.digest_hex());  // the active model ran on throughout
  EXPECT_EQ(shadow(), v2.digest_hex());
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().active)].state, SlotState::kActive);
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().shadow)].state, SlotState::kVerified);
  EXPECT_EQ(state().floor_version, 1U);  // a shadow is not confirmed

  // The same manifest again is nothing to do; a reset reloads both.
  const std::size_t reports = reporter_.entries.size();
  ASSERT_TRUE(boot().ok());
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
  EXPECT_EQ(reporter_.entries.size(), reports);
  EXPECT_EQ(running(), v1.digest_hex());
  EXPECT_EQ(shadow(), v2.digest_hex());
}

TEST_F(ShadowTest, AShadowIsHeldToTheVersionFloorAndNeedsAnActiveModel) {
  ASSERT_TRUE(boot().ok());
  const Model lonely = make_model("vib-ae", 1, 111);
  server_.publish(lonely);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(lonely, shadow_options())).ok());
  EXPECT_EQ(reporter_.states().back(), "manifest-rejected");
  EXPECT_EQ(reporter_.entries.back().reason, Error::kInvalidState);
  EXPECT_EQ(running(), "");
  EXPECT_EQ(shadow(), "");

  const Model v2 = make_model("vib-ae", 2, 112);
  install_confirmed(v2);
  const Model old = make_model("vib-ae", 1, 113);
  server_.publish(old);
  const int requests = server_.requests_;
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(old, shadow_options())).ok());
  EXPECT_EQ(reporter_.states().back(), "manifest-rejected");
  EXPECT_EQ(reporter_.entries.back().reason, Error::kRollback);
  EXPECT_EQ(shadow(), "");
  EXPECT_EQ(server_.requests_, requests);
}

TEST_F(ShadowTest, AShadowBeyondTheBoardsBudgetIsRefusedWithTheNumbers) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 121);
  install_confirmed(v1);
  const Model v2 = make_model("vib-ae", 2, 122, 32);
  server_.publish(v2);
  const int requests = server_.requests_;

  ManifestOptions big_arena = shadow_options();
  big_arena.arena_bytes = board_.model_arena_bytes + 1;
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, big_arena)).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.states()[0], "manifest-rejected");
  EXPECT_EQ(reporter_.entries[0].reason, Error::kDoesNotFit);
  EXPECT_EQ(reporter_.entries[0].detail, "shadow arena 65537 > 65536");

  // A node whose shadow RAM is smaller than the candidate's payload.
  shadow_ram_.assign(2048, 0);
  ASSERT_TRUE(boot().ok());
  ASSERT_GT(v2.payload.size(), 2048U);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.entries[0].reason, Error::kDoesNotFit);
  EXPECT_EQ(reporter_.entries[0].detail,
            "shadow payload " + std::to_string(v2.payload.size()) + " > 2048");
  EXPECT_EQ(server_.requests_, requests);  // nothing was downloaded
  EXPECT_EQ(running(), v1.digest_hex());
  EXPECT_EQ(shadow(), "");
}

TEST_F(ShadowTest, ASmallBoardsShadowBudgetIsItsOwnAndABoardWithoutOneRefusesEveryShadow) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 123);
  install_confirmed(v1);
  const Model v2 = make_model("vib-ae", 2, 124, 32);
  server_.publish(v2);
  const int requests = server_.requests_;
  // A board whose shadow arena is a quarter of the active one: a candidate that would run as
  // the active model is refused as a shadow, with the shadow's numbers.
  board_.shadow_arena_bytes = board_.model_arena_bytes / 4;
  ASSERT_TRUE(boot().ok());
  ManifestOptions options = shadow_options();
  options.arena_bytes = board_.shadow_arena_bytes + 1;
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, options)).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.entries[0].reason, Error::kDoesNotFit);
  EXPECT_EQ(reporter_.entries[0].detail, "shadow arena 16385 > 16384");
  // A board with no room for a shadow at all.
  board_.shadow_arena_bytes = 0;
  board_.shadow_model_ram_bytes = 0;
  shadow_ram_.clear();
  ASSERT_TRUE(boot().ok());
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.entries[0].reason, Error::kDoesNotFit);
  EXPECT_EQ(reporter_.entries[0].detail, "this board has no room for a shadow model");
  EXPECT_EQ(server_.requests_, requests);  // nothing was downloaded
  EXPECT_EQ(running(), v1.digest_hex());
}

TEST_F(ShadowTest, PromoteActivatesTheShadowWithoutADownloadAndConfirmsIt) {
  const Model v1 = make_model("vib-ae", 1, 131);
  const Model v2 = make_model("vib-ae", 2, 132);
  shadow_beside(v1, v2);
  const int old_slot = state().active;
  const int requests = server_.requests_;
  reporter_.entries.clear();
  ASSERT_TRUE(decide(Action::kPromote, v2).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"activated"}));
  EXPECT_EQ(server_.requests_, requests);  // no fetch
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(shadow(), "");
  EXPECT_EQ(state().shadow, kNoSlot);
  EXPECT_EQ(state().revert, old_slot);
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().active)].state, SlotState::kPending);
  ASSERT_TRUE(run_healthy().ok());
  EXPECT_EQ(reporter_.states().back(), "confirmed");
  EXPECT_EQ(state().floor_version, 2U);

  // The gateway repeats the decision until it sees the effect: handled once per boot (the
  // node remembers the last decision in RAM); after a reset it is answered with the state
  // it produced, once.
  reporter_.entries.clear();
  ASSERT_TRUE(decide(Action::kPromote, v2).ok());
  EXPECT_TRUE(reporter_.entries.empty());
  ASSERT_TRUE(boot().ok());
  ASSERT_TRUE(decide(Action::kPromote, v2).ok());
  ASSERT_TRUE(decide(Action::kPromote, v2).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"confirmed"}));
  EXPECT_EQ(running(), v2.digest_hex());
  EXPECT_EQ(server_.requests_, requests);
}

TEST_F(ShadowTest, APromotedModelThatFailsItsHealthPeriodIsRevertedToThePreviousOne) {
  const Model v1 = make_model("vib-ae", 1, 141);
  const Model v2 = make_model("vib-ae", 2, 142);
  shadow_beside(v1, v2);
  ASSERT_TRUE(decide(Action::kPromote, v2).ok());
  installer_->on_window_scored(false);
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(reporter_.states().back(), "rolled-back");
  EXPECT_EQ(running(), v1.digest_hex());
}

TEST_F(ShadowTest, DiscardDropsTheShadowAndItsManifestIsNotInstalledAgain) {
  const Model v1 = make_model("vib-ae", 1, 151);
  const Model v2 = make_model("vib-ae", 2, 152);
  shadow_beside(v1, v2);
  reporter_.entries.clear();
  ASSERT_TRUE(decide(Action::kDiscard, v2).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"discarded"}));
  EXPECT_EQ(shadow(), "");
  EXPECT_EQ(state().shadow, kNoSlot);
  EXPECT_EQ(running(), v1.digest_hex());
  ASSERT_TRUE(boot().ok());
  EXPECT_EQ(shadow(), "");

  // A replay of the shadow manifest: not downloaded, not run.
  const int requests = server_.requests_;
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
  EXPECT_EQ(server_.requests_, requests);
  EXPECT_EQ(shadow(), "");
  for (const auto& state : reporter_.states())
    EXPECT_NE(state, "shadowing");
  // The repeated decision is answered with its effect, once.
  reporter_.entries.clear();
  ASSERT_TRUE(decide(Action::kDiscard, v2).ok());
  ASSERT_TRUE(decide(Action::kDiscard, v2).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"discarded"}));
  // And a newer candidate still installs in shadow.
  const Model v3 = make_model("vib-ae", 3, 153);
  server_.publish(v3);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v3, shadow_options())).ok());
  EXPECT_EQ(shadow(), v3.digest_hex());
}

TEST_F(ShadowTest, AnActiveManifestReplacesTheShadow) {
  const Model v1 = make_model("vib-ae", 1, 161);
  const Model v2 = make_model("vib-ae", 2, 162);
  shadow_beside(v1, v2);
  const Model v3 = make_model("vib-ae", 3, 163);
  server_.publish(v3);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v3)).ok());
  ASSERT_GE(reporter_.entries.size(), 2U);
  EXPECT_EQ(reporter_.states()[0], "manifest-accepted");
  EXPECT_EQ(reporter_.entries[1].model_id, "vib-ae");
  EXPECT_EQ(reporter_.entries[1].version, 2U);
  EXPECT_EQ(reporter_.states()[1], "discarded");
  EXPECT_EQ(reporter_.states().back(), "activated");
  EXPECT_EQ(running(), v3.digest_hex());
  EXPECT_EQ(state().shadow, kNoSlot);
  EXPECT_EQ(shadow(), "");
}

TEST_F(ShadowTest, RevertGoesBackToThePreviousModelAndRaisesTheFloor) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 171);
  const Model v2 = make_model("vib-ae", 2, 172);
  install_confirmed(v1);
  install_confirmed(v2);
  reporter_.entries.clear();
  ASSERT_TRUE(decide(Action::kRevert, v2).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.states()[0], "rolled-back");
  EXPECT_EQ(reporter_.entries[0].version, 2U);
  EXPECT_EQ(running(), v1.digest_hex());
  EXPECT_GE(state().floor_version, 2U);
  EXPECT_EQ(state().failed_version, 2U);
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().active)].state, SlotState::kActive);
  ASSERT_TRUE(boot().ok());  // the previous model runs below the floor, also after a reset
  EXPECT_EQ(running(), v1.digest_hex());

  // Replays: the reverted manifest is refused, the old one is what runs, and the decision
  // again only re-reports its effect, without touching flash.
  const int requests = server_.requests_;
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2)).ok());
  ASSERT_EQ(reporter_.entries.size(), 1U);
  EXPECT_EQ(reporter_.states()[0], "manifest-rejected");
  EXPECT_EQ(reporter_.entries[0].reason, Error::kRollback);
  reporter_.entries.clear();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v1)).ok());
  EXPECT_TRUE(reporter_.entries.empty());
  const StoreState before = state();
  const std::uint64_t operations = flash_->operations();
  ASSERT_TRUE(decide(Action::kRevert, v2).ok());
  ASSERT_TRUE(decide(Action::kRevert, v2).ok());
  EXPECT_EQ(reporter_.states(), (std::vector<std::string>{"rolled-back"}));
  EXPECT_EQ(flash_->operations(), operations);
  EXPECT_EQ(state().active, before.active);
  EXPECT_EQ(state().floor_version, before.floor_version);
  EXPECT_EQ(running(), v1.digest_hex());
  EXPECT_EQ(server_.requests_, requests);

  // A newer model installs as usual.
  const Model v3 = make_model("vib-ae", 3, 173);
  install_confirmed(v3);
}

TEST_F(ShadowTest, DecisionsThatDoNotApplyAreRejectedWithTheirReasonOnce) {
  const Model v1 = make_model("vib-ae", 1, 181);
  const Model v2 = make_model("vib-ae", 2, 182);
  shadow_beside(v1, v2);
  DecisionOptions other_device;
  other_device.device = "node-8";
  DecisionOptions wrong_digest;
  wrong_digest.wrong_digest = true;
  DecisionOptions bad_signature;
  bad_signature.flip_signature = true;
  DecisionOptions unknown_key;
  unknown_key.key_seed = 9;
  unknown_key.kid = "stranger";
  struct Case {
    const char* what;
    ByteVector decision;
    Error reason;
  };
  const Model v3 = make_model("vib-ae", 3, 183);
  const std::vector<Case> cases = {
      {"another device", sign_decision(Action::kPromote, v2, other_device),
       Error::kNotForThisDevice},
      {"wrong digest", sign_decision(Action::kPromote, v2, wrong_digest), Error::kNotFound},
      {"bad signature", sign_decision(Action::kPromote, v2, bad_signature), Error::kBadSignature},
      {"unknown key", sign_decision(Action::kDiscard, v2, unknown_key), Error::kUnknownKey},
      {"promote a model not in shadow", sign_decision(Action::kPromote, v3), Error::kNotFound},
      {"discard the active model", sign_decision(Action::kDiscard, v1), Error::kNotFound},
      {"revert a model not active", sign_decision(Action::kRevert, v2), Error::kNotFound},
      // v1 is active but the other slot holds the shadow, not a previous model.
      {"revert without a previous model", sign_decision(Action::kRevert, v1), Error::kNotFound},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::uint64_t operations = flash_->operations();
    reporter_.entries.clear();
    ASSERT_TRUE(installer_->on_decision(c.decision).ok());
    ASSERT_EQ(reporter_.entries.size(), 1U);
    EXPECT_EQ(reporter_.states()[0], "decision-rejected");
    EXPECT_EQ(reporter_.entries[0].reason, c.reason) << error_name(reporter_.entries[0].reason);
    ASSERT_TRUE(installer_->on_decision(c.decision).ok());  // repeated: not reported again
    EXPECT_EQ(reporter_.entries.size(), 1U);
    EXPECT_EQ(flash_->operations(), operations);
    EXPECT_EQ(running(), v1.digest_hex());
    EXPECT_EQ(shadow(), v2.digest_hex());
  }
}

// ---- power cuts: the MCUboot discipline, for every new flash sequence ----

TEST_F(ShadowTest, APowerCutAtEveryFlashOperationOfAShadowInstallLeavesTheActiveModel) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 191);
  const Model v2 = make_model("vib-ae", 2, 192, 16);
  install_confirmed(v1);
  server_.publish(v2);
  const ByteVector manifest = sign_manifest(v2, shadow_options());
  std::size_t with_shadow = 0;
  const auto seen =
      cut_at_every_operation([&] { return installer_->on_manifest(manifest); }, {v1.digest_hex()},
                             [&] {
                               const std::string after = shadow();
                               ASSERT_TRUE(after.empty() || after == v2.digest_hex());
                               if (!after.empty()) ++with_shadow;
                               ASSERT_TRUE(installer_->on_manifest(manifest).ok());
                               ASSERT_EQ(running(), v1.digest_hex());
                               ASSERT_EQ(shadow(), v2.digest_hex());
                             });
  EXPECT_GT(seen[0], 10U);
  EXPECT_GT(with_shadow, 0U);
}

TEST_F(ShadowTest, APowerCutAtEveryFlashOperationOfAPromoteLeavesAValidModel) {
  const Model v1 = make_model("vib-ae", 1, 201);
  const Model v2 = make_model("vib-ae", 2, 202);
  shadow_beside(v1, v2);
  const ByteVector promote = sign_decision(Action::kPromote, v2);
  const auto seen = cut_at_every_operation(
      [&] {
        const Status s = installer_->on_decision(promote);
        return s.ok() ? run_healthy() : s;
      },
      {v1.digest_hex(), v2.digest_hex()},
      [&] {
        // Before the promotion the shadow is still there; the decision completes it.
        if (running() == v1.digest_hex()) {
          ASSERT_EQ(shadow(), v2.digest_hex());
        }
        ASSERT_TRUE(installer_->on_decision(promote).ok());
        ASSERT_TRUE(run_healthy().ok());
        ASSERT_EQ(running(), v2.digest_hex());
        ASSERT_EQ(state().slots[static_cast<std::size_t>(state().active)].state,
                  SlotState::kActive);
      });
  EXPECT_GT(seen[0], 0U);
  EXPECT_GT(seen[1], 0U);
}

TEST_F(ShadowTest, APowerCutAtEveryFlashOperationOfADiscardLeavesTheActiveModel) {
  const Model v1 = make_model("vib-ae", 1, 211);
  const Model v2 = make_model("vib-ae", 2, 212);
  shadow_beside(v1, v2);
  const ByteVector discard = sign_decision(Action::kDiscard, v2);
  const auto seen = cut_at_every_operation(
      [&] { return installer_->on_decision(discard); }, {v1.digest_hex()},
      [&] {
        const std::string after = shadow();
        ASSERT_TRUE(after.empty() || after == v2.digest_hex());
        ASSERT_TRUE(installer_->on_decision(discard).ok());
        ASSERT_EQ(reporter_.states().back(), "discarded");
        ASSERT_EQ(shadow(), "");
        ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, shadow_options())).ok());
        ASSERT_EQ(shadow(), "");
      });
  EXPECT_GT(seen[0], 0U);
}

TEST_F(ShadowTest, APowerCutAtEveryFlashOperationOfARevertLeavesAValidModel) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 221);
  const Model v2 = make_model("vib-ae", 2, 222);
  install_confirmed(v1);
  install_confirmed(v2);
  const ByteVector revert = sign_decision(Action::kRevert, v2);
  const auto seen = cut_at_every_operation([&] { return installer_->on_decision(revert); },
                                           {v1.digest_hex(), v2.digest_hex()},
                                           [&] {
                                             ASSERT_TRUE(installer_->on_decision(revert).ok());
                                             ASSERT_EQ(reporter_.states().back(), "rolled-back");
                                             ASSERT_EQ(running(), v1.digest_hex());
                                             ASSERT_GE(state().floor_version, 2U);
                                           });
  EXPECT_GT(seen[0], 0U);
  EXPECT_GT(seen[1], 0U);
}

}  // namespace
}  // namespace spindle::modelstore::test
