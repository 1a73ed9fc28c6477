// The SQLite store's connection: opening and configuring it, transactions and savepoints,
// and the statement cache.
#include "sqlite_store_private.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "model_files_private.hpp"

namespace spindle::gateway {
namespace sqlite {

// Finalizing every statement first lets sqlite3_close succeed; an open transaction is
// rolled back by the close, so only committed data survives the object.
SqliteStore::~SqliteStore() {
  for (auto& entry : statements_)
    sqlite3_finalize(entry.second);
  statements_.clear();
  if (sqlite3_close(db_) != SQLITE_OK) {
    spdlog::error("store: close failed: {}", sqlite3_errmsg(db_));
  }
}

Status SqliteStore::configure(const SqliteOptions& options) {
  SPINDLE_TRY(sqlite_status(db_, sqlite3_extended_result_codes(db_, 1), "configure"));
  // Set first: the switch to WAL below may wait for another connection's lock.
  SPINDLE_TRY(
      sqlite_status(db_, sqlite3_busy_timeout(db_, options.busy_timeout_ms), "set busy timeout"));
  {
    SPINDLE_TRY_ASSIGN(Statement wal, statement("PRAGMA journal_mode=WAL", "enable WAL"));
    SPINDLE_TRY_ASSIGN(const bool row, wal.step());
    // A file system without shared memory support stays in its old mode; readers would
    // then block the writer, which the gateway's design does not allow for.
    if (!row || wal.column_text(0) != "wal") {
      spdlog::error("store: the database cannot use WAL mode");
      return Error::kIoError;
    }
  }
  SPINDLE_TRY(
      execute(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
              "set synchronous"));
  SPINDLE_TRY(execute("PRAGMA foreign_keys=ON", "enable foreign keys"));
  return migrate();
}

// ---- Transactions ----

Status SqliteStore::begin() {
  if (in_transaction()) return Error::kInvalidState;
  savepoint_depth_ = 0;
  return execute("BEGIN IMMEDIATE", "begin");
}

// A failed commit rolls back, so the connection is never left inside a half-done
// transaction that the caller believes has ended.
Status SqliteStore::commit() {
  if (!in_transaction()) return Error::kInvalidState;
  savepoint_depth_ = 0;
  const Status status = execute("COMMIT", "commit");
  if (!status.ok() && in_transaction()) (void)execute("ROLLBACK", "rollback after commit");
  return status;
}

Status SqliteStore::rollback() {
  if (!in_transaction()) return Error::kInvalidState;
  savepoint_depth_ = 0;
  return execute("ROLLBACK", "rollback");
}

Status SqliteStore::savepoint() {
  if (!in_transaction()) return Error::kInvalidState;
  SPINDLE_TRY(execute("SAVEPOINT " + savepoint_name(savepoint_depth_ + 1), "savepoint"));
  ++savepoint_depth_;
  return kOk;
}

Status SqliteStore::release_savepoint() {
  SPINDLE_TRY(check_savepoint());
  SPINDLE_TRY(execute("RELEASE " + savepoint_name(savepoint_depth_), "release savepoint"));
  --savepoint_depth_;
  return kOk;
}

// Undoes the work since the matching savepoint() and removes that savepoint, so each
// savepoint() is paired with exactly one release or rollback.
Status SqliteStore::rollback_to_savepoint() {
  SPINDLE_TRY(check_savepoint());
  const std::string name = savepoint_name(savepoint_depth_);
  SPINDLE_TRY(execute("ROLLBACK TO " + name, "rollback to savepoint"));
  SPINDLE_TRY(execute("RELEASE " + name, "rollback to savepoint"));
  --savepoint_depth_;
  return kOk;
}

Result<Statement> SqliteStore::statement(std::string_view sql, std::string_view operation) {
  auto found = statements_.find(sql);
  if (found == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return sqlite_status(db_, rc, operation);
    }
    found = statements_.emplace(std::string(sql), stmt).first;
  }
  return Statement(db_, found->second, operation);
}

bool SqliteStore::in_transaction() {
  const bool inside = sqlite3_get_autocommit(db_) == 0;
  // SQLite rolls back by itself after some errors (a full disk, an I/O error); savepoints
  // opened before that no longer exist.
  if (!inside) savepoint_depth_ = 0;
  return inside;
}

Status SqliteStore::check_savepoint() {
  if (!in_transaction() || savepoint_depth_ == 0) return Error::kInvalidState;
  return kOk;
}

}  // namespace sqlite

namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabaseName = "spindle.db";
constexpr const char* kModelsDirName = "models";

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const fs::path& data_dir,
                                                 const SqliteOptions& options) {
  SPINDLE_TRY(sqlite::make_private_directory(data_dir));
  const fs::path models_dir = data_dir / kModelsDirName;
  SPINDLE_TRY(sqlite::make_private_directory(models_dir));

  const fs::path db_path = data_dir / kDatabaseName;
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is used by one thread at a time, so SQLite's own locking of it
  // would be pure cost.
  const int rc =
      sqlite3_open_v2(db_path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const Status status = sqlite::sqlite_status(db, rc, "open database");
    sqlite3_close(db);
    return status;
  }
  auto store = std::make_unique<sqlite::SqliteStore>(db, models_dir);
  SPINDLE_TRY(store->configure(options));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace spindle::gateway
