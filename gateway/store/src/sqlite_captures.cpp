// The SQLite store: data captures and their chunks.
#include "sqlite_store_private.hpp"

#include "sqlite_rows_private.hpp"

namespace spindle::gateway::sqlite {
namespace {

// The states stored as text (record_states.hpp); bound, never spelled in the SQL.
const char* const kRequested = capture_state_name(CaptureState::kRequested);
const char* const kCollecting = capture_state_name(CaptureState::kCollecting);
const char* const kComplete = capture_state_name(CaptureState::kComplete);
const char* const kFailed = capture_state_name(CaptureState::kFailed);

}  // namespace

// ---- Captures ----

Result<StoredCapture> SqliteStore::add_capture(const StoredCapture& capture) {
  // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
  constexpr const char* kSql =
      "INSERT INTO captures(device_id, kind, label, windows_requested, created_ms, state, "
      "origin, origin_event) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
  SPINDLE_TRY(execute(kSql, "add capture", capture.device_id, capture.kind, capture.label,
                      capture.windows_requested, capture.created_ms, kRequested,
                      std::string_view(capture_origin_name(capture.origin)), capture.origin_event));
  return get_capture(static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_)));
}

Result<StoredCapture> SqliteStore::get_capture(std::int64_t id) {
  static const std::string kSql = std::string(kSelectCaptures) + " WHERE id = ?1";
  return find_one(kSql, "get capture", capture_from_row, id);
}

Result<std::vector<StoredCapture>> SqliteStore::list_captures(std::string_view device_id,
                                                              bool active_only) {
  static const std::string kAll =
      std::string(kSelectCaptures) + " WHERE (?1 = '' OR device_id = ?1) ORDER BY id DESC";
  static const std::string kActive = std::string(kSelectCaptures) +
                                     " WHERE (?1 = '' OR device_id = ?1) AND state IN (?2, ?3) "
                                     "ORDER BY id DESC";
  if (!active_only) return find_all(kAll, "list captures", capture_from_row, device_id);
  return find_all(kActive, "list captures", capture_from_row, device_id, kRequested, kCollecting);
}

Result<bool> SqliteStore::add_capture_chunk(const StoredCaptureChunk& chunk) {
  {
    // Only into a capture still collecting; OR IGNORE skips a chunk already stored.
    constexpr const char* kSql =
        "INSERT OR IGNORE INTO capture_chunks(capture_id, sequence, first_window, "
        "window_count, board, sample_rate_hz, window_length, axes, feature_count, data, "
        "received_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE EXISTS "
        "(SELECT 1 FROM captures WHERE id = ?1 AND state IN (?12, ?13))";
    SPINDLE_TRY(execute(kSql, "add capture chunk", chunk.capture_id, chunk.sequence,
                        chunk.first_window, chunk.window_count, chunk.board, chunk.sample_rate_hz,
                        chunk.window_length, chunk.axes, chunk.feature_count, chunk.data,
                        chunk.received_ms, kRequested, kCollecting));
  }
  if (sqlite3_changes64(db_) == 0) {
    constexpr const char* kSql =
        "SELECT EXISTS (SELECT 1 FROM capture_chunks WHERE capture_id = ?1 AND "
        "(sequence = ?2 OR first_window = ?3)), EXISTS (SELECT 1 FROM captures WHERE id = ?1)";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "find capture chunk"));
    SPINDLE_TRY(select.bind(chunk.capture_id, chunk.sequence, chunk.first_window));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (row && select.column_bool(0)) return false;  // stored before: a re-sent chunk
    if (row && select.column_bool(1)) return Error::kInvalidState;
    return Error::kNotFound;
  }
  constexpr const char* kSql =
      "UPDATE captures SET windows_received = windows_received + ?2, "
      "chunks_received = chunks_received + 1, board = ?3, sample_rate_hz = ?4, "
      "window_length = ?5, axes = ?6, feature_count = ?7, "
      "state = CASE WHEN windows_received + ?2 >= windows_requested THEN ?9 "
      "ELSE ?10 END, "
      "completed_ms = CASE WHEN windows_received + ?2 >= windows_requested THEN ?8 ELSE 0 END "
      "WHERE id = ?1";
  SPINDLE_TRY(update_existing_row(kSql, "count capture chunk", chunk.capture_id, chunk.window_count,
                                  chunk.board, chunk.sample_rate_hz, chunk.window_length,
                                  chunk.axes, chunk.feature_count, chunk.received_ms, kComplete,
                                  kCollecting));
  return true;
}

Status SqliteStore::fail_capture(std::int64_t id, std::string_view reason, std::int64_t now_ms) {
  constexpr const char* kSql =
      "UPDATE captures SET state = ?4, reason = ?2, completed_ms = ?3 "
      "WHERE id = ?1 AND state IN (?5, ?6)";
  return update_existing_row(kSql, "fail capture", id, reason, now_ms, kFailed, kRequested,
                             kCollecting);
}

Result<std::vector<StoredCaptureChunk>> SqliteStore::capture_chunks(std::int64_t capture_id) {
  constexpr const char* kSql =
      "SELECT capture_id, sequence, first_window, window_count, board, sample_rate_hz, "
      "window_length, axes, feature_count, data, received_ms FROM capture_chunks "
      "WHERE capture_id = ?1 ORDER BY first_window";
  return find_all(kSql, "list capture chunks", capture_chunk_from_row, capture_id);
}

}  // namespace spindle::gateway::sqlite
