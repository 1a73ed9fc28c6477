#include "sqlite_rows_private.hpp"

#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

namespace spindle::gateway::sqlite {
namespace {

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

// The enum a state column names, read with its from-text function: an unknown name is data
// this build cannot read, not a value to default.
template <typename Enum>
Result<Enum> stored_state(const Statement& row, int column,
                          Result<Enum> (*from_name)(std::string_view), const char* what) {
  const std::string text = row.column_text(column);
  const Result<Enum> value = from_name(text);
  if (!value.ok()) {
    spdlog::error("store: the database holds {} \"{}\", which this build does not know", what,
                  text);
    return Error::kIoError;
  }
  return value;
}

}  // namespace

Result<StoredDevice> device_from_row(const Statement& row) {
  StoredDevice device;
  device.id = row.column_text(0);
  device.created_ms = row.column_int64(1);
  device.registration = row.column_blob(2);
  device.location = row.column_text(3);
  device.lifetime_s = static_cast<std::uint32_t>(row.column_int64(4));
  device.last_seen_ms = row.column_int64(5);
  device.online = row.column_bool(6);
  if (!row.column_is_null(7)) {
    SPINDLE_TRY_ASSIGN(
        const AttestationVerdict verdict,
        stored_state(row, 7, attestation_verdict_from_name, "the attestation verdict"));
    device.attestation = StoredAttestation{
        .verdict = verdict,
        .time_ms = row.column_int64(8),
        .nonce = row.column_text(9),
        .active_digest = row.column_text(10),
        .firmware = row.column_text(11),
        .expected_digest = row.column_text(12),
    };
  }
  if (!row.column_is_null(13)) {
    StoredCalibration calibration;
    calibration.model_id = row.column_text(13);
    calibration.version = row.column_uint64(14);
    SPINDLE_TRY_ASSIGN(calibration.state,
                       stored_state(row, 15, calibration_state_from_name, "the calibration state"));
    calibration.generation = static_cast<std::uint32_t>(row.column_int64(16));
    calibration.windows_done = static_cast<std::uint32_t>(row.column_int64(17));
    calibration.windows_total = static_cast<std::uint32_t>(row.column_int64(18));
    calibration.threshold = row.column_double(19);
    SPINDLE_TRY_ASSIGN(calibration.clamp,
                       stored_state(row, 20, threshold_clamp_from_name, "the threshold clamp"));
    calibration.normalization = row.column_blob(21);
    calibration.updated_ms = row.column_int64(22);
    device.calibration = std::move(calibration);
  }
  if (!row.column_is_null(23)) {
    device.recalibration = StoredRecalibration{
        .model_id = row.column_text(25),
        .version = row.column_uint64(26),
        .after_generation = static_cast<std::uint32_t>(row.column_int64(23)),
        .requested_ms = row.column_int64(24),
    };
  }
  // Tags as "key=value" lines, by key (keys never hold '=' nor values a line break).
  if (!row.column_is_null(27)) {
    const std::string lines = row.column_text(27);
    std::size_t start = 0;
    while (start <= lines.size()) {
      const std::size_t end = std::min(lines.find('\n', start), lines.size());
      const std::string line = lines.substr(start, end - start);
      const std::size_t eq = line.find('=');
      if (eq != std::string::npos) device.tags.emplace(line.substr(0, eq), line.substr(eq + 1));
      start = end + 1;
    }
  }
  return device;
}

Result<StoredModel> model_from_row(const Statement& row) {
  StoredModel model;
  model.digest = row.column_text(0);
  model.size = row.column_uint64(1);
  model.model_id = row.column_text(2);
  model.created_ms = row.column_int64(3);
  return model;
}

Result<StoredDeployment> deployment_from_row(const Statement& row) {
  StoredDeployment deployment;
  deployment.id = row.column_int64(0);
  deployment.device_id = row.column_text(1);
  deployment.model_digest = row.column_text(2);
  deployment.model_id = row.column_text(3);
  deployment.version = row.column_uint64(4);
  deployment.manifest = row.column_blob(5);
  deployment.created_ms = row.column_int64(6);
  SPINDLE_TRY_ASSIGN(deployment.state,
                     stored_state(row, 7, deployment_state_from_name, "the deployment state"));
  deployment.reason = row.column_text(8);
  deployment.updated_ms = row.column_int64(9);
  SPINDLE_TRY_ASSIGN(deployment.role,
                     stored_state(row, 10, deployment_role_from_name, "the deployment role"));
  return deployment;
}

Result<StoredCapture> capture_from_row(const Statement& row) {
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
  SPINDLE_TRY_ASSIGN(capture.state,
                     stored_state(row, 14, capture_state_from_name, "the capture state"));
  capture.reason = row.column_text(15);
  SPINDLE_TRY_ASSIGN(capture.origin,
                     stored_state(row, 16, capture_origin_from_name, "the capture origin"));
  capture.origin_event = row.column_int64(17);
  return capture;
}

Result<StoredCaptureChunk> capture_chunk_from_row(const Statement& row) {
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
}

Result<TelemetryRecord> telemetry_from_row(const Statement& row) {
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

Result<StoredEvent> event_from_row(const Statement& row) {
  StoredEvent event;
  event.id = row.column_int64(0);
  event.time_ms = row.column_int64(1);
  event.device_id = row.column_text(2);
  event.kind = row.column_text(3);
  event.detail = row.column_text(4);
  return event;
}

Result<StoredDriftState> drift_state_from_row(const Statement& row) {
  StoredDriftState state;
  state.device_id = row.column_text(0);
  state.drifting = row.column_bool(1);
  state.state = row.column_blob(2);
  state.updated_ms = row.column_int64(3);
  return state;
}

std::int64_t sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(limit < kMax ? limit : kMax);
}

Result<StoredRollout> rollout_from_row(const Statement& row) {
  StoredRollout rollout;
  rollout.id = row.column_int64(0);
  rollout.name = row.column_text(1);
  rollout.model_id = row.column_text(2);
  rollout.version = row.column_uint64(3);
  rollout.model_digest = row.column_text(4);
  rollout.plan = row.column_text(5);
  SPINDLE_TRY_ASSIGN(rollout.phase,
                     stored_state(row, 6, rollout_phase_from_name, "the rollout phase"));
  rollout.stage = static_cast<std::int32_t>(row.column_int64(7));
  rollout.stage_released_ms = row.column_int64(8);
  rollout.halted_gate = row.column_text(9);
  rollout.halt_detail = row.column_text(10);
  rollout.created_ms = row.column_int64(11);
  rollout.updated_ms = row.column_int64(12);
  return rollout;
}

Result<StoredRolloutDevice> rollout_device_from_row(const Statement& row) {
  StoredRolloutDevice device;
  device.rollout_id = row.column_int64(0);
  device.device_id = row.column_text(1);
  device.position = static_cast<std::uint32_t>(row.column_int64(2));
  SPINDLE_TRY_ASSIGN(
      device.step, stored_state(row, 3, rollout_device_step_from_name, "the rollout device step"));
  device.released_ms = row.column_int64(4);
  device.decided_ms = row.column_int64(5);
  device.candidate = row.column_blob(6);
  device.promote = row.column_blob(7);
  device.discard = row.column_blob(8);
  device.revert = row.column_blob(9);
  device.previous_deployment = row.column_int64(10);
  device.deployment = row.column_int64(11);
  return device;
}

Result<StoredShadowReport> shadow_report_from_row(const Statement& row) {
  StoredShadowReport report;
  report.model_id = row.column_text(0);
  report.version = row.column_uint64(1);
  const auto u32 = [&](int column) { return static_cast<std::uint32_t>(row.column_int64(column)); };
  report.scored = u32(2);
  report.compared = u32(3);
  report.agreed = u32(4);
  report.active_anomalies = u32(5);
  report.shadow_anomalies = u32(6);
  for (const auto& [column, histogram] :
       {std::pair{7, &report.active_histogram}, std::pair{8, &report.shadow_histogram}}) {
    const Bytes bytes = row.column_blob(column);
    if (bytes.size() != histogram->size() * 4) {
      spdlog::error("store: a shadow report histogram of {} bytes", bytes.size());
      return Error::kIoError;
    }
    for (std::size_t i = 0; i < histogram->size(); ++i) {
      const std::uint8_t* p = bytes.data() + i * 4;  // little-endian u32, as the store writes them
      (*histogram)[i] = std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                        std::uint32_t{p[3]} << 24;
    }
  }
  report.latency_mean_us = u32(9);
  report.latency_max_us = u32(10);
  SPINDLE_TRY_ASSIGN(report.calibration, stored_state(row, 11, calibration_state_from_name,
                                                      "the shadow's calibration state"));
  report.arena_high_water = u32(12);
  report.updated_ms = row.column_int64(13);
  return report;
}

}  // namespace spindle::gateway::sqlite
