// gateway/store: the SQLite store keeps what it is given across reopen and across
// connections, refuses what it cannot hold, and keeps telemetry batches whole.
#include "spindle/gateway/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "spindle/protocol/crypto.hpp"
#include "test_support.hpp"

namespace spindle::gateway {
namespace {

namespace fs = std::filesystem;

// Runs one statement on the database file directly, as another build of the gateway would.
void execute_sql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << text;
}

// The first column of the first row of a query, as text.
std::string query_sql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string value;
  if (sqlite3_open(db_path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) value = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return value;
}

TelemetryRecord reading(const std::string& device, std::uint64_t seq, const std::string& name,
                        double time, double value) {
  TelemetryRecord record;
  record.device_id = device;
  record.seq = seq;
  record.name = name;
  record.time = time;
  record.unit.assign(1, 'g');  // not = "g": a false -Wrestrict from GCC 12 at -O3
  record.kind = senml::ValueKind::kNumber;
  record.number = value;
  record.received_ms = 1000;
  return record;
}

std::vector<double> times_of(const std::vector<TelemetryRecord>& records) {
  std::vector<double> times;
  for (const auto& record : records)
    times.push_back(record.time);
  return times;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(::testing::TempDir()) / "spindle-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    data_dir_ = root_ / "gateway" / "data";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<Store> open(const SqliteOptions& options = {}) {
    auto store = open_sqlite_store(data_dir_, options);
    EXPECT_TRUE(store.ok()) << store.status().name();
    return std::move(store).value();
  }

  fs::path db_path() const { return data_dir_ / "spindle.db"; }

  // A device and a model, so that deployments have something to refer to.
  std::string add_device_and_model(Store& store, const std::string& device) {
    EXPECT_TRUE(store.add_device(device, 1).ok());
    const std::vector<std::uint8_t> payload = {1, 2, 3, 4};
    auto model = store.put_model("anomaly", payload, 2);
    EXPECT_TRUE(model.ok());
    return model->digest;
  }

  StoredDeployment deployment(const std::string& device, const std::string& digest,
                              std::uint64_t version, std::int64_t now_ms) {
    StoredDeployment d;
    d.device_id = device;
    d.model_digest = digest;
    d.model_id = "anomaly";
    d.version = version;
    d.manifest = {0xd2, 0x84, static_cast<std::uint8_t>(version)};
    d.created_ms = now_ms;
    return d;
  }

  fs::path root_;
  fs::path data_dir_;
};

// ---- Opening and schema ----

TEST_F(SqliteStoreTest, FreshOpenCreatesPrivateDirectoriesAndCurrentSchemaInWalMode) {
  ASSERT_GE(sqlite_schema_version(), 1);
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(fs::is_regular_file(db_path()));
  EXPECT_TRUE(fs::is_directory(data_dir_ / "models"));
  struct stat info {};
  ASSERT_EQ(::stat(data_dir_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700U);
  EXPECT_EQ(query_sql(db_path(), "PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  EXPECT_EQ(query_sql(db_path(), "PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, ReopenKeepsDataAndSchemaVersion) {
  {
    auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 10).ok());
  }
  auto store = open();
  ASSERT_NE(store, nullptr);
  auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device->created_ms, 10);
  EXPECT_EQ(query_sql(db_path(), "PRAGMA user_version"), std::to_string(sqlite_schema_version()));
}

TEST_F(SqliteStoreTest, DatabaseWithNewerSchemaIsRefused) {
  { auto store = open(); }
  execute_sql(db_path(), "PRAGMA user_version = " + std::to_string(sqlite_schema_version() + 1));
  const auto store = open_sqlite_store(data_dir_);
  EXPECT_EQ(store.status(), Status(Error::kUnsupportedVersion));
}

// What migration 6 added, taken away again: a database as version 5 left it.
const std::string kUndoMigrationSix =
    "DROP TABLE rollout_devices; DROP TABLE rollouts; DROP TABLE device_tags; "
    "DROP TABLE shadow_reports; ALTER TABLE deployments DROP COLUMN role; ";

// What migrations 6 and 5 added, taken away again: a database as version 4 left it.
const std::string kUndoMigrationFive =
    kUndoMigrationSix +
    "DROP INDEX captures_by_origin; ALTER TABLE captures DROP COLUMN origin; "
    "ALTER TABLE captures DROP COLUMN origin_event; DROP TABLE recalibrations; ";

TEST_F(SqliteStoreTest, MigrationFromSchemaVersionOneKeepsEveryRecord) {
  // A version-1 database as the previous build left it: migration 1 is never edited, so
  // this build's database minus what the later migrations added is exactly that.
  std::string digest;
  {
    auto store = open();
    digest = add_device_and_model(*store, "node-1");
    ASSERT_TRUE(store->add_deployment(deployment("node-1", digest, 3, 10)).ok());
    ASSERT_TRUE(store->append_telemetry(std::vector{reading("node-1", 1, "rms", 5.0, 0.5)}).ok());
    ASSERT_TRUE(store->append_event("node-1", "registered", "native_sim", 11).ok());
  }
  execute_sql(db_path(),
              kUndoMigrationSix +
                  "DROP TABLE attestations; DROP TABLE capture_chunks; DROP TABLE captures; "
                  "DROP TABLE recalibrations; DROP TABLE calibrations; DROP TABLE drift_states; "
                  "PRAGMA user_version = 1");

  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query_sql(db_path(), "PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  const auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok()) << device.status().name();
  EXPECT_EQ(device->created_ms, 1);
  EXPECT_FALSE(device->attestation.has_value());
  EXPECT_EQ(store->get_model(digest)->model_id, "anomaly");
  EXPECT_EQ(store->device_deployments("node-1")->front().version, 3U);
  EXPECT_EQ(*store->count_telemetry("node-1"), 1U);
  EXPECT_EQ(store->query_events({})->size(), 1U);
  // And the new table works.
  StoredAttestation verdict;
  verdict.verdict = AttestationVerdict::kMatch;
  verdict.time_ms = 12;
  EXPECT_TRUE(store->save_attestation("node-1", verdict).ok());
  EXPECT_EQ(store->get_device("node-1")->attestation->verdict, AttestationVerdict::kMatch);
}

TEST_F(SqliteStoreTest, MigrationFromSchemaVersionThreeAddsCalibrationsAndDriftStates) {
  // A version-3 database (before per-machine adaptation) as the previous build left it.
  {
    auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 1).ok());
    StoredAttestation verdict;
    verdict.time_ms = 5;
    ASSERT_TRUE(store->save_attestation("node-1", verdict).ok());
  }
  execute_sql(db_path(), kUndoMigrationFive +
                             "DROP TABLE calibrations; DROP TABLE drift_states; "
                             "PRAGMA user_version = 3");

  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query_sql(db_path(), "PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  const auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok()) << device.status().name();
  EXPECT_EQ(device->attestation->time_ms, 5);
  EXPECT_FALSE(device->calibration.has_value());
  EXPECT_EQ(store->get_drift_state("node-1").status(), Status(Error::kNotFound));
  StoredCalibration calibration;
  calibration.model_id = "anomaly";
  calibration.threshold = 1.0;
  EXPECT_TRUE(store->save_calibration("node-1", calibration).ok());
  EXPECT_TRUE(store->save_drift_state({"node-1", true, {1, 2, 3}, 7}).ok());
  EXPECT_EQ(store->count_adaptation()->drifting, 1U);
}

