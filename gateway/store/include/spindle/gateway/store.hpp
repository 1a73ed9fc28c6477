// The gateway's storage interface: devices, models, deployments, telemetry and events.
//
// One Store object is one connection; it is used by one thread at a time. The CoAP thread
// never writes through a Store directly: writes go through the group-commit writer
// (gateway/core/writer.hpp), which owns one Store, and readers (HTTP API, start-up) open
// their own. SQLite (WAL) is the embedded implementation (open_sqlite_store); a server
// database would implement the same interface.
//
// Times: wall-clock Unix milliseconds (`*_ms`) for what the gateway stamps, Unix seconds
// (double) for reading times, which come from the node (SenML bt + t).
//
// Every function returns a Status/Result; none throws. kIoError covers a failure of the
// database or the file system, and a stored value this build cannot read (a state name it
// does not know); the implementation logs the underlying message.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "spindle/gateway/record_states.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/status.hpp"

namespace spindle::gateway {

using Bytes = std::vector<std::uint8_t>;

// A device's latest attestation verdict (docs/delivery.md "Attestation").
struct StoredAttestation {
  // attestation_verdict_name of the verdict. Still text until gateway/coap names it as an
  // AttestationVerdict; the store refuses a name attestation_verdict_from_name does not know.
  AttestationVerdict verdict = AttestationVerdict::kMatch;
  std::int64_t time_ms = 0;
  std::string nonce;            // hex of the nonce the answer echoed
  std::string active_digest;    // hex, as the node reported it
  std::string firmware;         // firmware version, as the node reported it
  std::string expected_digest;  // hex of the current deployment's payload; "" when none
};

// A device's latest calibration report (docs/gateway/drift.md), as the node sent it,
// whichever model it is for.
struct StoredCalibration {
  std::string model_id;
  std::uint64_t version = 0;
  status_report::CalibrationState state = status_report::CalibrationState::kNone;
  std::uint32_t generation = 0;
  std::uint32_t windows_done = 0;
  std::uint32_t windows_total = 0;
  double threshold = 0.0;
  status_report::ThresholdClamp clamp = status_report::ThresholdClamp::kNone;
  // The learned per-feature (mean, stddev), float32 little-endian pairs as on the wire;
  // empty while normalizing or without calibration.
  Bytes normalization;
  std::int64_t updated_ms = 0;  // when the gateway received the report
};

// A device's drift state (gateway/core/drift.hpp), opaque to the store except for whether
// the device is drifting, which the fleet's counts need.
struct StoredDriftState {
  std::string device_id;
  bool drifting = false;
  Bytes state;  // drift::encode_state's bytes
  std::int64_t updated_ms = 0;
};

// How the fleet's per-machine adaptation stands: devices by the state of their latest
// calibration report (indexed by status_report::CalibrationState; devices that never sent
// one are not counted), and devices whose drift state says drifting.
struct AdaptationCounts {
  std::array<std::uint64_t, status_report::kMaxCalibrationState + 1> calibration_states{};
  std::uint64_t drifting = 0;
};

// An operator's reset of a device's calibration (POST /api/v1/devices/{id}/calibration/reset):
// outstanding until the device reports a calibration of a generation above after_generation
// (or of another model: gateway/core/recalibration.hpp). While it is, the gateway asks the
// node for it on every 2.xx answer (gateway_request key 3).
struct StoredRecalibration {
  std::string model_id;  // of the calibration that was reset
  std::uint64_t version = 0;
  std::uint32_t after_generation = 0;  // the generation the device reported when reset
  std::int64_t requested_ms = 0;
};

struct StoredDevice {
  std::string id;
  std::int64_t created_ms = 0;
  Bytes registration;    // CBOR body of the last registration; empty before the first
  std::string location;  // Location-Path given at registration ("rd/7"); "" before
  std::uint32_t lifetime_s = 0;
  std::int64_t last_seen_ms = 0;  // last registration or refresh
  bool online = false;
  std::optional<StoredAttestation> attestation;      // none before the first verdict
  std::optional<StoredCalibration> calibration;      // none before the first calibration report
  std::optional<StoredRecalibration> recalibration;  // none unless a reset is outstanding
  // The operator's labels for groups (docs/gateway/rollouts.md "Groups"): key -> value,
  // keys and values as check_tag allows.
  std::map<std::string, std::string> tags;
};

// Whether a tag key (1..32 of [a-z0-9_.-], starting with a letter) and value (0..64 of
// [A-Za-z0-9_.:/-]) are acceptable. Errors: kInvalidValue, with `why` naming the rule.
Status check_tag(std::string_view key, std::string_view value, std::string* why);

struct StoredModel {
  std::string digest;  // SHA-256 of the payload, lower-case hex: the content address
  std::uint64_t size = 0;
  std::string model_id;
  std::int64_t created_ms = 0;
};

struct StoredDeployment {
  std::int64_t id = 0;  // assigned by add_deployment, increasing
  std::string device_id;
  std::string model_digest;
  std::string model_id;
  std::uint64_t version = 0;
  Bytes manifest;                                 // the COSE_Sign1 served on /d/{device}/manifest
  DeploymentRole role = DeploymentRole::kActive;  // the manifest's role (key 13)
  std::int64_t created_ms = 0;
  DeploymentState state = DeploymentState::kPending;  // then what the node reports
  std::string reason;  // error name of the last report ("ok" for progress)
  std::int64_t updated_ms = 0;
};

// A device's latest shadow report (status report kind 3, docs/firmware/shadow.md): how a
// candidate running in shadow compares with the active model on the same windows.
// Counters are cumulative since the node loaded the shadow.
struct StoredShadowReport {
  std::string model_id;  // of the shadow
  std::uint64_t version = 0;
  std::uint32_t scored = 0;    // windows scored by both
  std::uint32_t compared = 0;  // of those, judged by both (neither calibrating)
  std::uint32_t agreed = 0;
  std::uint32_t active_anomalies = 0;
  std::uint32_t shadow_anomalies = 0;
  std::array<std::uint32_t, 16> active_histogram{};  // score / threshold, bins of 1/8
  std::array<std::uint32_t, 16> shadow_histogram{};
  std::uint32_t latency_mean_us = 0;
  std::uint32_t latency_max_us = 0;
  status_report::CalibrationState calibration = status_report::CalibrationState::kNone;
  std::uint32_t arena_high_water = 0;
  std::int64_t updated_ms = 0;  // when the gateway received it
};

// A staged rollout as stored (gateway/core/rollout.hpp is its state machine): the plan is
// the core's JSON text, the rest its persisted state.
struct StoredRollout {
  std::int64_t id = 0;  // assigned by add_rollout, increasing
  std::string name;
  std::string model_id;  // the candidate
  std::uint64_t version = 0;
  std::string model_digest;
  std::string plan;  // rollout::plan_to_json
  RolloutPhase phase = RolloutPhase::kRunning;
  std::int32_t stage = -1;  // released last; -1 before the first
  std::int64_t stage_released_ms = 0;
  std::string halted_gate;
  std::string halt_detail;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// One device of a rollout, in release order (`position`), with what spindlectl signed for
// it: the candidate manifest and the decisions the rollout may release (empty when the
// plan needs none: promote and discard exist only for shadow rollouts).
struct StoredRolloutDevice {
  std::int64_t rollout_id = 0;
  std::string device_id;
  std::uint32_t position = 0;
  RolloutDeviceStep step = RolloutDeviceStep::kWaiting;
  std::int64_t released_ms = 0;
  std::int64_t decided_ms = 0;
  Bytes candidate;  // COSE_Sign1 manifest
  Bytes promote;    // COSE_Sign1 decisions (protocol/decision.hpp)
  Bytes discard;
  Bytes revert;
  std::int64_t previous_deployment = 0;  // the device's deployment when the rollout began; 0 none
  std::int64_t deployment = 0;           // the candidate's deployment once released; else 0
};

// A device's readings in a time interval, summarized for the rollout gates.
struct TelemetrySummary {
  std::uint64_t scored = 0;       // windows with a score
  std::uint64_t calibrating = 0;  // of those, taken while the model calibrated
  std::uint64_t anomalies = 0;
  std::uint64_t latency_count = 0;
  double latency_p95_s = 0.0;  // nearest rank; 0 without readings
  double arena_max = 0.0;
  double reboots_min = 0.0;  // of the device's reboot counter
  double reboots_max = 0.0;
};

// One SenML record, resolved (base values applied), as stored.
struct TelemetryRecord {
  std::int64_t id = 0;  // assigned by the store; increasing in insertion order
  std::string device_id;
  std::uint64_t seq = 0;
  std::string name;
  double time = 0.0;  // Unix seconds
  std::string unit;
  senml::ValueKind kind = senml::ValueKind::kNone;
  double number = 0.0;
  std::string text;
  bool boolean = false;
  Bytes data;
  std::int64_t received_ms = 0;
};

struct TelemetryQuery {
  std::string device_id;                                   // "" = every device
  std::string name;                                        // "" = every name
  double from = -std::numeric_limits<double>::infinity();  // reading time, inclusive
  double to = std::numeric_limits<double>::infinity();     // reading time, exclusive
  std::int64_t after_id = 0;                               // paging: only records with a larger id
  std::size_t limit = 1000;
};

// A data capture (docs/protocol.md "Data capture"): what the operator asked a device for
// and what has arrived. The window shape is what the node's first chunk reported; 0 and ""
// before it.
struct StoredCapture {
  std::int64_t id = 0;  // assigned by add_capture, increasing; the capture id on the wire
  std::string device_id;
  std::string kind;   // "features" or "raw"
  std::string label;  // the operator's (or the gateway's, for a drift capture), "" when none
  CaptureOrigin origin = CaptureOrigin::kOperator;
  std::int64_t origin_event = 0;  // kDrift: the id of the "drift" event that opened it; else 0
  std::uint32_t windows_requested = 0;
  std::uint32_t windows_received = 0;
  std::uint32_t chunks_received = 0;
  std::string board;
  std::uint32_t sample_rate_hz = 0;
  std::uint32_t window_length = 0;
  std::uint32_t axes = 0;
  std::uint32_t feature_count = 0;
  std::int64_t created_ms = 0;
  std::int64_t completed_ms = 0;  // 0 until complete or failed
  CaptureState state = CaptureState::kRequested;
  std::string reason;  // why it failed; "" otherwise
};

// One stored chunk: whole windows of little-endian float32 values (protocol/capture.hpp).
struct StoredCaptureChunk {
  std::int64_t capture_id = 0;
  std::uint32_t sequence = 0;
  std::uint32_t first_window = 0;
  std::uint32_t window_count = 0;
  std::string board;  // the window shape the chunk was sent with
  std::uint32_t sample_rate_hz = 0;
  std::uint32_t window_length = 0;
  std::uint32_t axes = 0;
  std::uint32_t feature_count = 0;
  Bytes data;
  std::int64_t received_ms = 0;
};

struct StoredEvent {
  std::int64_t id = 0;
  std::int64_t time_ms = 0;
  std::string device_id;  // "" for gateway-wide events
  std::string kind;       // "registered", "offline", "bad-telemetry", ...
  std::string detail;
};

struct EventQuery {
  std::string device_id;                                            // "" = all
  std::string kind;                                                 // "" = all
  std::int64_t from_ms = std::numeric_limits<std::int64_t>::min();  // inclusive
  std::int64_t to_ms = std::numeric_limits<std::int64_t>::max();    // exclusive
  std::int64_t after_id = 0;
  std::size_t limit = 1000;
};

class Store {
 public:
  virtual ~Store() = default;

