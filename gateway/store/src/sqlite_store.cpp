// The SQLite implementation of the gateway Store: one object is one connection in WAL mode.
//
// SQLite result codes become Spindle Status codes in sqlite_status() only. Every statement
// is prepared once per connection and kept in a cache keyed by its SQL text, because the
// group-commit writer appends telemetry thousands of times a second. Model payloads live
// beside the database, content-addressed by their SHA-256, and are written with the
// temp-file, fsync, rename, fsync-directory sequence so that a power cut leaves either the
// old state or the complete file, never a torn one.
#include "spindle/gateway/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "spindle/protocol/crypto.hpp"
#include "spindle/protocol/hex.hpp"
#include "spindle/protocol/limits.hpp"

namespace spindle::gateway {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDatabaseName = "spindle.db";
constexpr const char* kModelsDirName = "models";
constexpr std::size_t kDigestHexSize = 2 * crypto::kSha256Size;

// Ordered schema migrations: step i takes the database from user_version i to i + 1. Append,
// never edit a released step: databases in the field have already run it.
constexpr std::array<const char*, 3> kMigrations = {
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
};

constexpr const char* kSelectCaptures =
    "SELECT id, device_id, kind, label, windows_requested, windows_received, chunks_received, "
    "board, sample_rate_hz, window_length, axes, feature_count, created_ms, completed_ms, state, "
    "reason FROM captures";

// The device columns every device query selects, with the latest attestation verdict (a
// NULL verdict: none yet); device_from_row reads them in this order.
constexpr const char* kSelectDevices =
    "SELECT d.id, d.created_ms, d.registration, d.location, d.lifetime_s, d.last_seen_ms, "
    "d.online, a.verdict, a.time_ms, a.nonce, a.active_digest, a.firmware, a.expected_digest "
    "FROM devices d LEFT JOIN attestations a ON a.device_id = d.id";

// ---- Error translation ----

// The one place where an SQLite result code becomes a Status. Constraint violations are the
// caller's mistake (a duplicate key, a reference to a missing row) and are logged as
// warnings; everything else is a failure of the database and is logged as an error.
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

// File-system failures (errno) for the model payload files.
Status io_error(std::string_view operation, const fs::path& path, int error) {
  spdlog::error("store: {} {}: {}", operation, path.string(),
                std::error_code(error, std::generic_category()).message());
  return Error::kIoError;
}

// ---- Prepared statements ----

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
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), operation_(other.operation_) {}
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      release();
      db_ = other.db_;
      stmt_ = std::exchange(other.stmt_, nullptr);
      operation_ = other.operation_;
    }
    return *this;
  }
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

  // True when a row is ready, false when the statement is done.
  Result<bool> step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sqlite_status(db_, rc, operation_);
  }

  // Runs a statement that returns no rows.
  Status run() {
    SPINDLE_TRY_ASSIGN(const bool row, step());
    (void)row;
    return kOk;
  }

  std::int64_t column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::uint64_t column_uint64(int column) const {
    return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, column));
  }
  bool column_bool(int column) const { return sqlite3_column_int(stmt_, column) != 0; }
  bool column_is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  double column_double(int column) const {
    if (sqlite3_column_type(stmt_, column) == SQLITE_NULL) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return sqlite3_column_double(stmt_, column);
  }
  std::string column_text(int column) const {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
  }
  Bytes column_blob(int column) const {
    const void* blob = sqlite3_column_blob(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    if (blob == nullptr) return {};
    const auto* begin = static_cast<const std::uint8_t*>(blob);
    return Bytes(begin, begin + size);
  }

  // Makes the statement ready to run again with new values.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  void release() {
    if (stmt_ == nullptr) return;
    reset();
    stmt_ = nullptr;
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string_view operation_;  // always a string literal
};

// Lets the cache be searched with a string_view, so a hit allocates nothing.
struct SqlHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
};

// ---- Model payload files ----