TEST_F(SqliteStoreTest, MigrationFromSchemaVersionFourKeepsCapturesAsTheOperators) {
  // A version-4 database (before drift captures and calibration resets).
  {
    auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 1).ok());
    StoredCapture capture;
    capture.device_id = "node-1";
    capture.kind = "features";
    capture.label = "healthy";
    capture.windows_requested = 4;
    capture.created_ms = 2;
    ASSERT_TRUE(store->add_capture(capture).ok());
  }
  execute_sql(db_path(), kUndoMigrationFive + "PRAGMA user_version = 4");

  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query_sql(db_path(), "PRAGMA user_version"), std::to_string(sqlite_schema_version()));
  const auto capture = store->get_capture(1);
  ASSERT_TRUE(capture.ok()) << capture.status().name();
  EXPECT_EQ(capture->label, "healthy");
  EXPECT_EQ(capture->origin, CaptureOrigin::kOperator);
  EXPECT_EQ(capture->origin_event, 0);
  EXPECT_FALSE(store->get_device("node-1")->recalibration.has_value());
  EXPECT_TRUE(store->save_recalibration("node-1", {"anomaly", 3, 1, 9}).ok());
  EXPECT_EQ(store->get_device("node-1")->recalibration->after_generation, 1U);
}

TEST_F(SqliteStoreTest, CommittedDataSurvivesDestructionWithoutCloseButOpenTransactionDoesNot) {
  {
    auto store = open();
    ASSERT_TRUE(store->begin().ok());
    ASSERT_TRUE(store->add_device("kept", 1).ok());
    ASSERT_TRUE(store->commit().ok());
    ASSERT_TRUE(store->begin().ok());
    ASSERT_TRUE(store->add_device("lost", 2).ok());
  }
  auto store = open();
  EXPECT_TRUE(store->get_device("kept").ok());
  EXPECT_EQ(store->get_device("lost").status(), Status(Error::kNotFound));
}

// ---- Transactions ----

TEST_F(SqliteStoreTest, TransactionCallsOutOfOrderAreInvalidState) {
  auto store = open();
  EXPECT_EQ(store->commit(), Status(Error::kInvalidState));
  EXPECT_EQ(store->rollback(), Status(Error::kInvalidState));
  EXPECT_EQ(store->savepoint(), Status(Error::kInvalidState));
  ASSERT_TRUE(store->begin().ok());
  EXPECT_EQ(store->begin(), Status(Error::kInvalidState));
  EXPECT_EQ(store->release_savepoint(), Status(Error::kInvalidState));
  EXPECT_EQ(store->rollback_to_savepoint(), Status(Error::kInvalidState));
  EXPECT_TRUE(store->commit().ok());
}

TEST_F(SqliteStoreTest, NestedSavepointsUndoOnlyTheirOwnWork) {
  auto store = open();
  ASSERT_TRUE(store->begin().ok());
  ASSERT_TRUE(store->savepoint().ok());
  ASSERT_TRUE(store->add_device("outer", 1).ok());
  ASSERT_TRUE(store->savepoint().ok());
  ASSERT_TRUE(store->add_device("inner", 1).ok());
  ASSERT_TRUE(store->rollback_to_savepoint().ok());
  ASSERT_TRUE(store->release_savepoint().ok());
  EXPECT_EQ(store->release_savepoint(), Status(Error::kInvalidState));
  ASSERT_TRUE(store->commit().ok());
  EXPECT_TRUE(store->get_device("outer").ok());
  EXPECT_EQ(store->get_device("inner").status(), Status(Error::kNotFound));
}

// ---- Devices ----

TEST_F(SqliteStoreTest, AddDeviceRefusesDuplicateAndInvalidIds) {
  auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  EXPECT_EQ(store->add_device("node-1", 2), Status(Error::kAlreadyExists));
  EXPECT_EQ(store->add_device("", 1), Status(Error::kInvalidValue));
  EXPECT_EQ(store->add_device("bad/id", 1), Status(Error::kInvalidValue));
  EXPECT_EQ(store->add_device(std::string(100, 'a'), 1), Status(Error::kInvalidValue));
  auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device->created_ms, 1);
}

TEST_F(SqliteStoreTest, UnknownDeviceIsNotFound) {
  auto store = open();
  const std::vector<std::uint8_t> body = {0xa0};
  EXPECT_EQ(store->get_device("ghost").status(), Status(Error::kNotFound));
  EXPECT_EQ(store->save_registration("ghost", body, "rd/1", 60, 5), Status(Error::kNotFound));
  EXPECT_EQ(store->touch_device("ghost", 60, 5), Status(Error::kNotFound));
  EXPECT_EQ(store->set_online("ghost", false), Status(Error::kNotFound));
}

