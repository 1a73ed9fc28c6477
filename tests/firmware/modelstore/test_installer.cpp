// The install state machine end to end in one process: real manifests, payloads, flash file
// and runtime; the network is the in-memory BlockServer. Reboots are simulated by opening
// the flash file again and building a new ModelStore and Installer, as a reset would.
#include "spindle/modelstore/installer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "installer_fixture.hpp"

namespace spindle::modelstore::test {
namespace {

std::string hex_text(std::span<const std::uint8_t> bytes) {
  std::string text(2 * bytes.size(), '\0');
  (void)hex::encode(bytes, text);
  return text;
}

// Runs a command line; its standard output, or a test failure when it exits non-zero.
std::string run(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return "";
  }
  std::string out;
  char chunk[256];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;)
    out.append(chunk, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << command << "\n" << out;
  return out;
}

TEST_F(InstallerTest, InstallsVerifiesActivatesAndConfirmsAModel) {
  ASSERT_TRUE(boot().ok());
  EXPECT_EQ(running(), "");
  const Model model = make_model("vib-ae", 1, 11);
  server_.publish(model);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(model)).ok());
  EXPECT_EQ(reporter_.states(),
            (std::vector<std::string>{"manifest-accepted", "downloading", "downloaded", "verified",
                                      "self-test-passed", "activated"}));
  EXPECT_EQ(running(), model.digest_hex());
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().active)].state, SlotState::kPending);
  ASSERT_TRUE(run_healthy().ok());
  EXPECT_EQ(reporter_.states().back(), "confirmed");
  EXPECT_EQ(state().slots[static_cast<std::size_t>(state().active)].state, SlotState::kActive);
  EXPECT_EQ(state().floor_version, 1U);

  // The same manifest again is nothing to do; a reboot runs the model from flash.
  const std::size_t reports = reporter_.entries.size();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(model)).ok());
  EXPECT_EQ(reporter_.entries.size(), reports);
  ASSERT_TRUE(boot().ok());
  EXPECT_EQ(running(), model.digest_hex());
}

// What `spindle-proto encrypt` writes is what a node decrypts: the payload, nonce and
// wrapped key come from the tool run as a process with the node's KEK, and the installer
// loads them under a manifest naming the same model id, and refuses them under another.
TEST_F(InstallerTest, RunsAPayloadThatSpindleProtoEncryptedForItsModelId) {
  ASSERT_TRUE(boot().ok());
  Model model = make_model("vib-ae", 1, 13);
  const spindle::test::ScratchFile kek_file(".kek"), container_file(".spmc"), payload_file(".enc");
  std::ofstream(kek_file.path()) << hex_text(kek_);
  std::ofstream(container_file.path(), std::ios::binary)
      .write(reinterpret_cast<const char*>(model.container.data()),
             static_cast<std::streamsize>(model.container.size()));
  const std::string printed =
      run(std::string(SPINDLE_PROTO) + " encrypt --kek " + kek_file.path().string() +
          " --model-id vib-ae --in " + container_file.path().string() + " --out " +
          payload_file.path().string());
  std::istringstream fields(printed);
  std::string nonce_label, nonce_hex, wrapped_label, wrapped_hex;
  fields >> nonce_label >> nonce_hex >> wrapped_label >> wrapped_hex;
  ASSERT_EQ(nonce_label, "nonce") << printed;
  ASSERT_EQ(wrapped_label, "wrapped_key") << printed;
  ASSERT_TRUE(hex::decode(nonce_hex, model.nonce).ok());
  std::array<std::uint8_t, 24> wrapped{};
  ASSERT_TRUE(hex::decode(wrapped_hex, wrapped).ok());
  // sign_manifest wraps the content key itself; the key it wraps is the one the tool drew.
  ASSERT_TRUE(crypto::aes_key_unwrap(kek_, wrapped, model.content_key).ok());
  std::ifstream in(payload_file.path(), std::ios::binary);
  model.payload.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ASSERT_EQ(model.payload.size(), model.container.size() + crypto::kCcmTagSize);

  server_.publish(model);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(model)).ok());
  EXPECT_EQ(reporter_.states().back(), "activated");
  EXPECT_EQ(running(), model.digest_hex());

  Model relabelled = model;  // the same ciphertext under a manifest for another model
  relabelled.id = "vib-ae-copy";
  relabelled.version = 2;
  server_.publish(relabelled);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(relabelled)).ok());
  EXPECT_EQ(reporter_.states().back(), "failed");
  EXPECT_EQ(reporter_.entries.back().reason, Error::kAuthFailed);
  EXPECT_EQ(running(), model.digest_hex());  // still the model it was
}

