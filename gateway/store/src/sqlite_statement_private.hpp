// The SQLite adapter under the store: the one translation of SQLite result codes into
// Status, and the prepared statement a SqliteStore borrows from its cache for one use.
// Private to gateway/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <sqlite3.h>

#include "spindle/gateway/store.hpp"

namespace spindle::gateway::sqlite {

// The one place where an SQLite result code becomes a Status. Constraint violations are the
// caller's mistake (a duplicate key, a reference to a missing row) and are logged as
// warnings; everything else is a failure of the database and is logged as an error.
// SQLITE_OK, SQLITE_ROW and SQLITE_DONE are kOk; `operation` names the caller in the log.
Status sqlite_status(sqlite3* db, int rc, std::string_view operation);

// A cached statement borrowed for one use: binds ?1..?N, steps, and on destruction resets
// and clears its bindings, so that no statement keeps a read transaction (and with it an
// old WAL snapshot) open between calls. Text and blobs are bound SQLITE_STATIC: the values
// must outlive the Statement, which they do because it is always a local of the function
// whose arguments it binds.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string_view operation)
      : db_(db), stmt_(stmt), operation_(operation) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { release(); }

  template <typename... Args>
  Status bind(const Args&... args) {
    int index = 0;
    Status status;
    // Stops at the first failure; the fold keeps the parameters in order.
    (void)((status = bind_at(++index, args), status.ok()) && ...);
    return status;
  }

  template <typename T>
  Status bind_at(int index, const T& value) {
    int rc = SQLITE_OK;
    if constexpr (std::is_same_v<T, bool>) {
      rc = sqlite3_bind_int(stmt_, index, value ? 1 : 0);
    } else if constexpr (std::is_integral_v<T>) {
      // Unsigned 64-bit values (seq, version, size) keep their bits; SQL never orders them.
      rc = sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
      rc = sqlite3_bind_double(stmt_, index, static_cast<double>(value));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      const std::string_view text = value;
      // A null data pointer would bind SQL NULL; "" keeps the column NOT NULL-safe.
      rc = sqlite3_bind_text64(stmt_, index, text.data() != nullptr ? text.data() : "", text.size(),
                               SQLITE_STATIC, SQLITE_UTF8);
    } else {
      const std::span<const std::uint8_t> bytes = value;
      rc = bytes.empty()
               ? sqlite3_bind_zeroblob(stmt_, index, 0)
               : sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
    }
    return sqlite_status(db_, rc, operation_);
  }

  // True when a row is ready, false when the statement is done. Errors: sqlite_status's.
  Result<bool> step();
  // Runs a statement that returns no rows. Errors: sqlite_status's.
  Status run();

  std::int64_t column_int64(int column) const;
  std::uint64_t column_uint64(int column) const;
  bool column_bool(int column) const;
  bool column_is_null(int column) const;
  // SQL NULL (how SQLite stores a NaN) reads as a quiet NaN.
  double column_double(int column) const;
  std::string column_text(int column) const;
  Bytes column_blob(int column) const;

  // Makes the statement ready to run again with new values.
  void reset();

 private:
  void release();

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string_view operation_;  // always a string literal
};

// Lets the cache be searched with a string_view, so a hit allocates nothing.
struct SqlHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
};

}  // namespace spindle::gateway::sqlite