TEST_F(SqliteStoreTest, RegistrationTouchAndOnlineRoundTrip) {
  auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 100).ok());
  auto fresh = store->get_device("node-1");
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->registration.empty());
  EXPECT_EQ(fresh->location, "");
  EXPECT_FALSE(fresh->online);

  const std::vector<std::uint8_t> body = {0xa2, 0x01, 0x02, 0x03, 0x04};
  ASSERT_TRUE(store->save_registration("node-1", body, "rd/7", 300, 200).ok());
  auto registered = store->get_device("node-1");
  ASSERT_TRUE(registered.ok());
  EXPECT_EQ(registered->registration, body);
  EXPECT_EQ(registered->location, "rd/7");
  EXPECT_EQ(registered->lifetime_s, 300U);
  EXPECT_EQ(registered->last_seen_ms, 200);
  EXPECT_TRUE(registered->online);
  EXPECT_EQ(registered->created_ms, 100);

  ASSERT_TRUE(store->set_online("node-1", false).ok());
  EXPECT_FALSE(store->get_device("node-1")->online);

  ASSERT_TRUE(store->touch_device("node-1", 0, 300).ok());  // 0 keeps the lifetime
  auto touched = store->get_device("node-1");
  EXPECT_EQ(touched->lifetime_s, 300U);
  EXPECT_EQ(touched->last_seen_ms, 300);
  EXPECT_TRUE(touched->online);
  ASSERT_TRUE(store->touch_device("node-1", 90, 400).ok());
  EXPECT_EQ(store->get_device("node-1")->lifetime_s, 90U);
  EXPECT_EQ(store->get_device("node-1")->registration, body);
}

TEST_F(SqliteStoreTest, ListDevicesIsOrderedById) {
  auto store = open();
  for (const char* id : {"node-b", "node-c", "node-a"})
    ASSERT_TRUE(store->add_device(id, 1).ok());
  auto devices = store->list_devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 3U);
  EXPECT_EQ((*devices)[0].id, "node-a");
  EXPECT_EQ((*devices)[1].id, "node-b");
  EXPECT_EQ((*devices)[2].id, "node-c");
}

// ---- Models ----

TEST_F(SqliteStoreTest, PutModelStoresPayloadUnderItsDigestOnce) {
  auto store = open();
  const std::vector<std::uint8_t> payload = {0x53, 0x50, 0x4e, 0x44, 0x00, 0xff, 0x10};
  auto model = store->put_model("anomaly-v1", payload, 50);
  ASSERT_TRUE(model.ok());
  const std::string digest = test::to_hex(crypto::Sha256::of(payload));
  EXPECT_EQ(model->digest, digest);
  EXPECT_EQ(model->size, payload.size());
  EXPECT_EQ(model->model_id, "anomaly-v1");
  EXPECT_EQ(model->created_ms, 50);
  EXPECT_EQ(test::read_file((data_dir_ / "models" / digest).string()), payload);

  auto again = store->put_model("renamed", payload, 60);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->model_id, "anomaly-v1");
  EXPECT_EQ(again->created_ms, 50);
  auto models = store->list_models();
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1U);
  EXPECT_EQ((*models)[0].digest, digest);
  EXPECT_EQ(std::distance(fs::directory_iterator(data_dir_ / "models"), {}), 1);

  auto read = store->read_model_payload(digest);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, payload);
  auto got = store->get_model(digest);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size, payload.size());
}

TEST_F(SqliteStoreTest, PutModelRefusesBadIdAndEmptyPayload) {
  auto store = open();
  const std::vector<std::uint8_t> payload = {1};
  EXPECT_EQ(store->put_model("no spaces", payload, 1).status(), Status(Error::kInvalidValue));
  EXPECT_EQ(store->put_model("empty", {}, 1).status(), Status(Error::kInvalidValue));
  EXPECT_TRUE(store->list_models()->empty());
}

TEST_F(SqliteStoreTest, CorruptedModelFileIsDigestMismatch) {
  auto store = open();
  const std::vector<std::uint8_t> payload = {9, 8, 7, 6, 5};
  auto model = store->put_model("anomaly", payload, 1);
  ASSERT_TRUE(model.ok());
  {
    std::fstream file(data_dir_ / "models" / model->digest,
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2);
    file.put('\x42');
  }
  EXPECT_EQ(store->read_model_payload(model->digest).status(), Status(Error::kDigestMismatch));
  // Uploading the same bytes again repairs the copy.
  ASSERT_TRUE(store->put_model("anomaly", payload, 2).ok());
  EXPECT_TRUE(store->read_model_payload(model->digest).ok());
}

TEST_F(SqliteStoreTest, UnknownOrMalformedDigestIsNotFound) {
  auto store = open();
  EXPECT_EQ(store->get_model(std::string(64, 'a')).status(), Status(Error::kNotFound));
  EXPECT_EQ(store->read_model_payload(std::string(64, 'a')).status(), Status(Error::kNotFound));
  EXPECT_EQ(store->read_model_payload("../spindle.db").status(), Status(Error::kNotFound));
}

// ---- Deployments ----

TEST_F(SqliteStoreTest, AddDeploymentNeedsKnownDeviceAndModel) {
  auto store = open();
  const std::string digest = add_device_and_model(*store, "node-1");
  EXPECT_EQ(store->add_deployment(deployment("ghost", digest, 1, 5)).status(),
            Status(Error::kNotFound));
  EXPECT_EQ(store->add_deployment(deployment("node-1", std::string(64, 'e'), 1, 5)).status(),
            Status(Error::kNotFound));
  auto id = store->add_deployment(deployment("node-1", digest, 1, 5));
  ASSERT_TRUE(id.ok());
  auto all = store->device_deployments("node-1");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1U);
  const StoredDeployment& stored = (*all)[0];
  EXPECT_EQ(stored.id, *id);
  EXPECT_EQ(stored.model_digest, digest);
  EXPECT_EQ(stored.model_id, "anomaly");
  EXPECT_EQ(stored.version, 1U);
  EXPECT_EQ(stored.manifest, (Bytes{0xd2, 0x84, 0x01}));
  EXPECT_EQ(stored.state, DeploymentState::kPending);
  EXPECT_EQ(stored.created_ms, 5);
  EXPECT_EQ(stored.updated_ms, 5);
}

