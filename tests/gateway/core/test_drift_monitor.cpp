// gateway/core/drift_monitor over a real SQLite store: a batch's feature summaries are
// read out of its records; the references are the active model's baseline (from its
// deployment's manifest) and the device's calibration when it is for that model; stepping
// appends the events and keeps the state, which a new connection (a restarted gateway)
// reads back and continues from.
#include "spindle/gateway/drift_monitor.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/manifest.hpp"

namespace spindle::gateway {
namespace {

namespace fs = std::filesystem;

Bytes pack_pairs(const std::vector<drift::FeatureStats>& pairs) {
  Bytes bytes;
  for (const auto& p : pairs) {
    for (const double value : {p.mean, p.stddev}) {
      const float f = static_cast<float>(value);
      std::array<std::uint8_t, 4> raw{};
      std::memcpy(raw.data(), &f, 4);
      bytes.insert(bytes.end(), raw.begin(), raw.end());
    }
  }
  return bytes;
}

// A signed manifest of vib-ae `version` for node-1 with a two-feature baseline.
Bytes manifest_with_baseline(std::uint64_t version,
                             std::vector<manifest::FeatureBaseline> baseline) {
  const std::array<std::uint8_t, 32> digest{7};
  const std::array<std::uint8_t, 7> nonce{1, 2, 3, 4, 5, 6, 7};
  std::array<std::uint8_t, 24> wrapped{};
  manifest::Manifest m;
  m.model_id = "vib-ae";
  m.version = version;
  m.device_id = "node-1";
  m.payload_digest = digest;
  m.payload_size = 4;
  m.encryption.nonce = nonce;
  m.encryption.wrapped_key = wrapped;
  m.input = {.feature_count = static_cast<std::uint16_t>(baseline.size()),
             .sample_rate_hz = 3200,
             .window_length = 1024,
             .axes = 1};
  m.threshold = 1.0F;
  for (std::size_t i = 0; i < baseline.size(); ++i)
    m.baseline[i] = baseline[i];
  m.baseline_count = baseline.size();
  std::array<std::uint8_t, 2048> payload_buffer{};
  const auto payload = manifest::encode(m, payload_buffer);
  EXPECT_TRUE(payload.ok()) << payload.status().name();
  std::array<std::uint8_t, 2048 + cose::kSign1Overhead> signed_buffer{};
  const auto key = crypto::Sha256::of(crypto::as_bytes("a test signing key"));
  const auto message = cose::sign(key, crypto::as_bytes("kid-1"), *payload, signed_buffer);
  EXPECT_TRUE(message.ok()) << message.status().name();
  return {message->begin(), message->end()};
}

TelemetryRecord record(std::uint64_t seq, std::string name, double time) {
  TelemetryRecord r;
  r.device_id = "node-1";
  r.seq = seq;
  r.name = std::move(name);
  r.time = time;
  r.received_ms = 1;
  return r;
}

// The records a node's feature summary becomes: feature_windows and feature_stats.
std::vector<TelemetryRecord> summary_records(std::uint64_t seq, double time,
                                             const std::vector<drift::FeatureStats>& pairs) {
  TelemetryRecord windows = record(seq, "feature_windows", time);
  windows.kind = senml::ValueKind::kNumber;
  windows.number = 32;
  TelemetryRecord stats = record(seq, "feature_stats", time);
  stats.kind = senml::ValueKind::kData;
  stats.data = pack_pairs(pairs);
  return {windows, stats};
}

class DriftMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "spindle-drift-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store_ = open();
    ASSERT_TRUE(store_->add_device("node-1", 1).ok());
    const auto model = store_->put_model("vib-ae", Bytes{1, 2, 3, 4}, 1);
    ASSERT_TRUE(model.ok());
    digest_ = model->digest;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::unique_ptr<Store> open() {
    auto store = open_sqlite_store(dir_);
    EXPECT_TRUE(store.ok());
    return std::move(store).value();
  }

