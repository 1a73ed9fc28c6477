#include "spindle/gateway/metrics.hpp"

#include <array>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <utility>

namespace spindle::gateway {
namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::uint64_t value) {
  out.append(name);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.append(" ").append(std::to_string(value)).append("\n");
}

constexpr std::array<const char*, kResponseClassCount> kResponseClassNames = {"2xx", "4xx", "5xx"};

}  // namespace

const char* coap_resource_name(CoapResource resource) {
  // Indexed by CoapResource.
  static constexpr std::array<const char*, kCoapResourceCount> kNames = {
      "well-known-core", "rd",        "rd-refresh", "manifest", "model",
      "status",          "telemetry", "capture",    "other"};
  const auto index = static_cast<std::size_t>(resource);
  return index < kNames.size() ? kNames[index] : "other";
}

void Metrics::count_response(CoapResource resource, ResponseClass response) {
  increment(responses_[index(resource)][static_cast<std::size_t>(response)]);
}

void Metrics::count_telemetry(std::uint64_t fresh, std::uint64_t duplicates) {
  increment(telemetry_records_, fresh);
  increment(telemetry_duplicates_, duplicates);
}

void Metrics::count_block_served(std::uint64_t bytes) {
  increment(blocks_served_);
  increment(block_bytes_served_, bytes);
}

void Metrics::count_commit(std::uint64_t jobs) {
  increment(commits_);
  increment(committed_jobs_, jobs);
}

void Metrics::count_http_request(int status) {
  const int status_class = status / 100;
  if (status_class >= 1 && status_class <= 5) {
    increment(http_requests_[static_cast<std::size_t>(status_class - 1)]);
  }
}

void Metrics::set_rollout(std::int64_t id, std::string_view phase,
                          std::span<const rollout::GateResult> gates,
                          const std::array<std::uint64_t, kRolloutDeviceStepCount>& steps) {
  std::lock_guard lock(rollouts_mutex_);
  RolloutGauges& g = rollouts_[id];
  g.phase = phase;
  if (!gates.empty()) g.gates.assign(gates.begin(), gates.end());
  g.steps = steps;
  while (rollouts_.size() > kMaxRolloutsShown)
    rollouts_.erase(rollouts_.begin());
}

void Metrics::count_rollout_halt(std::string_view gate) {
  std::lock_guard lock(rollouts_mutex_);
  const auto it = rollout_halts_.find(gate);
  if (it == rollout_halts_.end()) {
    rollout_halts_.emplace(std::string(gate), 1);
  } else {
    ++it->second;
  }
}

void Metrics::set_adaptation(const AdaptationCounts& counts) {
  for (std::size_t i = 0; i < devices_by_calibration_.size(); ++i) {
    devices_by_calibration_[i].store(counts.calibration_states[i], std::memory_order_relaxed);
  }
  devices_drifting_.store(counts.drifting, std::memory_order_relaxed);
}

void Metrics::count_calibration_change(std::optional<status_report::CalibrationState> before,
                                       status_report::CalibrationState after) {
  if (before == after) return;
  if (before)
    devices_by_calibration_[static_cast<std::size_t>(*before)].fetch_sub(1,
                                                                         std::memory_order_relaxed);
  increment(devices_by_calibration_[static_cast<std::size_t>(after)]);
}

void Metrics::count_drift(bool was_drifting, bool drifting, std::uint64_t started,
                          std::uint64_t cleared) {
  if (drifting && !was_drifting) increment(devices_drifting_);
  if (was_drifting && !drifting) devices_drifting_.fetch_sub(1, std::memory_order_relaxed);
  increment(drift_started_, started);
  increment(drift_cleared_, cleared);
}

void Metrics::set_devices(std::uint64_t registered, std::uint64_t online) {
  devices_registered_.store(registered, std::memory_order_relaxed);
  devices_online_.store(online, std::memory_order_relaxed);
}

