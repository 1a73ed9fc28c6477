#include "spindle/gateway/metrics.hpp"

#include <gtest/gtest.h>

namespace spindle::gateway {
namespace {

TEST(Metrics, RendersCountersAndGaugesInPrometheusTextFormat) {
  Metrics metrics;
  metrics.count_request(CoapResource::kTelemetry);
  metrics.count_request(CoapResource::kTelemetry);
  metrics.count_response(CoapResource::kTelemetry, ResponseClass::kClientError);
  metrics.count_telemetry(5, 2);
  metrics.set_devices(10, 7);
  metrics.set_block_transfers_in_flight(3);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE spindle_coap_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("spindle_coap_requests_total{resource=\"telemetry\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("spindle_coap_responses_total{resource=\"telemetry\",class=\"4xx\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("spindle_telemetry_records_total 5\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_telemetry_duplicates_total 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_registered 10\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_online 7\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_block_transfers_in_flight 3\n"), std::string::npos);
}

TEST(Metrics, HttpRequestsAreCountedByStatusClass) {
  Metrics metrics;
  metrics.count_http_request(200);
  metrics.count_http_request(201);
  metrics.count_http_request(401);
  metrics.count_http_request(999);  // not a status: ignored
  const std::string text = metrics.render();
  EXPECT_NE(text.find("spindle_http_requests_total{class=\"2xx\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_http_requests_total{class=\"4xx\"} 1\n"), std::string::npos);
}

TEST(Metrics, AttestationsAreCountedByVerdict) {
  Metrics metrics;
  metrics.count_attestation(Verdict::kMatch);
  metrics.count_attestation(Verdict::kMatch);
  metrics.count_attestation(Verdict::kStale);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE spindle_attestations_total counter"), std::string::npos);
  EXPECT_NE(text.find("spindle_attestations_total{verdict=\"match\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_attestations_total{verdict=\"mismatch\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_attestations_total{verdict=\"mac-invalid\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("spindle_attestations_total{verdict=\"stale\"} 1\n"), std::string::npos);
}

TEST(Metrics, AdaptationGaugesStartFromTheStoreAndFollowCommittedChanges) {
  using status_report::CalibrationState;
  Metrics metrics;
  AdaptationCounts counts;
  counts.calibration_states[static_cast<std::size_t>(CalibrationState::kNormalizing)] = 2;
  counts.calibration_states[static_cast<std::size_t>(CalibrationState::kCalibrated)] = 5;
  counts.drifting = 1;
  metrics.set_adaptation(counts);
  metrics.count_calibration_change(CalibrationState::kNormalizing, CalibrationState::kThresholding);
  metrics.count_calibration_change(std::nullopt, CalibrationState::kNormalizing);  // a first
  metrics.count_calibration_change(CalibrationState::kCalibrated, CalibrationState::kCalibrated);
  metrics.count_drift(false, true, 1, 0);
  metrics.count_drift(true, true, 0, 0);
  metrics.count_drift(true, false, 0, 1);
  metrics.count_drift(false, true, 1, 0);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("# TYPE spindle_devices_drifting gauge"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_drifting 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_drift_events_total{kind=\"drift\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_drift_events_total{kind=\"drift-cleared\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE spindle_devices_calibration gauge"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_calibration{state=\"none\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_calibration{state=\"normalizing\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("spindle_devices_calibration{state=\"thresholding\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("spindle_devices_calibration{state=\"calibrated\"} 5\n"), std::string::npos);
}

}  // namespace
}  // namespace spindle::gateway
