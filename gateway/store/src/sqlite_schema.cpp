// The SQLite store's schema: the ordered migrations and how a connection applies them.
#include <array>
#include <cstddef>
#include <string>

#include <spdlog/spdlog.h>

#include "sqlite_store_private.hpp"

namespace spindle::gateway {
namespace {

// Ordered schema migrations: step i takes the database from user_version i to i + 1. Append,
// never edit a released step: databases in the field have already run it.
constexpr std::array<const char*, 6> kMigrations = {
    R"sql(
CREATE TABLE devices (
  id TEXT PRIMARY KEY NOT NULL,
  created_ms INTEGER NOT NULL,
  registration BLOB NOT NULL DEFAULT x'',
  location TEXT NOT NULL DEFAULT '',
  lifetime_s INTEGER NOT NULL DEFAULT 0,
  last_seen_ms INTEGER NOT NULL DEFAULT 0,
  online INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE models (
  digest TEXT PRIMARY KEY NOT NULL,
  size INTEGER NOT NULL,
  model_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
CREATE TABLE deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL REFERENCES devices(id),
  model_digest TEXT NOT NULL REFERENCES models(digest),
  model_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  manifest BLOB NOT NULL,
  created_ms INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE INDEX deployments_by_device ON deployments(device_id, id);
CREATE INDEX deployments_by_model ON deployments(model_digest);
-- number is nullable: SQLite stores a NaN reading as NULL, and a NaN is a valid reading.
CREATE TABLE telemetry (
  id INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  time REAL NOT NULL,
  unit TEXT NOT NULL,
  kind INTEGER NOT NULL,
  number REAL,
  text TEXT NOT NULL,
  boolean INTEGER NOT NULL,
  data BLOB NOT NULL,
  received_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX telemetry_identity ON telemetry(device_id, seq, name, time);
CREATE INDEX telemetry_by_device_time ON telemetry(device_id, time);
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX events_by_device ON events(device_id, id);
CREATE INDEX events_by_kind ON events(kind, id);
CREATE INDEX events_by_time ON events(time_ms);
)sql",
    // 2: the latest attestation verdict of each device.
    R"sql(
CREATE TABLE attestations (
  device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
  verdict TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  nonce TEXT NOT NULL,
  active_digest TEXT NOT NULL,
  firmware TEXT NOT NULL,
  expected_digest TEXT NOT NULL
);
)sql",
    // 3: data captures and their chunks (docs/protocol.md "Data capture").
    R"sql(
CREATE TABLE captures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL REFERENCES devices(id),
  kind TEXT NOT NULL,
  label TEXT NOT NULL,
  windows_requested INTEGER NOT NULL,
  windows_received INTEGER NOT NULL DEFAULT 0,
  chunks_received INTEGER NOT NULL DEFAULT 0,
  board TEXT NOT NULL DEFAULT '',
  sample_rate_hz INTEGER NOT NULL DEFAULT 0,
  window_length INTEGER NOT NULL DEFAULT 0,
  axes INTEGER NOT NULL DEFAULT 0,
  feature_count INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  completed_ms INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX captures_by_device ON captures(device_id, id);
CREATE INDEX captures_by_state ON captures(state, id);
CREATE TABLE capture_chunks (
  capture_id INTEGER NOT NULL REFERENCES captures(id),
  sequence INTEGER NOT NULL,
  first_window INTEGER NOT NULL,
  window_count INTEGER NOT NULL,
  board TEXT NOT NULL,
  sample_rate_hz INTEGER NOT NULL,
  window_length INTEGER NOT NULL,
  axes INTEGER NOT NULL,
  feature_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  received_ms INTEGER NOT NULL,
  PRIMARY KEY (capture_id, sequence)
);
CREATE UNIQUE INDEX capture_chunks_by_window ON capture_chunks(capture_id, first_window);
)sql",
    // 4: per-machine adaptation (docs/gateway/drift.md): the latest calibration report of
    // each device, and each device's drift state.
    R"sql(
CREATE TABLE calibrations (
  device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
  model_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  generation INTEGER NOT NULL,
  windows_done INTEGER NOT NULL,
  windows_total INTEGER NOT NULL,
  threshold REAL NOT NULL,
  clamp TEXT NOT NULL,
  normalization BLOB NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE drift_states (
  device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
  drifting INTEGER NOT NULL,
  state BLOB NOT NULL,
  updated_ms INTEGER NOT NULL
);
)sql",
    // 5: retraining (docs/gateway/drift.md "What drift does"): who opened a capture (the
    // operator, or the gateway for a drifting device, with the drift event's id), and each
    // device's outstanding calibration reset.
    R"sql(
ALTER TABLE captures ADD COLUMN origin TEXT NOT NULL DEFAULT 'operator';
ALTER TABLE captures ADD COLUMN origin_event INTEGER NOT NULL DEFAULT 0;
CREATE INDEX captures_by_origin ON captures(device_id, origin, created_ms);
CREATE TABLE recalibrations (
  device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
  model_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  after_generation INTEGER NOT NULL,
  requested_ms INTEGER NOT NULL
);
)sql",
    // 6: staged rollouts (docs/gateway/rollouts.md): a deployment's role (active or shadow),
    // each device's latest shadow report, device tags for groups, the rollouts with their
    // persisted state and, per device, what spindlectl signed for it and where it stands.
    R"sql(
ALTER TABLE deployments ADD COLUMN role TEXT NOT NULL DEFAULT 'active';
CREATE TABLE shadow_reports (
  device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices(id),
  model_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  scored INTEGER NOT NULL,
  compared INTEGER NOT NULL,
  agreed INTEGER NOT NULL,
  active_anomalies INTEGER NOT NULL,
  shadow_anomalies INTEGER NOT NULL,
  active_histogram BLOB NOT NULL,
  shadow_histogram BLOB NOT NULL,
  latency_mean_us INTEGER NOT NULL,
  latency_max_us INTEGER NOT NULL,
  calibration TEXT NOT NULL,
  arena_high_water INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE device_tags (
  device_id TEXT NOT NULL REFERENCES devices(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (device_id, key)
);
CREATE INDEX device_tags_by_value ON device_tags(key, value);
CREATE TABLE rollouts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  model_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  model_digest TEXT NOT NULL,
  plan TEXT NOT NULL,
  phase TEXT NOT NULL,
  stage INTEGER NOT NULL,
  stage_released_ms INTEGER NOT NULL,
  halted_gate TEXT NOT NULL,
  halt_detail TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE rollout_devices (
  rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
  device_id TEXT NOT NULL REFERENCES devices(id),
  position INTEGER NOT NULL,
  step TEXT NOT NULL,
  released_ms INTEGER NOT NULL,
  decided_ms INTEGER NOT NULL,
  candidate BLOB NOT NULL,
  promote BLOB NOT NULL,
  discard BLOB NOT NULL,
  revert BLOB NOT NULL,
  previous_deployment INTEGER NOT NULL,
  deployment INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_by_step ON rollout_devices(step);
CREATE INDEX rollout_devices_by_position ON rollout_devices(rollout_id, position);
)sql",
};

}  // namespace

int sqlite_schema_version() {
  return static_cast<int>(kMigrations.size());
}

namespace sqlite {

Status SqliteStore::migrate() {
  SPINDLE_TRY_ASSIGN(const std::int64_t version, user_version());
  if (version == static_cast<std::int64_t>(kMigrations.size())) return kOk;
  SPINDLE_TRY(check_version(version));
  SPINDLE_TRY(begin());
  const Status status = apply_migrations();
  if (!status.ok()) {
    (void)rollback();
    return status;
  }
  return commit();
}

Status SqliteStore::apply_migrations() {
  SPINDLE_TRY_ASSIGN(const std::int64_t version, user_version());
  SPINDLE_TRY(check_version(version));
  for (auto step = static_cast<std::size_t>(version); step < kMigrations.size(); ++step) {
    // A migration holds several statements, which only sqlite3_exec runs in one call; it
    // is fixed text of this build, never data.
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, kMigrations[step], nullptr, nullptr, &message);
    sqlite3_free(message);
    SPINDLE_TRY(sqlite_status(db_, rc, "migrate schema"));
    spdlog::info("store: schema migrated to version {}", step + 1);
  }
  // PRAGMA takes no bound parameters; the number is this build's own constant.
  return execute("PRAGMA user_version = " + std::to_string(kMigrations.size()),
                 "set schema version");
}

Result<std::int64_t> SqliteStore::user_version() {
  SPINDLE_TRY_ASSIGN(Statement select, statement("PRAGMA user_version", "read schema version"));
  SPINDLE_TRY_ASSIGN(const bool row, select.step());
  return row ? select.column_int64(0) : 0;
}

Status SqliteStore::check_version(std::int64_t version) {
  if (version > static_cast<std::int64_t>(kMigrations.size()) || version < 0) {
    spdlog::error("store: database schema version {} is newer than this build's {}", version,
                  kMigrations.size());
    return Error::kUnsupportedVersion;
  }
  return kOk;
}

}  // namespace sqlite
}  // namespace spindle::gateway