bool is_digest_text(std::string_view text) {
  if (text.size() != kDigestHexSize) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string digest_text(const crypto::Digest& digest) {
  std::string text(kDigestHexSize, '0');
  (void)hex::encode(digest, text);  // cannot fail: the buffer is exactly twice the digest
  return text;
}

// Closes a file descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred write may surface only here.
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

// Creates one directory level with owner-only access; an existing directory is left as is.
Status make_private_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return kOk;
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec) return io_error("create directory", dir.parent_path(), ec.value());
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    const int error = errno;
    // Lost a race with another process creating it: fine, as long as it is a directory.
    if (error != EEXIST || !fs::is_directory(dir, ec)) return io_error("create", dir, error);
  }
  return kOk;
}

Status sync_directory(const fs::path& dir) {
  FileDescriptor fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return io_error("sync directory", dir, errno);
  return kOk;
}

// Writes `bytes` to `target` so that after a crash the name holds either nothing or all of
// them: a uniquely named temporary file (two connections may store the same model at once)
// is written, synced and renamed, then the directory entry is synced.
Status write_file_atomically(const fs::path& target, std::span<const std::uint8_t> bytes) {
  std::string temp = target.string() + ".tmp-XXXXXX";
  FileDescriptor fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) return io_error("create", temp, errno);
  const auto fail = [&temp](std::string_view operation, int error) {
    ::unlink(temp.c_str());
    return io_error(operation, temp, error);
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write", errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("sync", errno);
  if (fd.close() != 0) return fail("close", errno);
  if (::rename(temp.c_str(), target.c_str()) != 0) return fail("rename", errno);
  return sync_directory(target.parent_path());
}

// Reads a whole file; kNotFound when it does not exist.
Result<Bytes> read_file(const fs::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Error::kNotFound;
    return io_error("open", path, errno);
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return io_error("stat", path, errno);
  Bytes bytes(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path, errno);
    }
    if (n == 0) break;  // the file shrank under us: the digest check will refuse it
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

// ---- Row mapping ----

StoredDevice device_from_row(const Statement& row) {
  StoredDevice device;
  device.id = row.column_text(0);
  device.created_ms = row.column_int64(1);
  device.registration = row.column_blob(2);
  device.location = row.column_text(3);
  device.lifetime_s = static_cast<std::uint32_t>(row.column_int64(4));
  device.last_seen_ms = row.column_int64(5);
  device.online = row.column_bool(6);
  if (!row.column_is_null(7)) {
    device.attestation = StoredAttestation{
        .verdict = row.column_text(7),
        .time_ms = row.column_int64(8),
        .nonce = row.column_text(9),
        .active_digest = row.column_text(10),
        .firmware = row.column_text(11),
        .expected_digest = row.column_text(12),
    };
  }
  return device;
}

StoredModel model_from_row(const Statement& row) {
  StoredModel model;
  model.digest = row.column_text(0);
  model.size = row.column_uint64(1);
  model.model_id = row.column_text(2);
  model.created_ms = row.column_int64(3);
  return model;
}

StoredDeployment deployment_from_row(const Statement& row) {
  StoredDeployment deployment;
  deployment.id = row.column_int64(0);
  deployment.device_id = row.column_text(1);
  deployment.model_digest = row.column_text(2);
  deployment.model_id = row.column_text(3);
  deployment.version = row.column_uint64(4);
  deployment.manifest = row.column_blob(5);
  deployment.created_ms = row.column_int64(6);
  deployment.state = row.column_text(7);
  deployment.reason = row.column_text(8);
  deployment.updated_ms = row.column_int64(9);
  return deployment;
}

StoredCapture capture_from_row(const Statement& row) {
  StoredCapture capture;
  capture.id = row.column_int64(0);
  capture.device_id = row.column_text(1);
  capture.kind = row.column_text(2);
  capture.label = row.column_text(3);
  capture.windows_requested = static_cast<std::uint32_t>(row.column_int64(4));
  capture.windows_received = static_cast<std::uint32_t>(row.column_int64(5));
  capture.chunks_received = static_cast<std::uint32_t>(row.column_int64(6));
  capture.board = row.column_text(7);
  capture.sample_rate_hz = static_cast<std::uint32_t>(row.column_int64(8));
  capture.window_length = static_cast<std::uint32_t>(row.column_int64(9));
  capture.axes = static_cast<std::uint32_t>(row.column_int64(10));
  capture.feature_count = static_cast<std::uint32_t>(row.column_int64(11));
  capture.created_ms = row.column_int64(12);
  capture.completed_ms = row.column_int64(13);
  capture.state = row.column_text(14);
  capture.reason = row.column_text(15);
  return capture;
}

