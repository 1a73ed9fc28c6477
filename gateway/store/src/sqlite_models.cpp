// The SQLite store: models (the payload files beside the database) and deployments.
#include "sqlite_store_private.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

#include "model_files_private.hpp"
#include "spindle/protocol/limits.hpp"
#include "sqlite_rows_private.hpp"

namespace spindle::gateway::sqlite {

// ---- Models ----

// The file is written before the row: a crash in between leaves an unreferenced file,
// which the next put of the same bytes reuses, never a row without its payload.
Result<StoredModel> SqliteStore::put_model(std::string_view model_id,
                                           std::span<const std::uint8_t> payload,
                                           std::int64_t now_ms) {
  if (!check_id(model_id).ok() || payload.empty()) return Error::kInvalidValue;
  const std::string digest = digest_text(crypto::Sha256::of(payload));
  // Rewritten even when present: identical bytes replace themselves atomically, and a
  // corrupted or deleted copy is repaired by uploading the model again.
  SPINDLE_TRY(write_file_atomically(models_dir_ / digest, payload));
  {
    constexpr const char* kSql =
        "INSERT INTO models(digest, size, model_id, created_ms) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(digest) DO NOTHING";
    SPINDLE_TRY(execute(kSql, "put model", digest, payload.size(), model_id, now_ms));
  }
  return get_model(digest);
}

Result<StoredModel> SqliteStore::get_model(std::string_view digest) {
  static const std::string kSql = std::string(kSelectModels) + " WHERE digest = ?1";
  return find_one(kSql, "get model", model_from_row, digest);
}

Result<std::vector<StoredModel>> SqliteStore::list_models() {
  static const std::string kSql = std::string(kSelectModels) + " ORDER BY created_ms, rowid";
  return find_all(kSql, "list models", model_from_row);
}

Result<Bytes> SqliteStore::read_model_payload(std::string_view digest) {
  // Checked before the digest becomes part of a path: "../spindle.db" is not a model.
  if (!is_digest_text(digest)) return Error::kNotFound;
  SPINDLE_TRY(get_model(digest).status());
  const std::filesystem::path path = models_dir_ / digest;
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

Result<std::int64_t> SqliteStore::add_deployment(const StoredDeployment& deployment) {
  // An unknown device or model fails the foreign keys, which sqlite_status reports as
  // kNotFound.
  constexpr const char* kSql =
      "INSERT INTO deployments(device_id, model_digest, model_id, version, manifest, "
      "created_ms, state, reason, updated_ms, role) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', ?6, ?8)";
  SPINDLE_TRY(execute(kSql, "add deployment", deployment.device_id, deployment.model_digest,
                      deployment.model_id, deployment.version, deployment.manifest,
                      deployment.created_ms, deployment_state_name(DeploymentState::kPending),
                      deployment_role_name(deployment.role)));
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<StoredDeployment>> SqliteStore::current_deployments() {
  static const std::string kSql =
      std::string(kSelectDeployments) +
      " WHERE id IN (SELECT MAX(id) FROM deployments GROUP BY device_id) ORDER BY device_id";
  return find_all(kSql, "list current deployments", deployment_from_row);
}

Result<std::vector<StoredDeployment>> SqliteStore::device_deployments(std::string_view device_id) {
  static const std::string kSql =
      std::string(kSelectDeployments) + " WHERE device_id = ?1 ORDER BY id DESC";
  return find_all(kSql, "list device deployments", deployment_from_row, device_id);
}

Result<StoredDeployment> SqliteStore::get_deployment(std::int64_t id) {
  static const std::string kSql = std::string(kSelectDeployments) + " WHERE id = ?1";
  return find_one(kSql, "get deployment", deployment_from_row, id);
}

Status SqliteStore::set_deployment_state(std::int64_t id, DeploymentState state,
                                         std::string_view reason, std::int64_t now_ms) {
  constexpr const char* kSql =
      "UPDATE deployments SET state = ?2, reason = ?3, updated_ms = ?4 WHERE id = ?1";
  return update_existing_row(kSql, "set deployment state", id, deployment_state_name(state), reason,
                             now_ms);
}

}  // namespace spindle::gateway::sqlite