  // Transactions. Writes outside a transaction commit one by one. Savepoints nest inside a
  // transaction so that one failing job of a group commit does not undo the others.
  // Errors: kIoError; kInvalidState (commit without begin, begin inside a transaction).
  virtual Status begin() = 0;
  virtual Status commit() = 0;
  virtual Status rollback() = 0;
  virtual Status savepoint() = 0;
  virtual Status release_savepoint() = 0;
  virtual Status rollback_to_savepoint() = 0;

  // ---- Devices ----
  // Errors: kInvalidValue (id fails check_id), kAlreadyExists, kIoError.
  virtual Status add_device(std::string_view id, std::int64_t now_ms) = 0;
  // Errors: kNotFound, kIoError.
  virtual Result<StoredDevice> get_device(std::string_view id) = 0;
  // Every device, ordered by id. Errors: kIoError.
  virtual Result<std::vector<StoredDevice>> list_devices() = 0;
  // Replaces the device's tags with `tags` (an empty map clears them). Errors: kNotFound,
  // kInvalidValue (a tag check_tag refuses), kIoError.
  virtual Status set_device_tags(std::string_view id,
                                 const std::map<std::string, std::string>& tags) = 0;
  // Keeps the registration body, location and lifetime, sets last_seen and online.
  // Errors: kNotFound, kIoError.
  virtual Status save_registration(std::string_view id, std::span<const std::uint8_t> body,
                                   std::string_view location, std::uint32_t lifetime_s,
                                   std::int64_t now_ms) = 0;
  // A refresh: last_seen = now, online, and the lifetime when it is not 0.
  // Errors: kNotFound, kIoError.
  virtual Status touch_device(std::string_view id, std::uint32_t lifetime_s,
                              std::int64_t now_ms) = 0;
  // Errors: kNotFound, kIoError.
  virtual Status set_online(std::string_view id, bool online) = 0;
  // Keeps `attestation` as the device's latest verdict, replacing the previous one.
  // Errors: kInvalidValue (an unknown verdict name), kNotFound (no such device), kIoError.
  virtual Status save_attestation(std::string_view device_id,
                                  const StoredAttestation& attestation) = 0;
  // Keeps `calibration` as the device's latest calibration report, replacing the previous
  // one (get_device and list_devices return it). Errors: kNotFound (no such device),
  // kIoError.
  virtual Status save_calibration(std::string_view device_id,
                                  const StoredCalibration& calibration) = 0;
  // Keeps `recalibration` as the device's outstanding calibration reset, replacing any
  // earlier one. Errors: kNotFound (no such device), kIoError.
  virtual Status save_recalibration(std::string_view device_id,
                                    const StoredRecalibration& recalibration) = 0;
  // Forgets the device's outstanding reset, if any. Errors: kIoError.
  virtual Status clear_recalibration(std::string_view device_id) = 0;