std::string Metrics::render() const {
  auto load = [](const std::atomic<std::uint64_t>& value) {
    return value.load(std::memory_order_relaxed);
  };
  std::string out;
  out.reserve(4096);
  family(out, "spindle_coap_requests_total", "counter", "CoAP requests received, by resource.");
  for (std::size_t r = 0; r < kCoapResourceCount; ++r) {
    sample(out, "spindle_coap_requests_total",
           std::string("resource=\"") + coap_resource_name(static_cast<CoapResource>(r)) + "\"",
           load(requests_[r]));
  }
  family(out, "spindle_coap_responses_total", "counter",
         "CoAP responses sent, by resource and code class.");
  for (std::size_t r = 0; r < kCoapResourceCount; ++r) {
    for (std::size_t c = 0; c < kResponseClassCount; ++c) {
      sample(out, "spindle_coap_responses_total",
             std::string("resource=\"") + coap_resource_name(static_cast<CoapResource>(r)) +
                 "\",class=\"" + kResponseClassNames[c] + "\"",
             load(responses_[r][c]));
    }
  }
  // Unlabelled metrics: one sample each.
  struct Scalar {
    const char* name;
    const char* type;
    const char* help;
    const std::atomic<std::uint64_t>& value;
  };
  const Scalar scalars[] = {
      {"spindle_coap_rate_limited_total", "counter",
       "Requests refused with 4.29 because their peer exceeded its rate.", rate_limited_},
      {"spindle_dtls_refused_identities_total", "counter",
       "DTLS handshakes refused for an unknown PSK identity.", refused_identities_},
      {"spindle_devices_registered", "gauge", "Provisioned devices.", devices_registered_},
      {"spindle_devices_online", "gauge", "Devices whose registration has not expired.",
       devices_online_},
      {"spindle_telemetry_records_total", "counter", "Telemetry records stored.",
       telemetry_records_},
      {"spindle_telemetry_duplicates_total", "counter",
       "Telemetry records received again and skipped.", telemetry_duplicates_},
      {"spindle_telemetry_rejected_batches_total", "counter",
       "Telemetry batches rejected as malformed.", rejected_batches_},
      {"spindle_block_transfers_in_flight", "gauge",
       "Model downloads with a block served in the last minute.", block_transfers_in_flight_},
      {"spindle_blocks_served_total", "counter", "Block2 blocks of model payloads served.",
       blocks_served_},
      {"spindle_block_bytes_served_total", "counter", "Model payload bytes served.",
       block_bytes_served_},
      {"spindle_store_commits_total", "counter", "Group commits of the storage writer.", commits_},
      {"spindle_store_committed_jobs_total", "counter", "Write jobs made durable by those commits.",
       committed_jobs_},
      {"spindle_store_queue_depth", "gauge", "Write jobs waiting for the writer.",
       write_queue_depth_},
      {"spindle_captures_requested_total", "counter", "Data captures requested by operators.",
       captures_requested_},
      {"spindle_captures_completed_total", "counter",
       "Data captures that received every requested window.", captures_completed_},
      {"spindle_capture_windows_total", "counter", "Captured windows stored.", capture_windows_},
      {"spindle_devices_drifting", "gauge",
       "Devices whose feature statistics drift from their primary reference (their "
       "calibration, else their model's training baseline).",
       devices_drifting_},
  };
  for (const Scalar& scalar : scalars) {
    family(out, scalar.name, scalar.type, scalar.help);
    sample(out, scalar.name, "", load(scalar.value));
  }
  family(out, "spindle_http_requests_total", "counter", "Operator API requests, by status class.");
  for (std::size_t c = 0; c < http_requests_.size(); ++c) {
    sample(out, "spindle_http_requests_total", "class=\"" + std::to_string(c + 1) + "xx\"",
           load(http_requests_[c]));
  }
  family(out, "spindle_capture_chunks_total", "counter",
         "Capture chunks received, by result (stored, duplicate: re-sent and stored before, "
         "refused: unknown or finished capture, or contradicting it).");
  const std::pair<const char*, const std::atomic<std::uint64_t>*> chunk_results[] = {
      {"stored", &capture_chunks_stored_},
      {"duplicate", &capture_chunks_duplicate_},
      {"refused", &capture_chunks_refused_},
  };
  for (const auto& [result, value] : chunk_results) {
    sample(out, "spindle_capture_chunks_total", std::string("result=\"") + result + "\"",
           load(*value));
  }
  family(out, "spindle_attestations_total", "counter",
         "Attestation answers judged (and the verdict stored), by verdict.");
  for (std::size_t v = 0; v < kVerdictCount; ++v) {
    sample(out, "spindle_attestations_total",
           std::string("verdict=\"") + attestation_verdict_name(static_cast<Verdict>(v)) + "\"",
           load(attestations_[v]));
  }
  family(out, "spindle_drift_events_total", "counter",
         "Drift events: a device started drifting (drift) or stopped (drift-cleared).");
  sample(out, "spindle_drift_events_total", "kind=\"drift\"", load(drift_started_));
  sample(out, "spindle_drift_events_total", "kind=\"drift-cleared\"", load(drift_cleared_));
  family(out, "spindle_drift_captures_total", "counter",
         "Devices that started drifting under --drift-policy capture, by what the gateway did: "
         "opened a features capture (requested), or not because one was open (skipped-open) or "
         "the daily cap was reached (skipped-cap).");
  sample(out, "spindle_drift_captures_total", "outcome=\"requested\"",
         load(drift_captures_opened_));
  sample(out, "spindle_drift_captures_total", "outcome=\"skipped-open\"",
         load(drift_captures_skipped_open_));
  sample(out, "spindle_drift_captures_total", "outcome=\"skipped-cap\"",
         load(drift_captures_skipped_cap_));
  family(out, "spindle_devices_calibration", "gauge",
         "Devices by the state of their latest calibration report (devices that sent none are "
         "not counted).");
  for (std::size_t s = 0; s < devices_by_calibration_.size(); ++s) {
    sample(
        out, "spindle_devices_calibration",
        std::string("state=\"") +
            status_report::calibration_state_name(static_cast<status_report::CalibrationState>(s)) +
            "\"",
        load(devices_by_calibration_[s]));
  }
  render_rollouts(out);
  return out;
}