  void deploy(std::uint64_t version, DeploymentState state,
              std::vector<manifest::FeatureBaseline> baseline = {{10.0F, 1.0F}, {5.0F, 0.5F}}) {
    StoredDeployment d;
    d.device_id = "node-1";
    d.model_digest = digest_;
    d.model_id = "vib-ae";
    d.version = version;
    d.manifest = manifest_with_baseline(version, std::move(baseline));
    d.created_ms = 2;
    const auto id = store_->add_deployment(d);
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(store_->set_deployment_state(*id, state, "ok", 3).ok());
  }

  void calibrate(std::uint64_t version, status_report::CalibrationState state) {
    StoredCalibration c;
    c.model_id = "vib-ae";
    c.version = version;
    c.state = state;
    c.generation = 1;
    c.threshold = 1.0;
    if (state == status_report::CalibrationState::kCalibrated) {
      c.normalization = pack_pairs({{14.0, 1.0}, {5.0, 0.5}});  // this machine runs hotter
    }
    ASSERT_TRUE(store_->save_calibration("node-1", c).ok());
  }

  Result<DriftOutcome> observe(std::uint64_t seq, std::vector<drift::FeatureStats> pairs) {
    const auto records = summary_records(seq, 1.8e9 + static_cast<double>(seq), pairs);
    const auto summaries = feature_summaries(records);
    return observe_summaries(*store_, "node-1", summaries, drift::Options{},
                             1000 + static_cast<std::int64_t>(seq));
  }

  std::vector<StoredEvent> events(const std::string& kind) {
    EventQuery query;
    query.kind = kind;
    return store_->query_events(query).value();
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::string digest_;
};

TEST_F(DriftMonitorTest, FeatureSummariesAreReadWithTheirWindowCount) {
  auto records = summary_records(7, 100.5, {{1.0, 2.0}, {3.0, 4.0}});
  records.push_back(record(7, "score", 100.5));
  TelemetryRecord bad = record(8, "feature_stats", 101.0);
  bad.kind = senml::ValueKind::kData;
  bad.data = {1, 2, 3};  // not a whole pair
  records.push_back(bad);
  const auto summaries = feature_summaries(records);
  ASSERT_EQ(summaries.size(), 1U);
  EXPECT_EQ(summaries[0].seq, 7U);
  EXPECT_EQ(summaries[0].time, 100.5);
  EXPECT_EQ(summaries[0].windows, 32U);
  ASSERT_EQ(summaries[0].features.size(), 2U);
  EXPECT_EQ(summaries[0].features[1].mean, 3.0);
  EXPECT_EQ(summaries[0].features[1].stddev, 4.0);
}

TEST_F(DriftMonitorTest, TheActiveModelsBaselineIsTheReferenceWithoutCalibration) {
  auto refs = drift_references(*store_, "node-1");
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs->baseline.kind, drift::ReferenceKind::kNone);  // nothing deployed
  deploy(3, DeploymentState::kConfirmed);
  deploy(4, DeploymentState::kDownloading);  // newer, but not running yet
  refs = drift_references(*store_, "node-1");
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs->baseline.kind, drift::ReferenceKind::kBaseline);
  EXPECT_EQ(refs->baseline.version, 3U);
  ASSERT_EQ(refs->baseline.features.size(), 2U);
  EXPECT_EQ(refs->baseline.features[0].mean, 10.0);
  EXPECT_EQ(refs->calibration.kind, drift::ReferenceKind::kNone);
  EXPECT_EQ(drift_references(*store_, "node-9").status(), Status(Error::kNotFound));
}