senml::ValueKind value_kind_from_int(std::int64_t value) {
  switch (value) {
    case static_cast<std::int64_t>(senml::ValueKind::kNumber):
      return senml::ValueKind::kNumber;
    case static_cast<std::int64_t>(senml::ValueKind::kString):
      return senml::ValueKind::kString;
    case static_cast<std::int64_t>(senml::ValueKind::kBool):
      return senml::ValueKind::kBool;
    case static_cast<std::int64_t>(senml::ValueKind::kData):
      return senml::ValueKind::kData;
    default:
      return senml::ValueKind::kNone;
  }
}

TelemetryRecord telemetry_from_row(const Statement& row) {
  TelemetryRecord record;
  record.id = row.column_int64(0);
  record.device_id = row.column_text(1);
  record.seq = row.column_uint64(2);
  record.name = row.column_text(3);
  record.time = row.column_double(4);
  record.unit = row.column_text(5);
  record.kind = value_kind_from_int(row.column_int64(6));
  record.number = row.column_double(7);
  record.text = row.column_text(8);
  record.boolean = row.column_bool(9);
  record.data = row.column_blob(10);
  record.received_ms = row.column_int64(11);
  return record;
}

// SQLite's LIMIT is signed; larger limits mean "no limit".
std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit < kMax ? limit : kMax);
}

