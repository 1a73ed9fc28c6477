// The SQLite store: telemetry records and events.
#include <string>

#include "sqlite_rows_private.hpp"
#include "sqlite_store_private.hpp"

namespace spindle::gateway::sqlite {

// ---- Telemetry ----

Result<std::size_t> SqliteStore::append_telemetry(std::span<const TelemetryRecord> records) {
  // Inside the writer's transaction a savepoint keeps the batch whole without ending the
  // transaction; alone, the batch is its own transaction.
  const bool own_transaction = !in_transaction();
  SPINDLE_TRY(own_transaction ? begin() : savepoint());
  auto inserted = insert_telemetry(records);
  if (!inserted.ok()) {
    (void)(own_transaction ? rollback() : rollback_to_savepoint());
    return inserted.status();
  }
  SPINDLE_TRY(own_transaction ? commit() : release_savepoint());
  return inserted;
}

Result<std::vector<TelemetryRecord>> SqliteStore::query_telemetry(const TelemetryQuery& query) {
  // One statement per combination of filters, so each can use an index; only fixed SQL
  // fragments are joined, the values are bound.
  std::string sql =
      "SELECT id, device_id, seq, name, time, unit, kind, number, text, boolean, data, "
      "received_ms FROM telemetry WHERE id > ?1 AND time >= ?2 AND time < ?3";
  if (!query.device_id.empty()) sql += " AND device_id = ?5";
  if (!query.name.empty()) sql += " AND name = ?6";
  sql += " ORDER BY id LIMIT ?4";
  SPINDLE_TRY_ASSIGN(Statement select, statement(sql, "query telemetry"));
  SPINDLE_TRY(select.bind(query.after_id, query.from, query.to, sql_limit(query.limit)));
  if (!query.device_id.empty()) SPINDLE_TRY(select.bind_at(5, query.device_id));
  if (!query.name.empty()) SPINDLE_TRY(select.bind_at(6, query.name));
  return collect(select, telemetry_from_row);
}

Result<std::uint64_t> SqliteStore::count_telemetry(std::string_view device_id) {
  SPINDLE_TRY_ASSIGN(
      Statement count,
      statement(device_id.empty() ? "SELECT COUNT(*) FROM telemetry"
                                  : "SELECT COUNT(*) FROM telemetry WHERE device_id = ?1",
                "count telemetry"));
  if (!device_id.empty()) SPINDLE_TRY(count.bind(device_id));
  SPINDLE_TRY_ASSIGN(const bool row, count.step());
  if (!row) return std::uint64_t{0};
  return count.column_uint64(0);
}

Result<TelemetrySummary> SqliteStore::summarize_telemetry(std::string_view device_id, double from,
                                                          double to) {
  // The names of the node's reading profile (firmware/src/telemetry/reading.cpp): every
  // scored window has a score, an anomaly flag and a latency, a calibrating flag while the
  // model calibrates, the arena high-water and the reboot counter.
  constexpr const char* kSql =
      "SELECT name, COUNT(*), TOTAL(boolean), MAX(number), MIN(number) FROM telemetry "
      "WHERE device_id = ?1 AND time >= ?2 AND time < ?3 AND name IN "
      "('score', 'anomaly', 'calibrating', 'latency', 'arena_hwm', 'reboots') GROUP BY name";
  TelemetrySummary summary;
  {
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "summarize telemetry"));
    SPINDLE_TRY(select.bind(device_id, from, to));
    while (true) {
      SPINDLE_TRY_ASSIGN(const bool row, select.step());
      if (!row) break;
      const std::string name = select.column_text(0);
      const std::uint64_t count = select.column_uint64(1);
      const auto flagged = static_cast<std::uint64_t>(select.column_double(2));
      if (name == "score") {
        summary.scored = count;
      } else if (name == "anomaly") {
        summary.anomalies = flagged;
      } else if (name == "calibrating") {
        summary.calibrating = flagged;
      } else if (name == "latency") {
        summary.latency_count = count;
      } else if (name == "arena_hwm") {
        summary.arena_max = select.column_double(3);
      } else if (name == "reboots") {
        summary.reboots_max = select.column_double(3);
        summary.reboots_min = select.column_double(4);
      }
    }
  }
  if (summary.latency_count > 0) {
    // Nearest rank: the ceil(0.95 n)-th smallest.
    constexpr const char* kRank =
        "SELECT number FROM telemetry WHERE device_id = ?1 AND time >= ?2 AND time < ?3 AND "
        "name = 'latency' ORDER BY number LIMIT 1 OFFSET ?4";
    const std::uint64_t rank = (summary.latency_count * 95 + 99) / 100;
    SPINDLE_TRY_ASSIGN(Statement select, statement(kRank, "latency percentile"));
    SPINDLE_TRY(select.bind(device_id, from, to, static_cast<std::int64_t>(rank - 1)));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (row) summary.latency_p95_s = select.column_double(0);
  }
  return summary;
}

// ---- Events ----

Result<std::int64_t> SqliteStore::append_event(std::string_view device_id, std::string_view kind,
                                               std::string_view detail, std::int64_t now_ms) {
  constexpr const char* kSql =
      "INSERT INTO events(time_ms, device_id, kind, detail) VALUES (?1, ?2, ?3, ?4)";
  SPINDLE_TRY(execute(kSql, "append event", now_ms, device_id, kind, detail));
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<StoredEvent>> SqliteStore::query_events(const EventQuery& query) {
  std::string sql =
      "SELECT id, time_ms, device_id, kind, detail FROM events "
      "WHERE id > ?1 AND time_ms >= ?2 AND time_ms < ?3";
  if (!query.device_id.empty()) sql += " AND device_id = ?5";
  if (!query.kind.empty()) sql += " AND kind = ?6";
  sql += " ORDER BY id LIMIT ?4";
  SPINDLE_TRY_ASSIGN(Statement select, statement(sql, "query events"));
  SPINDLE_TRY(select.bind(query.after_id, query.from_ms, query.to_ms, sql_limit(query.limit)));
  if (!query.device_id.empty()) SPINDLE_TRY(select.bind_at(5, query.device_id));
  if (!query.kind.empty()) SPINDLE_TRY(select.bind_at(6, query.kind));
  return collect(select, event_from_row);
}

Result<std::size_t> SqliteStore::insert_telemetry(std::span<const TelemetryRecord> records) {
  // OR IGNORE skips a record whose (device_id, seq, name, time) is already stored; the
  // change count tells a fresh row from a skipped one.
  constexpr const char* kSql =
      "INSERT OR IGNORE INTO telemetry(device_id, seq, name, time, unit, kind, number, text, "
      "boolean, data, received_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
  SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "append telemetry"));
  std::size_t fresh = 0;
  for (const TelemetryRecord& record : records) {
    insert.reset();
    SPINDLE_TRY(insert.bind(record.device_id, record.seq, record.name, record.time, record.unit,
                            static_cast<int>(record.kind), record.number, record.text,
                            record.boolean, record.data, record.received_ms));
    SPINDLE_TRY(insert.run());
    if (sqlite3_changes64(db_) > 0) ++fresh;
  }
  return fresh;
}

}  // namespace spindle::gateway::sqlite