  // ---- Drift ----
  // Keeps `state` as its device's drift state, replacing the previous one.
  // Errors: kNotFound (no such device), kIoError.
  virtual Status save_drift_state(const StoredDriftState& state) = 0;
  // Errors: kNotFound (no drift state yet: no feature summary arrived), kIoError.
  virtual Result<StoredDriftState> get_drift_state(std::string_view device_id) = 0;
  // Errors: kIoError (also for a stored calibration state this build does not know).
  virtual Result<AdaptationCounts> count_adaptation() = 0;

  // ---- Models (payloads content-addressed on disk, beside the database) ----
  // Stores the payload under its SHA-256 (written to a temporary file, synced, renamed) and
  // records it. Putting the same bytes again returns the existing record.
  // Errors: kInvalidValue (model id fails check_id, empty payload), kIoError.
  virtual Result<StoredModel> put_model(std::string_view model_id,
                                        std::span<const std::uint8_t> payload,
                                        std::int64_t now_ms) = 0;
  // Errors: kNotFound, kIoError.
  virtual Result<StoredModel> get_model(std::string_view digest) = 0;
  // Ordered by creation. Errors: kIoError.
  virtual Result<std::vector<StoredModel>> list_models() = 0;
  // The payload bytes. Errors: kNotFound; kDigestMismatch when the file on disk no longer
  // hashes to its name (corruption); kIoError.
  virtual Result<Bytes> read_model_payload(std::string_view digest) = 0;

