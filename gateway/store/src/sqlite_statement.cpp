#include "sqlite_statement_private.hpp"

#include <limits>
#include <utility>

#include <spdlog/spdlog.h>

namespace spindle::gateway::sqlite {

Status sqlite_status(sqlite3* db, int rc, std::string_view operation) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return kOk;
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      spdlog::warn("store: {}: {}", operation, message);
      return Error::kAlreadyExists;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      spdlog::warn("store: {}: {}", operation, message);
      return Error::kNotFound;
    default:
      spdlog::error("store: {} failed: {} (sqlite {})", operation, message, rc);
      return Error::kIoError;
  }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), operation_(other.operation_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    release();
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    operation_ = other.operation_;
  }
  return *this;
}

Result<bool> Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_status(db_, rc, operation_);
}

Status Statement::run() {
  SPINDLE_TRY_ASSIGN(const bool row, step());
  (void)row;
  return kOk;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::uint64_t Statement::column_uint64(int column) const {
  return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, column));
}

bool Statement::column_bool(int column) const {
  return sqlite3_column_int(stmt_, column) != 0;
}

bool Statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

double Statement::column_double(int column) const {
  if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::column_text(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

Bytes Statement::column_blob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr) return {};
  const auto* begin = static_cast<const std::uint8_t*>(blob);
  return Bytes(begin, begin + size);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::release() {
  if (stmt_ == nullptr) return;
  reset();
  stmt_ = nullptr;
}

}  // namespace spindle::gateway::sqlite