TEST_F(SqliteStoreTest, CurrentDeploymentsAreTheNewestPerDevice) {
  auto store = open();
  const std::string digest = add_device_and_model(*store, "node-b");
  ASSERT_TRUE(store->add_device("node-a", 1).ok());
  ASSERT_TRUE(store->add_device("node-idle", 1).ok());
  auto b1 = store->add_deployment(deployment("node-b", digest, 1, 10));
  auto a1 = store->add_deployment(deployment("node-a", digest, 1, 11));
  auto b2 = store->add_deployment(deployment("node-b", digest, 2, 12));
  ASSERT_TRUE(b1.ok() && a1.ok() && b2.ok());
  EXPECT_LT(*b1, *a1);
  EXPECT_LT(*a1, *b2);

  auto current = store->current_deployments();
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 2U);
  EXPECT_EQ((*current)[0].device_id, "node-a");
  EXPECT_EQ((*current)[0].id, *a1);
  EXPECT_EQ((*current)[1].device_id, "node-b");
  EXPECT_EQ((*current)[1].id, *b2);
  EXPECT_EQ((*current)[1].version, 2U);

  auto history = store->device_deployments("node-b");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2U);
  EXPECT_EQ((*history)[0].id, *b2);
  EXPECT_EQ((*history)[1].id, *b1);
  EXPECT_TRUE(store->device_deployments("node-idle")->empty());
}

TEST_F(SqliteStoreTest, SetDeploymentStateRecordsTheReport) {
  auto store = open();
  const std::string digest = add_device_and_model(*store, "node-1");
  auto id = store->add_deployment(deployment("node-1", digest, 1, 10));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(store->set_deployment_state(*id, DeploymentState::kConfirmed, "ok", 20).ok());
  auto current = store->current_deployments();
  ASSERT_TRUE(current.ok());
  ASSERT_EQ(current->size(), 1U);
  EXPECT_EQ((*current)[0].state, DeploymentState::kConfirmed);
  EXPECT_EQ((*current)[0].reason, "ok");
  EXPECT_EQ((*current)[0].updated_ms, 20);
  EXPECT_EQ((*current)[0].created_ms, 10);
  EXPECT_EQ(store->set_deployment_state(*id + 100, DeploymentState::kFailed, "timeout", 30),
            Status(Error::kNotFound));
}

TEST_F(SqliteStoreTest, DeploymentStatesAreStoredAsTheirNames) {
  auto store = open();
  const std::string digest = add_device_and_model(*store, "node-1");
  auto id = store->add_deployment(deployment("node-1", digest, 1, 10));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM deployments"), "pending");
  ASSERT_TRUE(store->set_deployment_state(*id, DeploymentState::kRolledBack, "ok", 20).ok());
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM deployments"), "rolled-back");
}

TEST_F(SqliteStoreTest, AnUnknownStoredDeploymentStateIsAnError) {
  auto store = open();
  const std::string digest = add_device_and_model(*store, "node-1");
  ASSERT_TRUE(store->add_deployment(deployment("node-1", digest, 1, 10)).ok());
  execute_sql(db_path(), "UPDATE deployments SET state = 'installed'");
  EXPECT_EQ(store->current_deployments().status(), Status(Error::kIoError));
  EXPECT_EQ(store->device_deployments("node-1").status(), Status(Error::kIoError));
}

// ---- Attestation ----

TEST_F(SqliteStoreTest, TheLatestAttestationVerdictIsKeptPerDevice) {
  auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  ASSERT_TRUE(store->add_device("node-2", 1).ok());
  EXPECT_FALSE(store->get_device("node-1")->attestation.has_value());

  const StoredAttestation first{.verdict = AttestationVerdict::kMismatch,
                                .time_ms = 20,
                                .nonce = "00112233445566778899aabbccddeeff",
                                .active_digest = std::string(64, 'a'),
                                .firmware = "0.1.0",
                                .expected_digest = std::string(64, 'b')};
  ASSERT_TRUE(store->save_attestation("node-1", first).ok());
  const StoredAttestation second{.verdict = AttestationVerdict::kMatch,
                                 .time_ms = 30,
                                 .nonce = "ffeeddccbbaa99887766554433221100",
                                 .active_digest = std::string(64, 'b'),
                                 .firmware = "0.2.0",
                                 .expected_digest = ""};
  ASSERT_TRUE(store->save_attestation("node-1", second).ok());

  const auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok());
  ASSERT_TRUE(device->attestation.has_value());
  EXPECT_EQ(device->attestation->verdict, AttestationVerdict::kMatch);
  EXPECT_EQ(device->attestation->time_ms, 30);
  EXPECT_EQ(device->attestation->nonce, second.nonce);
  EXPECT_EQ(device->attestation->active_digest, second.active_digest);
  EXPECT_EQ(device->attestation->firmware, "0.2.0");
  EXPECT_EQ(device->attestation->expected_digest, "");

  const auto devices = store->list_devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 2U);
  EXPECT_EQ((*devices)[0].attestation->verdict, AttestationVerdict::kMatch);
  EXPECT_FALSE((*devices)[1].attestation.has_value());

  EXPECT_EQ(store->save_attestation("node-9", first), Status(Error::kNotFound));
}

TEST_F(SqliteStoreTest, AnAttestationVerdictIsStoredAsItsNameAndAnUnknownStoredNameIsAnError) {
  auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  StoredAttestation attestation;
  attestation.verdict = AttestationVerdict::kMacInvalid;
  attestation.time_ms = 20;
  ASSERT_TRUE(store->save_attestation("node-1", attestation).ok());
  EXPECT_EQ(query_sql(db_path(), "SELECT verdict FROM attestations"), "mac-invalid");
  execute_sql(db_path(), "UPDATE attestations SET verdict = 'fine'");
  EXPECT_EQ(store->get_device("node-1").status(), Status(Error::kIoError));
  EXPECT_EQ(store->list_devices().status(), Status(Error::kIoError));
}

// ---- Calibration and drift ----

StoredCalibration calibration_of(std::string model_id, status_report::CalibrationState state,
                                 std::int64_t now_ms) {
  StoredCalibration c;
  c.model_id = std::move(model_id);
  c.version = 4;
  c.state = state;
  c.generation = 2;
  c.windows_done = 450;
  c.windows_total = 600;
  c.threshold = 0.8125;
  c.clamp = status_report::ThresholdClamp::kLower;
  c.normalization = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e};
  c.updated_ms = now_ms;
  return c;
}