  // ---- Deployments ----
  // Records a deployment (state kPending, whatever `deployment` holds) and returns its id.
  // Errors: kNotFound (device or model unknown), kIoError.
  virtual Result<std::int64_t> add_deployment(const StoredDeployment& deployment) = 0;
  // The newest deployment of every device that has one, ordered by device id.
  // Errors: kIoError.
  virtual Result<std::vector<StoredDeployment>> current_deployments() = 0;
  // Every deployment of one device, newest first. Errors: kIoError.
  virtual Result<std::vector<StoredDeployment>> device_deployments(std::string_view device_id) = 0;
  // Errors: kNotFound, kIoError.
  virtual Status set_deployment_state(std::int64_t id, DeploymentState state,
                                      std::string_view reason, std::int64_t now_ms) = 0;

  // Errors: kNotFound, kIoError.
  virtual Result<StoredDeployment> get_deployment(std::int64_t id) = 0;

  // ---- Shadow reports ----
  // Keeps `report` as the device's latest, replacing the previous one.
  // Errors: kNotFound (no such device), kIoError.
  virtual Status save_shadow_report(std::string_view device_id,
                                    const StoredShadowReport& report) = 0;
  // Errors: kNotFound (none received), kIoError.
  virtual Result<StoredShadowReport> get_shadow_report(std::string_view device_id) = 0;

