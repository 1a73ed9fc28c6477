// The SQLite store: staged rollouts and their devices, and the devices' shadow reports.
#include <cstdint>
#include <string>

#include "spindle/gateway/record_states.hpp"
#include "sqlite_rows_private.hpp"
#include "sqlite_store_private.hpp"

namespace spindle::gateway::sqlite {
namespace {

Bytes histogram_bytes(const std::array<std::uint32_t, 16>& histogram) {
  Bytes bytes;
  bytes.reserve(histogram.size() * 4);
  for (const std::uint32_t count : histogram) {
    for (int shift = 0; shift < 32; shift += 8) {
      bytes.push_back(static_cast<std::uint8_t>(count >> shift));
    }
  }
  return bytes;
}

}  // namespace

// ---- Shadow reports ----

Status SqliteStore::save_shadow_report(std::string_view device_id,
                                       const StoredShadowReport& report) {
  // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
  constexpr const char* kSql =
      "INSERT INTO shadow_reports(device_id, model_id, version, scored, compared, agreed, "
      "active_anomalies, shadow_anomalies, active_histogram, shadow_histogram, latency_mean_us, "
      "latency_max_us, calibration, arena_high_water, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
      "ON CONFLICT(device_id) DO UPDATE SET model_id = excluded.model_id, "
      "version = excluded.version, scored = excluded.scored, compared = excluded.compared, "
      "agreed = excluded.agreed, active_anomalies = excluded.active_anomalies, "
      "shadow_anomalies = excluded.shadow_anomalies, "
      "active_histogram = excluded.active_histogram, "
      "shadow_histogram = excluded.shadow_histogram, "
      "latency_mean_us = excluded.latency_mean_us, latency_max_us = excluded.latency_max_us, "
      "calibration = excluded.calibration, arena_high_water = excluded.arena_high_water, "
      "updated_ms = excluded.updated_ms";
  const Bytes active = histogram_bytes(report.active_histogram);
  const Bytes shadow = histogram_bytes(report.shadow_histogram);
  return execute(kSql, "save shadow report", device_id, report.model_id, report.version,
                 report.scored, report.compared, report.agreed, report.active_anomalies,
                 report.shadow_anomalies, active, shadow, report.latency_mean_us,
                 report.latency_max_us,
                 std::string_view(status_report::calibration_state_name(report.calibration)),
                 report.arena_high_water, report.updated_ms);
}

Result<StoredShadowReport> SqliteStore::get_shadow_report(std::string_view device_id) {
  static const std::string kSql = std::string(kSelectShadowReports) + " WHERE device_id = ?1";
  return find_one(kSql, "get shadow report", shadow_report_from_row, device_id);
}

// ---- Rollouts ----

Result<std::int64_t> SqliteStore::add_rollout(const StoredRollout& rollout,
                                              std::span<const StoredRolloutDevice> devices) {
  constexpr const char* kRollout =
      "INSERT INTO rollouts(name, model_id, version, model_digest, plan, phase, stage, "
      "stage_released_ms, halted_gate, halt_detail, created_ms, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)";
  constexpr const char* kDevice =
      "INSERT INTO rollout_devices(rollout_id, device_id, position, step, released_ms, "
      "decided_ms, candidate, promote, discard, revert, previous_deployment, deployment) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
  // All or nothing, also when the caller is not in a transaction.
  const bool own = !in_transaction();
  if (own) SPINDLE_TRY(begin());
  const auto insert = [&]() -> Result<std::int64_t> {
    SPINDLE_TRY(execute(kRollout, "add rollout", rollout.name, rollout.model_id, rollout.version,
                        rollout.model_digest, rollout.plan,
                        std::string_view(rollout_phase_name(rollout.phase)), rollout.stage,
                        rollout.stage_released_ms, rollout.halted_gate, rollout.halt_detail,
                        rollout.created_ms));
    const auto id = static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
    for (const StoredRolloutDevice& d : devices) {
      SPINDLE_TRY(execute(kDevice, "add rollout device", id, d.device_id, d.position,
                          std::string_view(rollout_device_step_name(d.step)), d.released_ms,
                          d.decided_ms, d.candidate, d.promote, d.discard, d.revert,
                          d.previous_deployment, d.deployment));
    }
    return id;
  };
  const Result<std::int64_t> id = insert();
  if (own) {
    if (!id.ok()) {
      (void)rollback();
      return id;
    }
    SPINDLE_TRY(commit());
  }
  return id;
}

Result<StoredRollout> SqliteStore::get_rollout(std::int64_t id) {
  static const std::string kSql = std::string(kSelectRollouts) + " WHERE id = ?1";
  return find_one(kSql, "get rollout", rollout_from_row, id);
}

Result<std::vector<StoredRollout>> SqliteStore::list_rollouts() {
  static const std::string kSql = std::string(kSelectRollouts) + " ORDER BY id DESC";
  return find_all(kSql, "list rollouts", rollout_from_row);
}

Result<std::vector<StoredRolloutDevice>> SqliteStore::rollout_devices(std::int64_t rollout_id) {
  static const std::string kSql =
      std::string(kSelectRolloutDevices) + " WHERE rollout_id = ?1 ORDER BY position";
  return find_all(kSql, "list rollout devices", rollout_device_from_row, rollout_id);
}

Status SqliteStore::save_rollout_state(const StoredRollout& rollout) {
  constexpr const char* kSql =
      "UPDATE rollouts SET phase = ?2, stage = ?3, stage_released_ms = ?4, halted_gate = ?5, "
      "halt_detail = ?6, updated_ms = ?7 WHERE id = ?1";
  return update_existing_row(kSql, "save rollout state", rollout.id,
                             std::string_view(rollout_phase_name(rollout.phase)), rollout.stage,
                             rollout.stage_released_ms, rollout.halted_gate, rollout.halt_detail,
                             rollout.updated_ms);
}

Status SqliteStore::save_rollout_device(const StoredRolloutDevice& device) {
  constexpr const char* kSql =
      "UPDATE rollout_devices SET step = ?3, released_ms = ?4, decided_ms = ?5, deployment = ?6 "
      "WHERE rollout_id = ?1 AND device_id = ?2";
  return update_existing_row(kSql, "save rollout device", device.rollout_id, device.device_id,
                             std::string_view(rollout_device_step_name(device.step)),
                             device.released_ms, device.decided_ms, device.deployment);
}

Result<std::vector<StoredRolloutDevice>> SqliteStore::outstanding_decisions() {
  static const std::string kSql = std::string(kSelectRolloutDevices) +
                                  " WHERE step IN ('promoting', 'discarding', 'reverting') "
                                  "ORDER BY rollout_id, position";
  return find_all(kSql, "list outstanding decisions", rollout_device_from_row);
}

}  // namespace spindle::gateway::sqlite