TEST_F(SqliteStoreTest, TheLatestCalibrationReportIsKeptPerDeviceAndSurvivesReopen) {
  {
    auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 1).ok());
    ASSERT_TRUE(store->add_device("node-2", 1).ok());
    EXPECT_FALSE(store->get_device("node-1")->calibration.has_value());
    ASSERT_TRUE(store
                    ->save_calibration(
                        "node-1", calibration_of("anomaly",
                                                 status_report::CalibrationState::kNormalizing, 10))
                    .ok());
    // A later report replaces it, whatever its model.
    ASSERT_TRUE(
        store
            ->save_calibration(
                "node-1",
                calibration_of("other-model", status_report::CalibrationState::kThresholding, 20))
            .ok());
  }
  auto store = open();
  const auto device = store->get_device("node-1");
  ASSERT_TRUE(device.ok()) << device.status().name();
  ASSERT_TRUE(device->calibration.has_value());
  const StoredCalibration& c = *device->calibration;
  const StoredCalibration expected =
      calibration_of("other-model", status_report::CalibrationState::kThresholding, 20);
  EXPECT_EQ(c.model_id, expected.model_id);
  EXPECT_EQ(c.version, expected.version);
  EXPECT_EQ(c.state, expected.state);
  EXPECT_EQ(c.generation, expected.generation);
  EXPECT_EQ(c.windows_done, expected.windows_done);
  EXPECT_EQ(c.windows_total, expected.windows_total);
  EXPECT_EQ(c.threshold, expected.threshold);
  EXPECT_EQ(c.clamp, expected.clamp);
  EXPECT_EQ(c.normalization, expected.normalization);
  EXPECT_EQ(c.updated_ms, 20);
  const auto devices = store->list_devices();
  ASSERT_TRUE(devices.ok());
  ASSERT_EQ(devices->size(), 2U);
  EXPECT_EQ((*devices)[0].calibration->model_id, "other-model");
  EXPECT_FALSE((*devices)[1].calibration.has_value());
  EXPECT_EQ(store->save_calibration(
                "node-9", calibration_of("anomaly", status_report::CalibrationState::kNone, 1)),
            Status(Error::kNotFound));
}

TEST_F(SqliteStoreTest, ACalibrationStateIsStoredAsItsNameAndAnUnknownStoredNameIsAnError) {
  auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  ASSERT_TRUE(
      store
          ->save_calibration(
              "node-1", calibration_of("anomaly", status_report::CalibrationState::kCalibrated, 3))
          .ok());
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM calibrations"), "calibrated");
  EXPECT_EQ(query_sql(db_path(), "SELECT clamp FROM calibrations"), "lower");
  execute_sql(db_path(), "UPDATE calibrations SET clamp = 'sideways'");
  EXPECT_EQ(store->get_device("node-1").status(), Status(Error::kIoError));
  execute_sql(db_path(), "UPDATE calibrations SET clamp = 'none', state = 'confused'");
  EXPECT_EQ(store->list_devices().status(), Status(Error::kIoError));
  EXPECT_EQ(store->count_adaptation().status(), Status(Error::kIoError));
}

TEST_F(SqliteStoreTest, DriftStatesRoundTripAndTheFleetCountsFollowThem) {
  auto store = open();
  for (const char* id : {"node-1", "node-2", "node-3"})
    ASSERT_TRUE(store->add_device(id, 1).ok());
  auto counts = store->count_adaptation();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->drifting, 0U);
  for (const auto n : counts->calibration_states)
    EXPECT_EQ(n, 0U);

  EXPECT_EQ(store->get_drift_state("node-1").status(), Status(Error::kNotFound));
  ASSERT_TRUE(store->save_drift_state({"node-1", true, {1, 2, 3}, 10}).ok());
  ASSERT_TRUE(store->save_drift_state({"node-2", true, {4}, 11}).ok());
  ASSERT_TRUE(store->save_drift_state({"node-2", false, {5, 6}, 12}).ok());  // replaces
  const auto state = store->get_drift_state("node-2");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->device_id, "node-2");
  EXPECT_FALSE(state->drifting);
  EXPECT_EQ(state->state, (Bytes{5, 6}));
  EXPECT_EQ(state->updated_ms, 12);
  EXPECT_EQ(store->save_drift_state({"node-9", false, {1}, 1}), Status(Error::kNotFound));

  using status_report::CalibrationState;
  ASSERT_TRUE(
      store->save_calibration("node-1", calibration_of("a", CalibrationState::kCalibrated, 1))
          .ok());
  ASSERT_TRUE(
      store->save_calibration("node-2", calibration_of("a", CalibrationState::kCalibrated, 1))
          .ok());
  ASSERT_TRUE(
      store->save_calibration("node-3", calibration_of("a", CalibrationState::kNormalizing, 1))
          .ok());
  counts = store->count_adaptation();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->drifting, 1U);
  EXPECT_EQ(counts->calibration_states[static_cast<std::size_t>(CalibrationState::kCalibrated)],
            2U);
  EXPECT_EQ(counts->calibration_states[static_cast<std::size_t>(CalibrationState::kNormalizing)],
            1U);
  EXPECT_EQ(counts->calibration_states[static_cast<std::size_t>(CalibrationState::kNone)], 0U);
}

// ---- Telemetry ----

TEST_F(SqliteStoreTest, RetransmittedTelemetryIsStoredOnce) {
  auto store = open();
  const std::vector<TelemetryRecord> batch = {reading("node-1", 1, "rms", 100.0, 0.5),
                                              reading("node-1", 1, "peak", 100.0, 1.5),
                                              reading("node-1", 2, "rms", 101.0, 0.6)};
  auto first = store->append_telemetry(batch);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 3U);
  auto again = store->append_telemetry(batch);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0U);
  const std::vector<TelemetryRecord> overlapping = {reading("node-1", 2, "rms", 101.0, 0.6),
                                                    reading("node-1", 3, "rms", 102.0, 0.7)};
  auto partly = store->append_telemetry(overlapping);
  ASSERT_TRUE(partly.ok());
  EXPECT_EQ(*partly, 1U);
  EXPECT_EQ(*store->count_telemetry("node-1"), 4U);
}

TEST_F(SqliteStoreTest, WipedNodeRestartingSeqWithNewTimesIsStored) {
  auto store = open();
  const std::vector<TelemetryRecord> before = {reading("node-1", 1, "rms", 100.0, 0.5)};
  const std::vector<TelemetryRecord> after_wipe = {reading("node-1", 1, "rms", 900.0, 0.4)};
  const std::vector<TelemetryRecord> other_node = {reading("node-2", 1, "rms", 100.0, 0.5)};
  EXPECT_EQ(*store->append_telemetry(before), 1U);
  EXPECT_EQ(*store->append_telemetry(after_wipe), 1U);
  EXPECT_EQ(*store->append_telemetry(other_node), 1U);
  EXPECT_EQ(*store->count_telemetry("node-1"), 2U);
  EXPECT_EQ(*store->count_telemetry(""), 3U);
}