  // ---- Rollouts ----
  // Records a rollout and its devices (rollout_id is set from the new id) and returns the
  // id. Errors: kNotFound (a device unknown), kAlreadyExists (a device twice), kIoError.
  virtual Result<std::int64_t> add_rollout(const StoredRollout& rollout,
                                           std::span<const StoredRolloutDevice> devices) = 0;
  // Errors: kNotFound, kIoError.
  virtual Result<StoredRollout> get_rollout(std::int64_t id) = 0;
  // Newest first. Errors: kIoError.
  virtual Result<std::vector<StoredRollout>> list_rollouts() = 0;
  // By position. Errors: kIoError.
  virtual Result<std::vector<StoredRolloutDevice>> rollout_devices(std::int64_t rollout_id) = 0;
  // Stores the rollout's state: phase, stage, stage_released_ms, halted_gate, halt_detail,
  // updated_ms. Errors: kNotFound, kIoError.
  virtual Status save_rollout_state(const StoredRollout& rollout) = 0;
  // Stores a device's step, released_ms, decided_ms and deployment. Errors: kNotFound,
  // kIoError.
  virtual Status save_rollout_device(const StoredRolloutDevice& device) = 0;
  // The rollout devices whose decision is out (promoting, discarding, reverting), of every
  // rollout, oldest rollout first. Errors: kIoError.
  virtual Result<std::vector<StoredRolloutDevice>> outstanding_decisions() = 0;

  // ---- Telemetry ----
  // Appends records, skipping any whose (device, seq, name, time) is already stored: a
  // retransmitted batch is counted once, and a node whose flash was wiped (seq restarts at
  // 1) is not mistaken for a duplicate because its readings carry new times. Returns how
  // many records were new. All or nothing. Errors: kIoError.
  virtual Result<std::size_t> append_telemetry(std::span<const TelemetryRecord> records) = 0;
  // Ordered by id. Errors: kIoError.
  virtual Result<std::vector<TelemetryRecord>> query_telemetry(const TelemetryQuery& query) = 0;
  // Errors: kIoError.
  virtual Result<std::uint64_t> count_telemetry(std::string_view device_id) = 0;
  // The device's readings with from <= time < to (Unix seconds). Errors: kIoError.
  virtual Result<TelemetrySummary> summarize_telemetry(std::string_view device_id, double from,
                                                       double to) = 0;

  // ---- Captures ----
  // Records a capture in state kRequested (kind, label, windows_requested, origin,
  // origin_event, device_id and created_ms are taken from `capture`) and returns it with
  // its id.
  // Errors: kNotFound (unknown device), kIoError.
  virtual Result<StoredCapture> add_capture(const StoredCapture& capture) = 0;
  // Errors: kNotFound, kIoError.
  virtual Result<StoredCapture> get_capture(std::int64_t id) = 0;
  // Newest first; "" = every device; `active_only`: kRequested or kCollecting.
  // Errors: kIoError.
  virtual Result<std::vector<StoredCapture>> list_captures(std::string_view device_id,
                                                           bool active_only) = 0;
  // Stores a chunk unless its (capture, sequence) or (capture, first window) is already
  // stored, in which case nothing changes (a re-sent chunk is stored once, even after the
  // capture completed). A new chunk adds its windows; the capture becomes kCollecting, or
  // kComplete (completed_ms = the chunk's received_ms) once every requested window is
  // there; the chunk sets the window shape. Returns whether the chunk was new.
  // Errors: kNotFound (no such capture), kInvalidState (a new chunk for a capture that is
  // complete or failed), kIoError.
  virtual Result<bool> add_capture_chunk(const StoredCaptureChunk& chunk) = 0;
  // Marks an unfinished capture kFailed with `reason`. Errors: kNotFound, kIoError.
  virtual Status fail_capture(std::int64_t id, std::string_view reason, std::int64_t now_ms) = 0;
  // Every chunk of a capture, by first window. Errors: kIoError.
  virtual Result<std::vector<StoredCaptureChunk>> capture_chunks(std::int64_t capture_id) = 0;

  // ---- Events ----
  // Returns the event's id. Errors: kIoError.
  virtual Result<std::int64_t> append_event(std::string_view device_id, std::string_view kind,
                                            std::string_view detail, std::int64_t now_ms) = 0;
  // Ordered by id. Errors: kIoError.
  virtual Result<std::vector<StoredEvent>> query_events(const EventQuery& query) = 0;
};

struct SqliteOptions {
  // FULL: a commit is on disk before it returns (power-loss safe). NORMAL: survives a
  // process crash, may lose the last commits on power loss. The gateway uses FULL.
  bool synchronous_full = true;
  int busy_timeout_ms = 5000;
};

// Opens (creating on first use) `data_dir/spindle.db` in WAL mode and applies any pending
// schema migrations, and `data_dir/models/` for payloads. Each call is a new connection;
// several may be open at once (one writer, many readers).
// Errors: kIoError (cannot create or open; the reason is logged), kUnsupportedVersion (the
// database has a schema newer than this build knows).
Result<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& data_dir,
                                                 const SqliteOptions& options = {});

// The schema version this build writes (the number of migrations it knows).
int sqlite_schema_version();

}  // namespace spindle::gateway