// ---- The store ----

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, fs::path models_dir) : db_(db), models_dir_(std::move(models_dir)) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Finalizing every statement first lets sqlite3_close succeed; an open transaction is
  // rolled back by the close, so only committed data survives the object.
  ~SqliteStore() override {
    for (auto& entry : statements_)
      sqlite3_finalize(entry.second);
    statements_.clear();
    if (sqlite3_close(db_) != SQLITE_OK) {
      spdlog::error("store: close failed: {}", sqlite3_errmsg(db_));
    }
  }

  Status configure(const SqliteOptions& options) {
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

  Status begin() override {
    if (in_transaction()) return Error::kInvalidState;
    savepoint_depth_ = 0;
    return execute("BEGIN IMMEDIATE", "begin");
  }

  // A failed commit rolls back, so the connection is never left inside a half-done
  // transaction that the caller believes has ended.
  Status commit() override {
    if (!in_transaction()) return Error::kInvalidState;
    savepoint_depth_ = 0;
    const Status status = execute("COMMIT", "commit");
    if (!status.ok() && in_transaction()) (void)execute("ROLLBACK", "rollback after commit");
    return status;
  }

  Status rollback() override {
    if (!in_transaction()) return Error::kInvalidState;
    savepoint_depth_ = 0;
    return execute("ROLLBACK", "rollback");
  }

  Status savepoint() override {
    if (!in_transaction()) return Error::kInvalidState;
    SPINDLE_TRY(execute("SAVEPOINT " + savepoint_name(savepoint_depth_ + 1), "savepoint"));
    ++savepoint_depth_;
    return kOk;
  }

  Status release_savepoint() override {
    SPINDLE_TRY(check_savepoint());
    SPINDLE_TRY(execute("RELEASE " + savepoint_name(savepoint_depth_), "release savepoint"));
    --savepoint_depth_;
    return kOk;
  }

  // Undoes the work since the matching savepoint() and removes that savepoint, so each
  // savepoint() is paired with exactly one release or rollback.
  Status rollback_to_savepoint() override {
    SPINDLE_TRY(check_savepoint());
    const std::string name = savepoint_name(savepoint_depth_);
    SPINDLE_TRY(execute("ROLLBACK TO " + name, "rollback to savepoint"));
    SPINDLE_TRY(execute("RELEASE " + name, "rollback to savepoint"));
    --savepoint_depth_;
    return kOk;
  }

  // ---- Devices ----

  Status add_device(std::string_view id, std::int64_t now_ms) override {
    if (!check_id(id).ok()) return Error::kInvalidValue;
    SPINDLE_TRY_ASSIGN(
        Statement insert,
        statement("INSERT INTO devices(id, created_ms) VALUES (?1, ?2)", "add device"));
    SPINDLE_TRY(insert.bind(id, now_ms));
    return insert.run();
  }

  Result<StoredDevice> get_device(std::string_view id) override {
    static const std::string kSql = std::string(kSelectDevices) + " WHERE d.id = ?1";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "get device"));
    SPINDLE_TRY(select.bind(id));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (!row) return Error::kNotFound;
    return device_from_row(select);
  }

  Result<std::vector<StoredDevice>> list_devices() override {
    static const std::string kSql = std::string(kSelectDevices) + " ORDER BY d.id";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "list devices"));
    return collect(select, device_from_row);
  }

  Status save_registration(std::string_view id, std::span<const std::uint8_t> body,
                           std::string_view location, std::uint32_t lifetime_s,
                           std::int64_t now_ms) override {
    constexpr const char* kSql =
        "UPDATE devices SET registration = ?2, location = ?3, lifetime_s = ?4, "
        "last_seen_ms = ?5, online = 1 WHERE id = ?1";
    SPINDLE_TRY_ASSIGN(Statement update, statement(kSql, "save registration"));
    SPINDLE_TRY(update.bind(id, body, location, lifetime_s, now_ms));
    return run_on_existing_row(update);
  }

  Status touch_device(std::string_view id, std::uint32_t lifetime_s, std::int64_t now_ms) override {
    constexpr const char* kSql =
        "UPDATE devices SET last_seen_ms = ?2, online = 1, "
        "lifetime_s = CASE WHEN ?3 = 0 THEN lifetime_s ELSE ?3 END WHERE id = ?1";
    SPINDLE_TRY_ASSIGN(Statement update, statement(kSql, "touch device"));
    SPINDLE_TRY(update.bind(id, now_ms, lifetime_s));
    return run_on_existing_row(update);
  }

  Status set_online(std::string_view id, bool online) override {
    SPINDLE_TRY_ASSIGN(Statement update, statement("UPDATE devices SET online = ?2 WHERE id = ?1",
                                                   "set device online"));
    SPINDLE_TRY(update.bind(id, online));
    return run_on_existing_row(update);
  }

  Status save_attestation(std::string_view device_id,
                          const StoredAttestation& attestation) override {
    // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
    constexpr const char* kSql =
        "INSERT INTO attestations(device_id, verdict, time_ms, nonce, active_digest, firmware, "
        "expected_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(device_id) DO UPDATE "
        "SET verdict = excluded.verdict, time_ms = excluded.time_ms, nonce = excluded.nonce, "
        "active_digest = excluded.active_digest, firmware = excluded.firmware, "
        "expected_digest = excluded.expected_digest";
    SPINDLE_TRY_ASSIGN(Statement upsert, statement(kSql, "save attestation"));
    SPINDLE_TRY(upsert.bind(device_id, attestation.verdict, attestation.time_ms, attestation.nonce,
                            attestation.active_digest, attestation.firmware,
                            attestation.expected_digest));
    return upsert.run();
  }

  // ---- Models ----

  // The file is written before the row: a crash in between leaves an unreferenced file,
  // which the next put of the same bytes reuses, never a row without its payload.
  Result<StoredModel> put_model(std::string_view model_id, std::span<const std::uint8_t> payload,
                                std::int64_t now_ms) override {
    if (!check_id(model_id).ok() || payload.empty()) return Error::kInvalidValue;
    const std::string digest = digest_text(crypto::Sha256::of(payload));
    // Rewritten even when present: identical bytes replace themselves atomically, and a
    // corrupted or deleted copy is repaired by uploading the model again.
    SPINDLE_TRY(write_file_atomically(models_dir_ / digest, payload));
    {
      constexpr const char* kSql =
          "INSERT INTO models(digest, size, model_id, created_ms) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT(digest) DO NOTHING";
      SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "put model"));
      SPINDLE_TRY(insert.bind(digest, payload.size(), model_id, now_ms));
      SPINDLE_TRY(insert.run());
    }
    return get_model(digest);
  }

  Result<StoredModel> get_model(std::string_view digest) override {
    constexpr const char* kSql =
        "SELECT digest, size, model_id, created_ms FROM models WHERE digest = ?1";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "get model"));
    SPINDLE_TRY(select.bind(digest));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (!row) return Error::kNotFound;
    return model_from_row(select);
  }

  Result<std::vector<StoredModel>> list_models() override {
    constexpr const char* kSql =
        "SELECT digest, size, model_id, created_ms FROM models ORDER BY created_ms, rowid";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "list models"));
    return collect(select, model_from_row);
  }

  Result<Bytes> read_model_payload(std::string_view digest) override {
    // Checked before the digest becomes part of a path: "../spindle.db" is not a model.
    if (!is_digest_text(digest)) return Error::kNotFound;
    SPINDLE_TRY(get_model(digest).status());
    const fs::path path = models_dir_ / digest;
    auto payload = read_file(path);
    if (payload.status() == Status(Error::kNotFound)) {
      // The row says the model exists, so a missing file is lost storage, not a bad request.
      spdlog::error("store: model payload {} is missing", path.string());
      return Error::kIoError;
    }
    if (!payload.ok()) return payload.status();
    if (digest_text(crypto::Sha256::of(*payload)) != digest) {
      spdlog::error("store: model payload {} does not match its digest", path.string());
      return Error::kDigestMismatch;
    }
    return payload;
  }

  // ---- Deployments ----

  Result<std::int64_t> add_deployment(const StoredDeployment& deployment) override {
    // An unknown device or model fails the foreign keys, which sqlite_status reports as
    // kNotFound.
    constexpr const char* kSql =
        "INSERT INTO deployments(device_id, model_digest, model_id, version, manifest, "
        "created_ms, state, reason, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', '', ?6)";
    SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "add deployment"));
    SPINDLE_TRY(insert.bind(deployment.device_id, deployment.model_digest, deployment.model_id,
                            deployment.version, deployment.manifest, deployment.created_ms));
    SPINDLE_TRY(insert.run());
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<std::vector<StoredDeployment>> current_deployments() override {
    constexpr const char* kSql =
        "SELECT id, device_id, model_digest, model_id, version, manifest, created_ms, state, "
        "reason, updated_ms FROM deployments "
        "WHERE id IN (SELECT MAX(id) FROM deployments GROUP BY device_id) ORDER BY device_id";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "list current deployments"));
    return collect(select, deployment_from_row);
  }

  Result<std::vector<StoredDeployment>> device_deployments(std::string_view device_id) override {
    constexpr const char* kSql =
        "SELECT id, device_id, model_digest, model_id, version, manifest, created_ms, state, "
        "reason, updated_ms FROM deployments WHERE device_id = ?1 ORDER BY id DESC";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "list device deployments"));
    SPINDLE_TRY(select.bind(device_id));
    return collect(select, deployment_from_row);
  }

  Status set_deployment_state(std::int64_t id, std::string_view state, std::string_view reason,
                              std::int64_t now_ms) override {
    constexpr const char* kSql =
        "UPDATE deployments SET state = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1";
    SPINDLE_TRY_ASSIGN(Statement update, statement(kSql, "set deployment state"));
    SPINDLE_TRY(update.bind(id, state, reason, now_ms));
    return run_on_existing_row(update);
  }

  // ---- Telemetry ----

  Result<std::size_t> append_telemetry(std::span<const TelemetryRecord> records) override {
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

  Result<std::vector<TelemetryRecord>> query_telemetry(const TelemetryQuery& query) override {
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

  Result<std::uint64_t> count_telemetry(std::string_view device_id) override {
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

  // ---- Captures ----

  Result<StoredCapture> add_capture(const StoredCapture& capture) override {
    // An unknown device fails the foreign key, which sqlite_status reports as kNotFound.
    constexpr const char* kSql =
        "INSERT INTO captures(device_id, kind, label, windows_requested, created_ms, state) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'requested')";
    {
      SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "add capture"));
      SPINDLE_TRY(insert.bind(capture.device_id, capture.kind, capture.label,
                              capture.windows_requested, capture.created_ms));
      SPINDLE_TRY(insert.run());
    }
    return get_capture(static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_)));
  }

  Result<StoredCapture> get_capture(std::int64_t id) override {
    static const std::string kSql = std::string(kSelectCaptures) + " WHERE id = ?1";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "get capture"));
    SPINDLE_TRY(select.bind(id));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    if (!row) return Error::kNotFound;
    return capture_from_row(select);
  }

  Result<std::vector<StoredCapture>> list_captures(std::string_view device_id,
                                                   bool active_only) override {
    std::string sql = std::string(kSelectCaptures) + " WHERE (?1 = '' OR device_id = ?1)";
    if (active_only) sql += " AND state IN ('requested', 'collecting')";
    sql += " ORDER BY id DESC";
    SPINDLE_TRY_ASSIGN(Statement select, statement(sql, "list captures"));
    SPINDLE_TRY(select.bind(device_id));
    return collect(select, capture_from_row);
  }

  Result<bool> add_capture_chunk(const StoredCaptureChunk& chunk) override {
    {
      // Only into a capture still collecting; OR IGNORE skips a chunk already stored.
      constexpr const char* kSql =
          "INSERT OR IGNORE INTO capture_chunks(capture_id, sequence, first_window, "
          "window_count, board, sample_rate_hz, window_length, axes, feature_count, data, "
          "received_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 WHERE EXISTS "
          "(SELECT 1 FROM captures WHERE id = ?1 AND state IN ('requested', 'collecting'))";
      SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "add capture chunk"));
      SPINDLE_TRY(insert.bind(chunk.capture_id, chunk.sequence, chunk.first_window,
                              chunk.window_count, chunk.board, chunk.sample_rate_hz,
                              chunk.window_length, chunk.axes, chunk.feature_count, chunk.data,
                              chunk.received_ms));
      SPINDLE_TRY(insert.run());
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
        "state = CASE WHEN windows_received + ?2 >= windows_requested THEN 'complete' "
        "ELSE 'collecting' END, "
        "completed_ms = CASE WHEN windows_received + ?2 >= windows_requested THEN ?8 ELSE 0 END "
        "WHERE id = ?1";
    SPINDLE_TRY_ASSIGN(Statement update, statement(kSql, "count capture chunk"));
    SPINDLE_TRY(update.bind(chunk.capture_id, chunk.window_count, chunk.board, chunk.sample_rate_hz,
                            chunk.window_length, chunk.axes, chunk.feature_count,
                            chunk.received_ms));
    SPINDLE_TRY(run_on_existing_row(update));
    return true;
  }

  Status fail_capture(std::int64_t id, std::string_view reason, std::int64_t now_ms) override {
    constexpr const char* kSql =
        "UPDATE captures SET state = 'failed', reason = ?2, completed_ms = ?3 "
        "WHERE id = ?1 AND state IN ('requested', 'collecting')";
    SPINDLE_TRY_ASSIGN(Statement update, statement(kSql, "fail capture"));
    SPINDLE_TRY(update.bind(id, reason, now_ms));
    return run_on_existing_row(update);
  }

  Result<std::vector<StoredCaptureChunk>> capture_chunks(std::int64_t capture_id) override {
    constexpr const char* kSql =
        "SELECT capture_id, sequence, first_window, window_count, board, sample_rate_hz, "
        "window_length, axes, feature_count, data, received_ms FROM capture_chunks "
        "WHERE capture_id = ?1 ORDER BY first_window";
    SPINDLE_TRY_ASSIGN(Statement select, statement(kSql, "list capture chunks"));
    SPINDLE_TRY(select.bind(capture_id));
    return collect(select, [](const Statement& row) {
      StoredCaptureChunk chunk;
      chunk.capture_id = row.column_int64(0);
      chunk.sequence = static_cast<std::uint32_t>(row.column_int64(1));
      chunk.first_window = static_cast<std::uint32_t>(row.column_int64(2));
      chunk.window_count = static_cast<std::uint32_t>(row.column_int64(3));
      chunk.board = row.column_text(4);
      chunk.sample_rate_hz = static_cast<std::uint32_t>(row.column_int64(5));
      chunk.window_length = static_cast<std::uint32_t>(row.column_int64(6));
      chunk.axes = static_cast<std::uint32_t>(row.column_int64(7));
      chunk.feature_count = static_cast<std::uint32_t>(row.column_int64(8));
      chunk.data = row.column_blob(9);
      chunk.received_ms = row.column_int64(10);
      return chunk;
    });
  }

  // ---- Events ----

  Status append_event(std::string_view device_id, std::string_view kind, std::string_view detail,
                      std::int64_t now_ms) override {
    constexpr const char* kSql =
        "INSERT INTO events(time_ms, device_id, kind, detail) VALUES (?1, ?2, ?3, ?4)";
    SPINDLE_TRY_ASSIGN(Statement insert, statement(kSql, "append event"));
    SPINDLE_TRY(insert.bind(now_ms, device_id, kind, detail));
    return insert.run();
  }

  Result<std::vector<StoredEvent>> query_events(const EventQuery& query) override {
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
    return collect(select, [](const Statement& row) {
      StoredEvent event;
      event.id = row.column_int64(0);
      event.time_ms = row.column_int64(1);
      event.device_id = row.column_text(2);
      event.kind = row.column_text(3);
      event.detail = row.column_text(4);
      return event;
    });
  }

 private:
  // The cached statement for `sql`, prepared on first use. `operation` names the caller in
  // log lines and must be a string literal.
  Result<Statement> statement(std::string_view sql, std::string_view operation) {
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

  Status execute(std::string_view sql, std::string_view operation) {
    SPINDLE_TRY_ASSIGN(Statement stmt, statement(sql, operation));
    return stmt.run();
  }

  // Runs an UPDATE of one row by key: no row changed means no such row.
  Status run_on_existing_row(Statement& update) {
    SPINDLE_TRY(update.run());
    return sqlite3_changes64(db_) == 0 ? Status(Error::kNotFound) : kOk;
  }

  template <typename RowMapper>
  auto collect(Statement& select, RowMapper map_row)
      -> Result<std::vector<decltype(map_row(select))>> {
    std::vector<decltype(map_row(select))> rows;
    while (true) {
      SPINDLE_TRY_ASSIGN(const bool row, select.step());
      if (!row) break;
      rows.push_back(map_row(select));
    }
    return rows;
  }

  Result<std::size_t> insert_telemetry(std::span<const TelemetryRecord> records) {
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

  // Brings the schema up to date in one IMMEDIATE transaction; the version is read again
  // inside it because another connection may have migrated while this one waited.
  Status migrate() {
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

  Status apply_migrations() {
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

  Result<std::int64_t> user_version() {
    SPINDLE_TRY_ASSIGN(Statement select, statement("PRAGMA user_version", "read schema version"));
    SPINDLE_TRY_ASSIGN(const bool row, select.step());
    return row ? select.column_int64(0) : 0;
  }

  static Status check_version(std::int64_t version) {
    if (version > static_cast<std::int64_t>(kMigrations.size()) || version < 0) {
      spdlog::error("store: database schema version {} is newer than this build's {}", version,
                    kMigrations.size());
      return Error::kUnsupportedVersion;
    }
    return kOk;
  }

  bool in_transaction() {
    const bool inside = sqlite3_get_autocommit(db_) == 0;
    // SQLite rolls back by itself after some errors (a full disk, an I/O error); savepoints
    // opened before that no longer exist.
    if (!inside) savepoint_depth_ = 0;
    return inside;
  }

  Status check_savepoint() {
    if (!in_transaction() || savepoint_depth_ == 0) return Error::kInvalidState;
    return kOk;
  }

  static std::string savepoint_name(int depth) { return "sp" + std::to_string(depth); }

  sqlite3* db_;
  fs::path models_dir_;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> statements_;
  int savepoint_depth_ = 0;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const fs::path& data_dir,
                                                 const SqliteOptions& options) {
  SPINDLE_TRY(make_private_directory(data_dir));
  const fs::path models_dir = data_dir / kModelsDirName;
  SPINDLE_TRY(make_private_directory(models_dir));

  const fs::path db_path = data_dir / kDatabaseName;
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is used by one thread at a time, so SQLite's own locking of it
  // would be pure cost.
  const int rc =
      sqlite3_open_v2(db_path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const Status status = sqlite_status(db, rc, "open database");
    sqlite3_close(db);
    return status;
  }
  auto store = std::make_unique<SqliteStore>(db, models_dir);
  SPINDLE_TRY(store->configure(options));
  return std::unique_ptr<Store>(std::move(store));
}

int sqlite_schema_version() {
  return static_cast<int>(kMigrations.size());
}

}  // namespace spindle::gateway