TEST_F(SqliteStoreTest, TelemetryRoundTripsEveryValueKind) {
  auto store = open();
  std::vector<TelemetryRecord> batch(5, reading("node-1", 7, "", 0.0, 0.0));
  batch[0].name = "number";
  batch[0].number = -12.25;
  batch[1].name = "text";
  batch[1].kind = senml::ValueKind::kString;
  batch[1].number = 0.0;
  batch[1].text = "bearing fault";
  batch[1].unit = "";
  batch[2].name = "flag";
  batch[2].kind = senml::ValueKind::kBool;
  batch[2].boolean = true;
  batch[3].name = "blob";
  batch[3].kind = senml::ValueKind::kData;
  batch[3].data = {0x00, 0x01, 0xfe};
  batch[4].name = "nan";
  batch[4].number = std::nan("");
  for (std::size_t i = 0; i < batch.size(); ++i)
    batch[i].time = 1700000000.5 + static_cast<double>(i);
  ASSERT_EQ(*store->append_telemetry(batch), batch.size());

  auto stored = store->query_telemetry({});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const TelemetryRecord& got = (*stored)[i];
    const TelemetryRecord& want = batch[i];
    EXPECT_GT(got.id, i == 0 ? 0 : (*stored)[i - 1].id);
    EXPECT_EQ(got.device_id, want.device_id);
    EXPECT_EQ(got.seq, want.seq);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.time, want.time);
    EXPECT_EQ(got.unit, want.unit);
    EXPECT_EQ(got.kind, want.kind);
    if (std::isnan(want.number)) {
      EXPECT_TRUE(std::isnan(got.number));
    } else {
      EXPECT_EQ(got.number, want.number);
    }
    EXPECT_EQ(got.text, want.text);
    EXPECT_EQ(got.boolean, want.boolean);
    EXPECT_EQ(got.data, want.data);
    EXPECT_EQ(got.received_ms, want.received_ms);
  }
}

TEST_F(SqliteStoreTest, LargeSeqSurvivesTheSignedColumn) {
  auto store = open();
  const std::vector<TelemetryRecord> batch = {
      reading("node-1", std::numeric_limits<std::uint64_t>::max(), "rms", 1.0, 1.0)};
  ASSERT_EQ(*store->append_telemetry(batch), 1U);
  EXPECT_EQ((*store->query_telemetry({}))[0].seq, std::numeric_limits<std::uint64_t>::max());
}

TEST_F(SqliteStoreTest, RollbackToSavepointUndoesOnlyThatTelemetryBatch) {
  auto store = open();
  const std::vector<TelemetryRecord> kept = {reading("node-1", 1, "rms", 1.0, 1.0)};
  const std::vector<TelemetryRecord> undone = {reading("node-1", 2, "rms", 2.0, 1.0),
                                               reading("node-1", 3, "rms", 3.0, 1.0)};
  const std::vector<TelemetryRecord> also_kept = {reading("node-1", 4, "rms", 4.0, 1.0)};
  ASSERT_TRUE(store->begin().ok());
  ASSERT_TRUE(store->savepoint().ok());
  ASSERT_EQ(*store->append_telemetry(kept), 1U);
  ASSERT_TRUE(store->release_savepoint().ok());
  ASSERT_TRUE(store->savepoint().ok());
  ASSERT_EQ(*store->append_telemetry(undone), 2U);
  ASSERT_TRUE(store->rollback_to_savepoint().ok());
  ASSERT_TRUE(store->savepoint().ok());
  ASSERT_EQ(*store->append_telemetry(also_kept), 1U);
  ASSERT_TRUE(store->release_savepoint().ok());
  ASSERT_TRUE(store->commit().ok());
  auto stored = store->query_telemetry({});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(times_of(*stored), (std::vector<double>{1.0, 4.0}));
}

TEST_F(SqliteStoreTest, TelemetryAppendedInsideRolledBackTransactionIsGone) {
  auto store = open();
  const std::vector<TelemetryRecord> batch = {reading("node-1", 1, "rms", 1.0, 1.0)};
  ASSERT_TRUE(store->begin().ok());
  ASSERT_EQ(*store->append_telemetry(batch), 1U);
  ASSERT_TRUE(store->rollback().ok());
  EXPECT_EQ(*store->count_telemetry("node-1"), 0U);
  // The rolled-back batch is not a duplicate of anything.
  EXPECT_EQ(*store->append_telemetry(batch), 1U);
}

TEST_F(SqliteStoreTest, AppendFailsWholeAndLeavesStoreUsableWhenDatabaseIsLocked) {
  auto writer = open();
  SqliteOptions impatient;
  impatient.busy_timeout_ms = 0;
  auto blocked = open(impatient);
  const std::vector<TelemetryRecord> batch = {reading("node-1", 1, "rms", 1.0, 1.0),
                                              reading("node-1", 2, "rms", 2.0, 1.0)};
  ASSERT_TRUE(writer->begin().ok());
  EXPECT_EQ(blocked->append_telemetry(batch).status(), Status(Error::kIoError));
  ASSERT_TRUE(writer->commit().ok());
  EXPECT_EQ(*blocked->count_telemetry(""), 0U);
  EXPECT_EQ(blocked->commit(), Status(Error::kInvalidState));  // no transaction left open
  EXPECT_EQ(*blocked->append_telemetry(batch), 2U);
}

