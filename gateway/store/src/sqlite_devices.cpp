// The SQLite store: devices, their latest attestation verdict and calibration report, and
// their drift states.
#include "sqlite_store_private.hpp"

#include "spindle/protocol/limits.hpp"
#include "sqlite_rows_private.hpp"

namespace spindle::gateway::sqlite {

// ---- Devices ----

Status SqliteStore::add_device(std::string_view id, std::int64_t now_ms) {
  if (!check_id(id).ok()) return Error::kInvalidValue;
  return execute("INSERT INTO devices(id, created_ms) VALUES (?1, ?2)", "add device", id, now_ms);
}

Result<StoredDevice> SqliteStore::get_device(std::string_view id) {
  static const std::string kSql = std::string(kSelectDevices) + " WHERE d.id = ?1";
  return find_one(kSql, "get device", device_from_row, id);
}

Result<std::vector<StoredDevice>> SqliteStore::list_devices() {
  static const std::string kSql = std::string(kSelectDevices) + " ORDER BY d.id";
  return find_all(kSql, "list devices", device_from_row);
}

Status SqliteStore::set_device_tags(std::string_view id,
                                    const std::map<std::string, std::string>& tags) {
  for (const auto& [key, value] : tags) {
    std::string why;
    SPINDLE_TRY(check_tag(key, value, &why));
  }
  // All or nothing, also when the caller is not in a transaction.
  const bool own = !in_transaction();
  if (own) SPINDLE_TRY(begin());
  const auto replace = [&]() -> Status {
    SPINDLE_TRY_ASSIGN(const StoredDevice device, get_device(id));
    (void)device;
    SPINDLE_TRY(execute("DELETE FROM device_tags WHERE device_id = ?1", "clear device tags", id));
    for (const auto& [key, value] : tags) {
      SPINDLE_TRY(execute("INSERT INTO device_tags(device_id, key, value) VALUES (?1, ?2, ?3)",
                          "set device tag", id, key, value));
    }
    return kOk;
  };
  const Status status = replace();
  if (own) {
    if (!status.ok()) {
      (void)rollback();
      return status;
    }
    SPINDLE_TRY(commit());
  }
  return status;
}

Status SqliteStore::save_registration(std::string_view id, std::span<const std::uint8_t> body,
                                      std::string_view location, std::uint32_t lifetime_s,
                                      std::int64_t now_ms) {
  constexpr const char* kSql =
      "UPDATE devices SET registration = ?2, location = ?3, lifetime_s = ?4, "
      "last_seen_ms = ?5, online = 1 WHERE id = ?1";
  return update_existing_row(kSql, "save registration", id, body, location, lifetime_s, now_ms);
}

Status SqliteStore::touch_device(std::string_view id, std::uint32_t lifetime_s,
                                 std::int64_t now_ms) {
  constexpr const char* kSql =
      "UPDATE devices SET last_seen_ms = ?2, online = 1, "
      "lifetime_s = CASE WHEN ?3 = 0 THEN lifetime_s ELSE ?3 END WHERE id = ?1";
  return update_existing_row(kSql, "touch device", id, now_ms, lifetime_s);
}

Status SqliteStore::set_online(std::string_view id, bool online) {
  return update_existing_row("UPDATE devices SET online = ?2 WHERE id = ?1", "set device online",
                             id, online);
}

Status SqliteStore::save_attestation(std::string_view device_id,
                                     const StoredAttestation& attestation) {
  // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
  constexpr const char* kSql =
      "INSERT INTO attestations(device_id, verdict, time_ms, nonce, active_digest, firmware, "
      "expected_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(device_id) DO UPDATE "
      "SET verdict = excluded.verdict, time_ms = excluded.time_ms, nonce = excluded.nonce, "
      "active_digest = excluded.active_digest, firmware = excluded.firmware, "
      "expected_digest = excluded.expected_digest";
  return execute(kSql, "save attestation", device_id,
                 std::string_view(attestation_verdict_name(attestation.verdict)),
                 attestation.time_ms, attestation.nonce, attestation.active_digest,
                 attestation.firmware, attestation.expected_digest);
}

Status SqliteStore::save_calibration(std::string_view device_id,
                                     const StoredCalibration& calibration) {
  constexpr const char* kSql =
      "INSERT INTO calibrations(device_id, model_id, version, state, generation, windows_done, "
      "windows_total, threshold, clamp, normalization, updated_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(device_id) DO UPDATE "
      "SET model_id = excluded.model_id, version = excluded.version, state = excluded.state, "
      "generation = excluded.generation, windows_done = excluded.windows_done, "
      "windows_total = excluded.windows_total, threshold = excluded.threshold, "
      "clamp = excluded.clamp, normalization = excluded.normalization, "
      "updated_ms = excluded.updated_ms";
  return execute(kSql, "save calibration", device_id, calibration.model_id, calibration.version,
                 std::string_view(status_report::calibration_state_name(calibration.state)),
                 calibration.generation, calibration.windows_done, calibration.windows_total,
                 calibration.threshold,
                 std::string_view(status_report::threshold_clamp_name(calibration.clamp)),
                 calibration.normalization, calibration.updated_ms);
}

Status SqliteStore::save_recalibration(std::string_view device_id,
                                       const StoredRecalibration& recalibration) {
  // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
  constexpr const char* kSql =
      "INSERT INTO recalibrations(device_id, model_id, version, after_generation, requested_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(device_id) DO UPDATE SET "
      "model_id = excluded.model_id, version = excluded.version, "
      "after_generation = excluded.after_generation, requested_ms = excluded.requested_ms";
  return execute(kSql, "save recalibration", device_id, recalibration.model_id,
                 recalibration.version, recalibration.after_generation, recalibration.requested_ms);
}

Status SqliteStore::clear_recalibration(std::string_view device_id) {
  return execute("DELETE FROM recalibrations WHERE device_id = ?1", "clear recalibration",
                 device_id);
}

// ---- Drift ----

Status SqliteStore::save_drift_state(const StoredDriftState& state) {
  constexpr const char* kSql =
      "INSERT INTO drift_states(device_id, drifting, state, updated_ms) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT(device_id) DO UPDATE SET drifting = excluded.drifting, "
      "state = excluded.state, updated_ms = excluded.updated_ms";
  return execute(kSql, "save drift state", state.device_id, state.drifting, state.state,
                 state.updated_ms);
}

Result<StoredDriftState> SqliteStore::get_drift_state(std::string_view device_id) {
  constexpr const char* kSql =
      "SELECT device_id, drifting, state, updated_ms FROM drift_states WHERE device_id = ?1";
  return find_one(kSql, "get drift state", drift_state_from_row, device_id);
}

Result<AdaptationCounts> SqliteStore::count_adaptation() {
  AdaptationCounts counts;
  SPINDLE_TRY_ASSIGN(
      Statement by_state,
      statement("SELECT state, COUNT(*) FROM calibrations GROUP BY state", "count calibrations"));
  while (true) {
    SPINDLE_TRY_ASSIGN(const bool row, by_state.step());
    if (!row) break;
    const auto state = calibration_state_from_name(by_state.column_text(0));
    if (!state.ok()) return Error::kIoError;
    counts.calibration_states[static_cast<std::size_t>(*state)] = by_state.column_uint64(1);
  }
  SPINDLE_TRY_ASSIGN(
      Statement drifting,
      statement("SELECT COUNT(*) FROM drift_states WHERE drifting = 1", "count drifting devices"));
  SPINDLE_TRY_ASSIGN(const bool row, drifting.step());
  if (row) counts.drifting = drifting.column_uint64(0);
  return counts;
}

}  // namespace spindle::gateway::sqlite
