// How store records map to table rows: the column lists the queries select, and one
// function per record that reads a row in that order. Private to gateway/store.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/gateway/store.hpp"
#include "sqlite_statement_private.hpp"

namespace spindle::gateway::sqlite {

inline constexpr const char* kSelectCaptures =
    "SELECT id, device_id, kind, label, windows_requested, windows_received, chunks_received, "
    "board, sample_rate_hz, window_length, axes, feature_count, created_ms, completed_ms, state, "
    "reason, origin, origin_event FROM captures";

// The device columns every device query selects, with the latest attestation verdict (a
// NULL verdict: none yet), calibration report (a NULL model id: none yet) and outstanding
// calibration reset (a NULL generation: none);
// device_from_row reads them in this order.
inline constexpr const char* kSelectDevices =
    "SELECT d.id, d.created_ms, d.registration, d.location, d.lifetime_s, d.last_seen_ms, "
    "d.online, a.verdict, a.time_ms, a.nonce, a.active_digest, a.firmware, a.expected_digest, "
    "c.model_id, c.version, c.state, c.generation, c.windows_done, c.windows_total, "
    "c.threshold, c.clamp, c.normalization, c.updated_ms, r.after_generation, r.requested_ms, "
    "r.model_id, r.version, "
    "(SELECT group_concat(t.key || '=' || t.value, char(10)) FROM "
    "(SELECT key, value FROM device_tags WHERE device_id = d.id ORDER BY key) t) "
    "FROM devices d LEFT JOIN attestations a ON a.device_id = d.id "
    "LEFT JOIN calibrations c ON c.device_id = d.id "
    "LEFT JOIN recalibrations r ON r.device_id = d.id";

inline constexpr const char* kSelectModels =
    "SELECT digest, size, model_id, created_ms FROM models";

inline constexpr const char* kSelectDeployments =
    "SELECT id, device_id, model_digest, model_id, version, manifest, created_ms, state, "
    "reason, updated_ms, role FROM deployments";

inline constexpr const char* kSelectRollouts =
    "SELECT id, name, model_id, version, model_digest, plan, phase, stage, stage_released_ms, "
    "halted_gate, halt_detail, created_ms, updated_ms FROM rollouts";

inline constexpr const char* kSelectRolloutDevices =
    "SELECT rollout_id, device_id, position, step, released_ms, decided_ms, candidate, promote, "
    "discard, revert, previous_deployment, deployment FROM rollout_devices";

inline constexpr const char* kSelectShadowReports =
    "SELECT model_id, version, scored, compared, agreed, active_anomalies, shadow_anomalies, "
    "active_histogram, shadow_histogram, latency_mean_us, latency_max_us, calibration, "
    "arena_high_water, updated_ms FROM shadow_reports";

// Every mapper reads its columns in the order given; a row holding a state name this build
// does not know (record_states.hpp) is refused with kIoError, and logged.

// The columns of kSelectDevices.
Result<StoredDevice> device_from_row(const Statement& row);
// The columns of kSelectModels.
Result<StoredModel> model_from_row(const Statement& row);
// The columns of kSelectDeployments.
Result<StoredDeployment> deployment_from_row(const Statement& row);
// The columns of kSelectRollouts.
Result<StoredRollout> rollout_from_row(const Statement& row);
// The columns of kSelectRolloutDevices.
Result<StoredRolloutDevice> rollout_device_from_row(const Statement& row);
// The columns of kSelectShadowReports.
Result<StoredShadowReport> shadow_report_from_row(const Statement& row);
// The columns of kSelectCaptures.
Result<StoredCapture> capture_from_row(const Statement& row);
// capture_id, sequence, first_window, window_count, board, sample_rate_hz, window_length,
// axes, feature_count, data, received_ms.
Result<StoredCaptureChunk> capture_chunk_from_row(const Statement& row);
// id, device_id, seq, name, time, unit, kind, number, text, boolean, data, received_ms.
Result<TelemetryRecord> telemetry_from_row(const Statement& row);
// id, time_ms, device_id, kind, detail.
Result<StoredEvent> event_from_row(const Statement& row);
// device_id, drifting, state, updated_ms.
Result<StoredDriftState> drift_state_from_row(const Statement& row);

// SQLite's LIMIT is signed; larger limits mean "no limit".
std::int64_t sql_limit(std::size_t limit);

}  // namespace spindle::gateway::sqlite