TEST_F(InstallerTest, TheFlashHoldsOnlyCiphertext) {
  ASSERT_TRUE(boot().ok());
  const Model model = make_model("vib-ae", 1, 12, 32);
  install_confirmed(model);
  std::ifstream in(path_, std::ios::binary);
  const ByteVector flash{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // No 16-byte run of the plaintext container appears anywhere in flash; the ciphertext does.
  // (Runs of few distinct bytes, like zero padding, would match anything and prove nothing.)
  std::size_t checked = 0;
  for (std::size_t at = 0; at + 16 <= model.container.size(); at += 8) {
    const auto begin = model.container.begin() + static_cast<std::ptrdiff_t>(at);
    if (std::set<std::uint8_t>(begin, begin + 16).size() < 12) continue;
    ++checked;
    ASSERT_EQ(std::search(flash.begin(), flash.end(), begin, begin + 16), flash.end())
        << "plaintext at container offset " << at;
  }
  EXPECT_GT(checked, model.container.size() / 16);  // the weights, at least
  EXPECT_NE(std::search(flash.begin(), flash.end(), model.payload.begin(), model.payload.end()),
            flash.end());
}

TEST_F(InstallerTest, UpgradesKeepTheOldModelForRevertAndRevertOnRuntimeFailure) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 21);
  const Model v2 = make_model("vib-ae", 2, 22);
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2)).ok());
  EXPECT_EQ(running(), v2.digest_hex());
  installer_->on_window_scored(false);  // the new model fails in the health period
  ASSERT_TRUE(installer_->poll().ok());
  EXPECT_EQ(reporter_.states().back(), "rolled-back");
  EXPECT_EQ(running(), v1.digest_hex());
  // The failed version is not installed again; a newer one is.
  const std::size_t reports = reporter_.entries.size();
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2)).ok());
  EXPECT_EQ(reporter_.entries.size(), reports);
  const Model v3 = make_model("vib-ae", 3, 23);
  install_confirmed(v3);
}

TEST_F(InstallerTest, APendingModelRebootedTwiceIsRevertedToThePreviousOne) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 31);
  const Model v2 = make_model("vib-ae", 2, 32);
  install_confirmed(v1);
  server_.publish(v2);
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2)).ok());
  ASSERT_TRUE(boot().ok());  // first trial boot: still pending, still v2
  EXPECT_EQ(running(), v2.digest_hex());
  ASSERT_TRUE(boot().ok());  // second: past the limit
  EXPECT_EQ(running(), v1.digest_hex());
  EXPECT_EQ(reporter_.states().back(), "rolled-back");
}

TEST_F(InstallerTest, RejectsBadManifestsWithTheirReasonAndTouchesNoFlash) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 2, 41);
  install_confirmed(v1);
  const Model newer = make_model("vib-ae", 3, 42);
  const Model older = make_model("vib-ae", 1, 43);
  server_.publish(newer);
  server_.publish(older);
  struct Case {
    const char* what;
    ByteVector manifest;
    Error reason;
  };
  ManifestOptions bad_signature;
  bad_signature.flip_signature = true;
  ManifestOptions unknown_key;
  unknown_key.key_seed = 9;
  unknown_key.kid = "stranger";
  ManifestOptions other_device;
  other_device.device = "node-8";
  ManifestOptions too_big;
  too_big.arena_bytes = board_.model_arena_bytes + 1;
  ManifestOptions wrong_kek;
  wrong_kek.wrong_kek = true;
  const std::vector<Case> cases = {
      {"bad signature", sign_manifest(newer, bad_signature), Error::kBadSignature},
      {"unknown key", sign_manifest(newer, unknown_key), Error::kUnknownKey},
      {"another device", sign_manifest(newer, other_device), Error::kNotForThisDevice},
      {"replayed older version", sign_manifest(older), Error::kRollback},
      {"does not fit", sign_manifest(newer, too_big), Error::kDoesNotFit},
      {"wrapped for another key", sign_manifest(newer, wrong_kek), Error::kAuthFailed},
  };
  const int requests = server_.requests_;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::uint64_t operations = flash_->operations();
    reporter_.entries.clear();
    ASSERT_TRUE(installer_->on_manifest(c.manifest).ok());
    ASSERT_EQ(reporter_.entries.size(), 1U);
    EXPECT_EQ(reporter_.states()[0], "manifest-rejected");
    EXPECT_EQ(reporter_.entries[0].reason, c.reason) << error_name(reporter_.entries[0].reason);
    EXPECT_EQ(flash_->operations(), operations);
    EXPECT_EQ(running(), v1.digest_hex());
    // Notified again, the same manifest is not reported again.
    ASSERT_TRUE(installer_->on_manifest(c.manifest).ok());
    EXPECT_EQ(reporter_.entries.size(), 1U);
  }
  EXPECT_EQ(server_.requests_, requests);  // nothing was downloaded
}

TEST_F(InstallerTest, AFailingSelfTestIsNeverActivated) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 51);
  const Model v2 = make_model("vib-ae", 2, 52);
  install_confirmed(v1);
  server_.publish(v2);
  ManifestOptions bad;
  bad.bad_self_test = true;
  ASSERT_TRUE(installer_->on_manifest(sign_manifest(v2, bad)).ok());
  EXPECT_EQ(reporter_.entries.back().reason, Error::kSelfTestFailed);
  EXPECT_EQ(reporter_.states().back(), "failed");
  EXPECT_EQ(running(), v1.digest_hex());
  ASSERT_TRUE(boot().ok());
  EXPECT_EQ(running(), v1.digest_hex());
}