TEST_F(SqliteStoreTest, QueryTelemetryAppliesEveryFilter) {
  auto store = open();
  std::vector<TelemetryRecord> batch;
  for (int i = 0; i < 10; ++i) {
    const double time = 100.0 + i;
    batch.push_back(reading("node-1", static_cast<std::uint64_t>(i), "rms", time, 0.1));
    batch.push_back(reading("node-1", static_cast<std::uint64_t>(i), "peak", time, 0.2));
    batch.push_back(reading("node-2", static_cast<std::uint64_t>(i), "rms", time, 0.3));
  }
  ASSERT_EQ(*store->append_telemetry(batch), 30U);

  TelemetryQuery by_device;
  by_device.device_id = "node-2";
  auto node2 = store->query_telemetry(by_device);
  ASSERT_TRUE(node2.ok());
  ASSERT_EQ(node2->size(), 10U);
  for (const auto& r : *node2)
    EXPECT_EQ(r.device_id, "node-2");

  TelemetryQuery by_name_and_time;
  by_name_and_time.device_id = "node-1";
  by_name_and_time.name = "peak";
  by_name_and_time.from = 103.0;
  by_name_and_time.to = 106.0;
  auto window = store->query_telemetry(by_name_and_time);
  ASSERT_TRUE(window.ok());
  EXPECT_EQ(times_of(*window), (std::vector<double>{103.0, 104.0, 105.0}));
  for (const auto& r : *window)
    EXPECT_EQ(r.name, "peak");

  TelemetryQuery by_name_only;
  by_name_only.name = "rms";
  EXPECT_EQ(store->query_telemetry(by_name_only)->size(), 20U);

  // Paging: pages of 4 by after_id visit every record once, in id order.
  TelemetryQuery page;
  page.limit = 4;
  std::vector<std::int64_t> ids;
  while (true) {
    auto records = store->query_telemetry(page);
    ASSERT_TRUE(records.ok());
    if (records->empty()) break;
    EXPECT_LE(records->size(), 4U);
    for (const auto& r : *records)
      ids.push_back(r.id);
    page.after_id = records->back().id;
  }
  ASSERT_EQ(ids.size(), 30U);
  for (std::size_t i = 1; i < ids.size(); ++i)
    EXPECT_LT(ids[i - 1], ids[i]);

  TelemetryQuery none;
  none.limit = 0;
  EXPECT_TRUE(store->query_telemetry(none)->empty());
}

// ---- Events ----

TEST_F(SqliteStoreTest, EventsAreAppendedAndQueriedWithFilters) {
  auto store = open();
  ASSERT_TRUE(store->append_event("node-1", "registered", "rd/1", 1000).ok());
  ASSERT_TRUE(store->append_event("node-2", "registered", "rd/2", 2000).ok());
  ASSERT_TRUE(store->append_event("node-1", "offline", "", 3000).ok());
  ASSERT_TRUE(store->append_event("", "started", "v0.1.0", 4000).ok());

  auto all = store->query_events({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4U);
  EXPECT_EQ((*all)[3].device_id, "");
  EXPECT_EQ((*all)[3].detail, "v0.1.0");
  EXPECT_EQ((*all)[3].time_ms, 4000);

  EventQuery node1;
  node1.device_id = "node-1";
  auto events = store->query_events(node1);
  ASSERT_EQ(events->size(), 2U);
  EXPECT_EQ((*events)[0].kind, "registered");
  EXPECT_EQ((*events)[1].kind, "offline");

  EventQuery registered;
  registered.kind = "registered";
  registered.from_ms = 1500;
  events = store->query_events(registered);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].device_id, "node-2");

  EventQuery window;
  window.from_ms = 2000;
  window.to_ms = 4000;
  window.after_id = (*all)[1].id;
  window.limit = 5;
  events = store->query_events(window);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].kind, "offline");

  EventQuery first;
  first.limit = 1;
  events = store->query_events(first);
  ASSERT_EQ(events->size(), 1U);
  EXPECT_EQ((*events)[0].id, (*all)[0].id);
}

// ---- Several connections ----

TEST_F(SqliteStoreTest, ReaderSeesWhatTheWriterCommitsAndNothingBefore) {
  auto writer = open();
  auto reader = open();
  const std::vector<TelemetryRecord> batch = {reading("node-1", 1, "rms", 1.0, 1.0)};
  ASSERT_TRUE(writer->begin().ok());
  ASSERT_TRUE(writer->add_device("node-1", 1).ok());
  ASSERT_EQ(*writer->append_telemetry(batch), 1U);
  // WAL: the reader is not blocked by the open write transaction, and does not see it.
  EXPECT_EQ(reader->get_device("node-1").status(), Status(Error::kNotFound));
  EXPECT_EQ(*reader->count_telemetry("node-1"), 0U);
  ASSERT_TRUE(writer->commit().ok());
  EXPECT_TRUE(reader->get_device("node-1").ok());
  EXPECT_EQ(*reader->count_telemetry("node-1"), 1U);
}

}  // namespace
}  // namespace spindle::gateway

// ---- Captures ----