TEST_F(DriftMonitorTest, ACalibrationCountsOnlyForTheActiveModelOnceLearned) {
  deploy(3, DeploymentState::kConfirmed);
  calibrate(3, status_report::CalibrationState::kNormalizing);
  EXPECT_EQ(drift_references(*store_, "node-1")->calibration.kind, drift::ReferenceKind::kNone);
  calibrate(9, status_report::CalibrationState::kCalibrated);  // another version
  EXPECT_EQ(drift_references(*store_, "node-1")->calibration.kind, drift::ReferenceKind::kNone);
  calibrate(3, status_report::CalibrationState::kCalibrated);
  const auto refs = drift_references(*store_, "node-1");
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs->calibration.kind, drift::ReferenceKind::kCalibration);
  EXPECT_EQ(refs->calibration.features[0].mean, 14.0);
  EXPECT_EQ(refs->calibration.generation, 1U);
}

TEST_F(DriftMonitorTest, DriftAgainstTheBaselineIsLoggedAndKeptAcrossConnections) {
  deploy(3, DeploymentState::kActivated);
  for (std::uint64_t seq = 1; seq <= 2; ++seq) {
    const auto outcome = observe(seq, {{14.0, 1.0}, {5.0, 0.5}});  // x_rms 4 sd high
    ASSERT_TRUE(outcome.ok()) << outcome.status().name();
    EXPECT_EQ(outcome->stepped, 1U);
    EXPECT_FALSE(outcome->drifting);
  }
  // The gateway restarts: a new connection reads the state and goes on from it.
  store_ = open();
  auto outcome = observe(3, {{14.0, 1.0}, {5.0, 0.5}});
  ASSERT_TRUE(outcome.ok());
  EXPECT_FALSE(outcome->was_drifting);
  EXPECT_TRUE(outcome->drifting);
  EXPECT_EQ(outcome->started, 1U);
  const auto drift_events = events("drift");
  ASSERT_EQ(drift_events.size(), 1U);
  EXPECT_EQ(drift_events[0].device_id, "node-1");
  EXPECT_NE(drift_events[0].detail.find("against baseline vib-ae v3: score 4; drifting x_rms (4)"),
            std::string::npos)
      << drift_events[0].detail;
  const auto stored = store_->get_drift_state("node-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->drifting);
  EXPECT_EQ(store_->count_adaptation()->drifting, 1U);

  // A retransmitted summary steps nothing and writes nothing.
  outcome = observe(3, {{10.0, 1.0}, {5.0, 0.5}});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->stepped, 0U);

  // The node calibrates on its machine (which runs at 14): the calibration is the reference
  // now, the baseline drift is cleared saying why, and the machine is healthy by its own.
  calibrate(3, status_report::CalibrationState::kCalibrated);
  outcome = observe(4, {{14.0, 1.0}, {5.0, 0.5}});
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->was_drifting);
  EXPECT_FALSE(outcome->drifting);
  EXPECT_EQ(outcome->cleared, 1U);
  const auto cleared = events("drift-cleared");
  ASSERT_EQ(cleared.size(), 1U);
  EXPECT_NE(cleared[0].detail.find("reference changed from baseline vib-ae v3 to calibration"),
            std::string::npos)
      << cleared[0].detail;
  const auto state = load_drift_state(*store_, "node-1");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->primary, drift::ReferenceKind::kCalibration);
  EXPECT_TRUE(state->baseline.drifting);  // still far from the fleet's data: reported only
  EXPECT_EQ(state->summaries, 4U);
}

TEST_F(DriftMonitorTest, AStoredStateThatNoLongerDecodesStartsOver) {
  deploy(3, DeploymentState::kConfirmed);
  ASSERT_TRUE(store_->save_drift_state({"node-1", true, {0xff, 0x00}, 5}).ok());
  EXPECT_EQ(load_drift_state(*store_, "node-1").status(), Status(Error::kIoError));
  const auto outcome = observe(1, {{10.0, 1.0}, {5.0, 0.5}});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->stepped, 1U);
  EXPECT_FALSE(outcome->drifting);
  EXPECT_EQ(load_drift_state(*store_, "node-1")->summaries, 1U);
}

}  // namespace
}  // namespace spindle::gateway