void Metrics::render_rollouts(std::string& out) const {
  std::lock_guard lock(rollouts_mutex_);
  const auto number = [](double v) {
    std::array<char, 32> text{};
    std::snprintf(text.data(), text.size(), "%.9g", v);
    return std::string(text.data());
  };
  family(out, "spindle_rollout_phase", "gauge",
         "Each rollout's phase: 1 for the phase it is in (the newest rollouts only).");
  for (const auto& [id, g] : rollouts_) {
    for (std::size_t p = 0; p < kRolloutPhaseCount; ++p) {
      const char* name = rollout_phase_name(static_cast<RolloutPhase>(p));
      sample(out, "spindle_rollout_phase",
             "rollout=\"" + std::to_string(id) + "\",phase=\"" + name + "\"",
             g.phase == name ? 1 : 0);
    }
  }
  family(out, "spindle_rollout_devices", "gauge", "Devices of each rollout, by step.");
  for (const auto& [id, g] : rollouts_) {
    for (std::size_t s = 0; s < g.steps.size(); ++s) {
      sample(out, "spindle_rollout_devices",
             "rollout=\"" + std::to_string(id) + "\",step=\"" +
                 rollout_device_step_name(static_cast<RolloutDeviceStep>(s)) + "\"",
             g.steps[s]);
    }
  }
  const std::pair<const char*, const char*> gauges[] = {
      {"spindle_rollout_gate_value", "Each gate's value at the rollout's latest step."},
      {"spindle_rollout_gate_threshold", "Each gate's threshold."},
      {"spindle_rollout_gate_verdict",
       "Each gate's verdict at the latest step: 0 pending, 1 pass, 2 fail."},
  };
  for (std::size_t k = 0; k < 3; ++k) {
    family(out, gauges[k].first, "gauge", gauges[k].second);
    for (const auto& [id, g] : rollouts_) {
      for (const rollout::GateResult& gate : g.gates) {
        const double v = k == 0   ? gate.value
                         : k == 1 ? gate.threshold
                                  : static_cast<double>(gate.verdict);
        out.append(gauges[k].first)
            .append("{rollout=\"")
            .append(std::to_string(id))
            .append("\",gate=\"")
            .append(gate.name)
            .append("\"} ")
            .append(number(v))
            .append("\n");
      }
    }
  }
  family(out, "spindle_rollout_halts_total", "counter",
         "Rollouts halted, by the gate that failed.");
  for (const auto& [gate, count] : rollout_halts_) {
    sample(out, "spindle_rollout_halts_total", "gate=\"" + gate + "\"", count);
  }
}

}  // namespace spindle::gateway