namespace spindle::gateway {
namespace {

StoredCaptureChunk chunk_of(std::int64_t capture, std::uint32_t sequence, std::uint32_t first,
                            std::uint32_t count) {
  StoredCaptureChunk chunk;
  chunk.capture_id = capture;
  chunk.sequence = sequence;
  chunk.first_window = first;
  chunk.window_count = count;
  chunk.board = "native_sim";
  chunk.sample_rate_hz = 3200;
  chunk.window_length = 1024;
  chunk.axes = 3;
  chunk.feature_count = 45;
  chunk.data.assign(std::size_t{count} * 45 * 4, static_cast<std::uint8_t>(sequence));
  chunk.received_ms = 100 + sequence;
  return chunk;
}

TEST_F(SqliteStoreTest, ACaptureCollectsEachChunkOnceAndCompletes) {
  const auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  StoredCapture request;
  request.device_id = "node-1";
  request.kind = "features";
  request.label = "healthy";
  request.windows_requested = 5;
  request.created_ms = 50;
  const auto capture = store->add_capture(request);
  ASSERT_TRUE(capture.ok()) << capture.status().name();
  EXPECT_EQ(capture->state, CaptureState::kRequested);
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM captures"), "requested");
  EXPECT_EQ(capture->label, "healthy");
  EXPECT_TRUE(capture->board.empty());

  EXPECT_TRUE(*store->add_capture_chunk(chunk_of(capture->id, 0, 0, 3)));
  EXPECT_FALSE(*store->add_capture_chunk(chunk_of(capture->id, 0, 0, 3)));  // re-sent
  auto now = store->get_capture(capture->id);
  EXPECT_EQ(now->state, CaptureState::kCollecting);
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM captures"), "collecting");
  EXPECT_EQ(now->windows_received, 3U);
  EXPECT_EQ(now->board, "native_sim");
  EXPECT_EQ(now->feature_count, 45U);
  EXPECT_TRUE(*store->add_capture_chunk(chunk_of(capture->id, 1, 3, 2)));
  now = store->get_capture(capture->id);
  EXPECT_EQ(now->state, CaptureState::kComplete);
  EXPECT_EQ(query_sql(db_path(), "SELECT state FROM captures"), "complete");
  EXPECT_EQ(now->windows_received, 5U);
  EXPECT_EQ(now->chunks_received, 2U);
  EXPECT_EQ(now->completed_ms, 101);
  // After completion: a re-sent chunk is still recognised, a new one is refused.
  EXPECT_FALSE(*store->add_capture_chunk(chunk_of(capture->id, 1, 3, 2)));
  EXPECT_EQ(store->add_capture_chunk(chunk_of(capture->id, 2, 5, 1)).status(),
            Status(Error::kInvalidState));
  EXPECT_EQ(store->add_capture_chunk(chunk_of(capture->id + 1, 0, 0, 1)).status(),
            Status(Error::kNotFound));
  const auto chunks = store->capture_chunks(capture->id);
  ASSERT_EQ(chunks->size(), 2U);
  EXPECT_EQ((*chunks)[1].first_window, 3U);
  EXPECT_EQ((*chunks)[1].data.size(), 2U * 45 * 4);
}

TEST_F(SqliteStoreTest, ACaptureKeepsItsOriginAndTheDriftEventThatOpenedIt) {
  {
    const auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 1).ok());
    const auto first = store->append_event("node-1", "drift", "against calibration", 10);
    const auto second = store->append_event("node-1", "drift", "again", 11);
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_GT(*second, *first);  // append_event returns the event's id
    StoredCapture request;
    request.device_id = "node-1";
    request.kind = "features";
    request.label = "drift:calibration:x_rms";
    request.windows_requested = 300;
    request.origin = CaptureOrigin::kDrift;
    request.origin_event = *second;
    request.created_ms = 12;
    const auto capture = store->add_capture(request);
    ASSERT_TRUE(capture.ok()) << capture.status().name();
    EXPECT_EQ(capture->origin, CaptureOrigin::kDrift);
    EXPECT_EQ(capture->origin_event, *second);
  }
  const auto store = open();
  EXPECT_EQ(query_sql(db_path(), "SELECT origin FROM captures"), "drift");
  const auto captures = store->list_captures("node-1", true);
  ASSERT_EQ(captures->size(), 1U);
  EXPECT_EQ(captures->front().origin, CaptureOrigin::kDrift);
  EXPECT_EQ(captures->front().label, "drift:calibration:x_rms");
  execute_sql(db_path(), "UPDATE captures SET origin = 'robot'");
  EXPECT_EQ(store->get_capture(captures->front().id).status(), Status(Error::kIoError));
}

TEST_F(SqliteStoreTest, ACalibrationResetIsKeptPerDeviceUntilCleared) {
  {
    const auto store = open();
    ASSERT_TRUE(store->add_device("node-1", 1).ok());
    ASSERT_TRUE(store->add_device("node-2", 1).ok());
    EXPECT_FALSE(store->get_device("node-1")->recalibration.has_value());
    ASSERT_TRUE(store->save_recalibration("node-1", {"anomaly", 3, 1, 100}).ok());
    ASSERT_TRUE(store->save_recalibration("node-1", {"anomaly", 3, 2, 200}).ok());  // replaces
    EXPECT_EQ(store->save_recalibration("node-9", {"anomaly", 3, 1, 100}),
              Status(Error::kNotFound));
  }
  const auto store = open();
  const auto devices = store->list_devices();
  ASSERT_EQ(devices->size(), 2U);
  ASSERT_TRUE((*devices)[0].recalibration.has_value());
  EXPECT_EQ((*devices)[0].recalibration->model_id, "anomaly");
  EXPECT_EQ((*devices)[0].recalibration->version, 3U);
  EXPECT_EQ((*devices)[0].recalibration->after_generation, 2U);
  EXPECT_EQ((*devices)[0].recalibration->requested_ms, 200);
  EXPECT_FALSE((*devices)[1].recalibration.has_value());
  EXPECT_TRUE(store->clear_recalibration("node-1").ok());
  EXPECT_TRUE(store->clear_recalibration("node-2").ok());  // none: nothing to do
  EXPECT_FALSE(store->get_device("node-1")->recalibration.has_value());
}

TEST_F(SqliteStoreTest, CapturesListNewestFirstAndFailOnce) {
  const auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  ASSERT_TRUE(store->add_device("node-2", 1).ok());
  StoredCapture request;
  request.kind = "raw";
  request.windows_requested = 2;
  request.device_id = "node-1";
  const auto first = store->add_capture(request);
  request.device_id = "node-2";
  const auto second = store->add_capture(request);
  request.device_id = "node-9";
  EXPECT_EQ(store->add_capture(request).status(), Status(Error::kNotFound));
  const auto all = store->list_captures("", false);
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ((*all)[0].id, second->id);
  EXPECT_EQ(store->list_captures("node-1", true)->size(), 1U);
  EXPECT_TRUE(store->fail_capture(first->id, "node gone", 7).ok());
  EXPECT_EQ(store->fail_capture(first->id, "again", 8), Status(Error::kNotFound));
  EXPECT_EQ(store->get_capture(first->id)->state, CaptureState::kFailed);
  EXPECT_EQ(
      query_sql(db_path(), "SELECT state FROM captures WHERE id = " + std::to_string(first->id)),
      "failed");
  EXPECT_EQ(store->get_capture(first->id)->reason, "node gone");
  EXPECT_TRUE(store->list_captures("node-1", true)->empty());
}

TEST_F(SqliteStoreTest, AnUnknownStoredCaptureStateIsAnError) {
  const auto store = open();
  ASSERT_TRUE(store->add_device("node-1", 1).ok());
  StoredCapture request;
  request.device_id = "node-1";
  request.kind = "raw";
  request.windows_requested = 2;
  const auto capture = store->add_capture(request);
  ASSERT_TRUE(capture.ok());
  execute_sql(db_path(), "UPDATE captures SET state = 'done'");
  EXPECT_EQ(store->get_capture(capture->id).status(), Status(Error::kIoError));
  EXPECT_EQ(store->list_captures("", false).status(), Status(Error::kIoError));
}

}  // namespace
}  // namespace spindle::gateway