TEST_F(InstallerTest, ACorruptedBlockFailsTheDigestAndThePayloadIsFetchedAgain) {
  ASSERT_TRUE(boot().ok());
  const Model model = make_model("vib-ae", 1, 61, 32);
  server_.publish(model);
  server_.corrupt_block_ = 2;
  const ByteVector manifest = sign_manifest(model);
  EXPECT_EQ(installer_->on_manifest(manifest), Status(Error::kDigestMismatch));
  EXPECT_EQ(reporter_.entries.back().reason, Error::kDigestMismatch);
  EXPECT_EQ(running(), "");
  EXPECT_EQ(state().download_slot, kNoSlot);
  server_.requested_blocks_.clear();
  ASSERT_TRUE(installer_->on_manifest(manifest).ok());
  ASSERT_FALSE(server_.requested_blocks_.empty());
  EXPECT_EQ(server_.requested_blocks_.front(), 0U);  // from the start
  EXPECT_EQ(running(), model.digest_hex());
}

TEST_F(InstallerTest, AnInterruptedDownloadResumesAfterARebootWithoutStartingOver) {
  ASSERT_TRUE(boot().ok());
  const Model model = make_model("vib-ae", 1, 71, 32);
  server_.publish(model);
  const ByteVector manifest = sign_manifest(model);
  const std::size_t blocks = (model.payload.size() + 255) / 256;
  ASSERT_GE(blocks, 6U);
  for (const std::size_t stop_after : {std::size_t{1}, blocks / 2, blocks - 1}) {
    SCOPED_TRACE(stop_after);
    std::filesystem::remove(path_);
    ASSERT_TRUE(boot().ok());
    server_.fail_after_ = static_cast<int>(stop_after);
    server_.requests_ = 0;
    EXPECT_EQ(installer_->on_manifest(manifest), Status(Error::kUnavailable));
    ASSERT_TRUE(boot().ok());  // reset
    server_.fail_after_ = -1;
    server_.requested_blocks_.clear();
    ASSERT_TRUE(installer_->on_manifest(manifest).ok());
    ASSERT_FALSE(server_.requested_blocks_.empty());
    EXPECT_EQ(server_.requested_blocks_.front(), stop_after);
    EXPECT_EQ(server_.requested_blocks_.size(), blocks - stop_after);
    EXPECT_EQ(running(), model.digest_hex());
  }
}

// The MCUboot discipline: cut the power at every flash operation of an upgrade, from the
// first erase to the confirmation, and after each cut the node boots with a valid model,
// the old one or the new one. Then it finishes the upgrade.
TEST_F(InstallerTest, APowerCutAtEveryFlashOperationLeavesTheOldOrTheNewModel) {
  ASSERT_TRUE(boot().ok());
  const Model v1 = make_model("vib-ae", 1, 81);
  const Model v2 = make_model("vib-ae", 2, 82, 16);
  install_confirmed(v1);
  server_.publish(v2);
  const ByteVector manifest = sign_manifest(v2);
  const std::filesystem::path baseline = path_.string() + ".v1";
  std::filesystem::copy_file(path_, baseline, std::filesystem::copy_options::overwrite_existing);

  // A clean upgrade, to count its operations.
  ASSERT_TRUE(boot().ok());
  const std::uint64_t start = flash_->operations();
  ASSERT_TRUE(installer_->on_manifest(manifest).ok());
  ASSERT_TRUE(run_healthy().ok());
  const std::uint64_t total = flash_->operations() - start;
  ASSERT_GT(total, 10U);

  std::size_t old_after_cut = 0, new_after_cut = 0;
  for (std::uint64_t cut = 0; cut <= total; ++cut) {
    SCOPED_TRACE(cut);
    std::filesystem::copy_file(baseline, path_, std::filesystem::copy_options::overwrite_existing);
    ASSERT_TRUE(boot().ok());
    flash_->cut_power_after(cut, os::posix::PowerCutMode::kReturnError);
    Status s = installer_->on_manifest(manifest);
    if (s.ok()) s = run_healthy();
    if (cut < total) {
      ASSERT_EQ(s, Status(Error::kPowerLoss));
    }
    // Power returns.
    ASSERT_TRUE(boot().ok());
    const std::string after = running();
    ASSERT_TRUE(after == v1.digest_hex() || after == v2.digest_hex()) << "no valid model";
    (after == v1.digest_hex() ? old_after_cut : new_after_cut)++;
    // And the upgrade completes from wherever it stopped.
    ASSERT_TRUE(installer_->on_manifest(manifest).ok());
    ASSERT_TRUE(run_healthy().ok());
    ASSERT_EQ(running(), v2.digest_hex());
  }
  EXPECT_GT(old_after_cut, 0U);
  EXPECT_GT(new_after_cut, 0U);
  std::filesystem::remove(baseline);
}

}  // namespace
}  // namespace spindle::modelstore::test
