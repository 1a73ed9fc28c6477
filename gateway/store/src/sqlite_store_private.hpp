// The SQLite implementation of the gateway Store: one object is one connection in WAL mode.
// Its methods are defined by record family: sqlite_store.cpp (connection, transactions,
// statement cache), sqlite_schema.cpp (migrations), sqlite_devices.cpp (devices, their
// attestations, calibrations and drift states), sqlite_models.cpp (models and deployments),
// sqlite_telemetry.cpp (telemetry and events), sqlite_captures.cpp and sqlite_rollouts.cpp
// (rollouts, their devices, shadow reports). Private to gateway/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "spindle/gateway/store.hpp"
#include "sqlite_statement_private.hpp"

namespace spindle::gateway::sqlite {

// The record a row mapper (sqlite_rows_private.hpp) gives, which returns a Result of it.
template <typename RowMapper>
using RowOf = std::remove_cvref_t<
    decltype(std::declval<RowMapper&>()(std::declval<const Statement&>()).value())>;

// Every statement is prepared once per connection and kept in a cache keyed by its SQL
// text, because the group-commit writer appends telemetry thousands of times a second.
class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::filesystem::path models_dir)
      : db_(db), models_dir_(std::move(models_dir)) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  // Extended result codes, busy timeout, WAL, synchronous, foreign keys, then migrate().
  // Errors: kIoError (also when WAL mode is unavailable), kUnsupportedVersion.
  Status configure(const SqliteOptions& options);

  Status begin() override;
  Status commit() override;
  Status rollback() override;
  Status savepoint() override;
  Status release_savepoint() override;
  Status rollback_to_savepoint() override;

  Status add_device(std::string_view id, std::int64_t now_ms) override;
  Result<StoredDevice> get_device(std::string_view id) override;
  Result<std::vector<StoredDevice>> list_devices() override;
  Status set_device_tags(std::string_view id,
                         const std::map<std::string, std::string>& tags) override;
  Status save_registration(std::string_view id, std::span<const std::uint8_t> body,
                           std::string_view location, std::uint32_t lifetime_s,
                           std::int64_t now_ms) override;
  Status touch_device(std::string_view id, std::uint32_t lifetime_s, std::int64_t now_ms) override;
  Status set_online(std::string_view id, bool online) override;
  Status save_attestation(std::string_view device_id,
                          const StoredAttestation& attestation) override;
  Status save_calibration(std::string_view device_id,
                          const StoredCalibration& calibration) override;

  Status save_recalibration(std::string_view device_id,
                            const StoredRecalibration& recalibration) override;
  Status clear_recalibration(std::string_view device_id) override;

  Status save_drift_state(const StoredDriftState& state) override;
  Result<StoredDriftState> get_drift_state(std::string_view device_id) override;
  Result<AdaptationCounts> count_adaptation() override;

  Result<StoredModel> put_model(std::string_view model_id, std::span<const std::uint8_t> payload,
                                std::int64_t now_ms) override;
  Result<StoredModel> get_model(std::string_view digest) override;
  Result<std::vector<StoredModel>> list_models() override;
  Result<Bytes> read_model_payload(std::string_view digest) override;

  Result<std::int64_t> add_deployment(const StoredDeployment& deployment) override;
  Result<std::vector<StoredDeployment>> current_deployments() override;
  Result<std::vector<StoredDeployment>> device_deployments(std::string_view device_id) override;
  Status set_deployment_state(std::int64_t id, DeploymentState state, std::string_view reason,
                              std::int64_t now_ms) override;
  Result<StoredDeployment> get_deployment(std::int64_t id) override;

  Status save_shadow_report(std::string_view device_id, const StoredShadowReport& report) override;
  Result<StoredShadowReport> get_shadow_report(std::string_view device_id) override;

  Result<std::int64_t> add_rollout(const StoredRollout& rollout,
                                   std::span<const StoredRolloutDevice> devices) override;
  Result<StoredRollout> get_rollout(std::int64_t id) override;
  Result<std::vector<StoredRollout>> list_rollouts() override;
  Result<std::vector<StoredRolloutDevice>> rollout_devices(std::int64_t rollout_id) override;
  Status save_rollout_state(const StoredRollout& rollout) override;
  Status save_rollout_device(const StoredRolloutDevice& device) override;
  Result<std::vector<StoredRolloutDevice>> outstanding_decisions() override;

  Result<std::size_t> append_telemetry(std::span<const TelemetryRecord> records) override;
  Result<std::vector<TelemetryRecord>> query_telemetry(const TelemetryQuery& query) override;
  Result<std::uint64_t> count_telemetry(std::string_view device_id) override;
  Result<TelemetrySummary> summarize_telemetry(std::string_view device_id, double from,
                                               double to) override;

  Result<StoredCapture> add_capture(const StoredCapture& capture) override;
  Result<StoredCapture> get_capture(std::int64_t id) override;
  Result<std::vector<StoredCapture>> list_captures(std::string_view device_id,
                                                   bool active_only) override;
  Result<bool> add_capture_chunk(const StoredCaptureChunk& chunk) override;
  Status fail_capture(std::int64_t id, std::string_view reason, std::int64_t now_ms) override;
  Result<std::vector<StoredCaptureChunk>> capture_chunks(std::int64_t capture_id) override;

  Result<std::int64_t> append_event(std::string_view device_id, std::string_view kind,
                                    std::string_view detail, std::int64_t now_ms) override;
  Result<std::vector<StoredEvent>> query_events(const EventQuery& query) override;

 private:
  // The cached statement for `sql`, prepared on first use. `operation` names the caller in
  // log lines and must be a string literal.
  Result<Statement> statement(std::string_view sql, std::string_view operation);
  // Runs `sql` (no rows expected) with `args` bound to ?1..?N. The bound values must live
  // until it returns (text and blobs are bound SQLITE_STATIC).
  template <typename... Args>
  Status execute(std::string_view sql, std::string_view operation, const Args&... args) {
    SPINDLE_TRY_ASSIGN(Statement stmt, statement(sql, operation));
    SPINDLE_TRY(stmt.bind(args...));
    return stmt.run();
  }
  // Runs an UPDATE of one row by key: no row changed means no such row (kNotFound).
  template <typename... Args>
  Status update_existing_row(std::string_view sql, std::string_view operation,
                             const Args&... args) {
    SPINDLE_TRY(execute(sql, operation, args...));
    return sqlite3_changes64(db_) == 0 ? Status(Error::kNotFound) : kOk;
  }

  // Every row the statement selects, mapped; the first row the mapper refuses ends it.
  template <typename RowMapper>
  static auto collect(Statement& select, RowMapper map_row)
      -> Result<std::vector<RowOf<RowMapper>>> {
    std::vector<RowOf<RowMapper>> rows;
    while (true) {
      SPINDLE_TRY_ASSIGN(const bool row, select.step());
      if (!row) break;
      SPINDLE_TRY_ASSIGN(auto record, map_row(select));
      rows.push_back(std::move(record));
    }
    return rows;
  }

  // Every row that `sql` selects with `args` bound to ?1..?N, mapped.
  template <typename RowMapper, typename... Args>
  auto find_all(std::string_view sql, std::string_view operation, RowMapper map_row,
                const Args&... args) -> Result<std::vector<RowOf<RowMapper>>> {
    SPINDLE_TRY_ASSIGN(Statement select, statement(sql, operation));
    SPINDLE_TRY(select.bind(args...));
    return collect(select, map_row);
  }

  // The row that `sql` selects with `args` bound to ?1..?N (a lookup by key), mapped;
  // kNotFound when there is none.
  template <typename RowMapper, typename... Args>
  auto find_one(std::string_view sql, std::string_view operation, RowMapper map_row,
                const Args&... args) -> Result<RowOf<RowMapper>> {
    SPINDLE_TRY_ASSIGN(Statement select, statement(sql, operation));
    SPINDLE_TRY(select.bind(args...));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (!row) return Error::kNotFound;
    return map_row(select);
  }

  Result<std::size_t> insert_telemetry(std::span<const TelemetryRecord> records);

  // Brings the schema up to date in one IMMEDIATE transaction; the version is read again
  // inside it because another connection may have migrated while this one waited.
  Status migrate();
  Status apply_migrations();
  Result<std::int64_t> user_version();
  static Status check_version(std::int64_t version);

  bool in_transaction();
  Status check_savepoint();
  static std::string savepoint_name(int depth) { return "sp" + std::to_string(depth); }

  sqlite3* db_;
  std::filesystem::path models_dir_;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
  int savepoint_depth_ = 0;
};

}  // namespace spindle::gateway::sqlite
