#include "golden_examples.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "spindle/protocol/capture.hpp"
#include "spindle/protocol/cose_sign1.hpp"
#include "spindle/protocol/decision.hpp"
#include "spindle/protocol/gateway_request.hpp"
#include "spindle/protocol/manifest.hpp"
#include "spindle/protocol/registration.hpp"
#include "spindle/protocol/senml.hpp"
#include "spindle/protocol/status_report.hpp"

namespace spindle::examples {
namespace {

std::vector<std::uint8_t> must(Result<std::span<const std::uint8_t>> encoded, const char* what) {
  if (!encoded.ok()) {
    std::fprintf(stderr, "golden example %s failed to encode: %s\n", what, encoded.status().name());
    std::abort();
  }
  return {encoded->begin(), encoded->end()};
}

crypto::Digest digest_of(std::string_view text) {
  return crypto::Sha256::of(crypto::as_bytes(text));
}

// Byte patterns that are easy to recognise in a hex dump.
template <std::size_t N>
std::array<std::uint8_t, N> pattern(std::uint8_t start) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i)
    out[i] = static_cast<std::uint8_t>(start + i);
  return out;
}

const crypto::Digest kSlotDigest = digest_of("spindle example model vib-ae v3");
const crypto::Digest kPayloadDigest = digest_of("spindle example ciphertext vib-ae v4");
const auto kNonce = pattern<7>(0x01);
const auto kWrappedKey = pattern<24>(0xa0);
const std::array<std::uint8_t, 8> kSelfTestInput = {0x00, 0x7f, 0x80, 0x01, 0xfe, 0x10, 0xf0, 0x42};
const std::array<std::uint8_t, 1> kSelfTestOutput = {0x17};
const auto kAttestNonce = pattern<16>(0x30);

manifest::Manifest example_manifest() {
  manifest::Manifest m;
  m.model_id = "vib-ae";
  m.version = 4;
  m.device_id = "node-0001";
  m.payload_digest = kPayloadDigest;
  m.payload_size = 12345;
  m.encryption.nonce = kNonce;
  m.encryption.wrapped_key = kWrappedKey;
  m.requirements = {.arena_bytes = 8192, .flash_bytes = 16384, .op_set = 0x1f};
  m.input = {.feature_count = 8, .sample_rate_hz = 3200, .window_length = 1024, .axes = 3};
  m.threshold = 0.75F;
  m.baseline_count = 8;
  for (std::size_t i = 0; i < m.baseline_count; ++i) {
    m.baseline[i] = {.mean = 0.5F * static_cast<float>(i),
                     .stddev = 1.0F + 0.25F * static_cast<float>(i)};
  }
  m.self_test_count = 1;
  m.self_tests[0] = {.input = kSelfTestInput, .expected_output = kSelfTestOutput};
  m.has_calibration = true;
  m.calibration = {.normalization_windows = 300,
                   .threshold_windows = 300,
                   .threshold_quantile = 0.995F,
                   .threshold_margin = 1.5F,
                   .threshold_min = 0.25F,
                   .threshold_max = 3.0F};
  return m;
}

}  // namespace

crypto::EcPrivateKey test_signing_key() {
  return digest_of("spindle test signing key");
}
std::string test_signing_kid() {
  return "spindle-test-2026";
}
std::vector<std::uint8_t> test_master_secret() {
  const auto d = digest_of("spindle test site master secret");
  return {d.begin(), d.end()};
}

std::vector<Vector> golden_vectors() {
  std::vector<Vector> out;
  std::array<std::uint8_t, 2048> buffer{};

  {
    registration::Registration reg;
    reg.board = "nrf52840dk";
    reg.firmware_version = "0.1.0";
    reg.slots[0] = {registration::SlotState::kActive, "vib-ae", 3, kSlotDigest};
    reg.slots[1] = {};
    reg.active_slot = 0;
    reg.budgets = {
        .sram_bytes = 262144, .arena_bytes = 32768, .model_flash_bytes = 131072, .op_set = 0x3f};
    out.push_back({"registration.cbor",
                   "Registration body of an nRF52840-DK node running firmware 0.1.0, slot A "
                   "active with model vib-ae v3, slot B empty.",
                   must(registration::encode(reg, buffer), "registration")});
  }
  {
    out.push_back({"manifest.cbor",
                   "Manifest payload: model vib-ae v4 for device node-0001, AES-CCM-64-128-128 "
                   "(COSE alg 33) with a wrapped content key, 8 input features with training "
                   "baseline, one self-test vector, per-machine calibration over 300 + 300 windows "
                   "(threshold at the 0.995 quantile x 1.5, within 0.25..3).",
                   must(manifest::encode(example_manifest(), buffer), "manifest")});
  }
  {
    const std::vector<std::uint8_t> payload = out.back().bytes;
    const std::string kid = test_signing_kid();
    std::array<std::uint8_t, 2048> signed_buffer{};
    out.push_back(
        {"manifest.cose",
         "The manifest.cbor payload in a tagged COSE_Sign1 (ES256, deterministic "
         "ECDSA per RFC 6979) under kid \"spindle-test-2026\"; the public key is in "
         "test_signing_key.pub.",
         must(cose::sign(test_signing_key(), crypto::as_bytes(kid), payload, signed_buffer),
              "manifest.cose")});
  }
  {
    status_report::StatusReport report;
    report.kind = status_report::Kind::kUpdate;
    report.update = {.model_id = "vib-ae",
                     .version = 4,
                     .state = status_report::InstallState::kManifestRejected,
                     .reason = Error::kRollback,
                     .detail = "installed version is 5"};
    out.push_back({"status_update.cbor",
                   "Update report: the node rejected manifest vib-ae v4 with reason rollback.",
                   must(status_report::encode(report, buffer), "status_update")});
  }
  {
    std::array<std::uint8_t, 32> attestation_key{};
    const auto master = test_master_secret();
    if (!crypto::derive_device_key(master, "node-0001", crypto::KeyPurpose::kAttestation,
                                   attestation_key)
             .ok()) {
      std::abort();
    }
    const auto mac = status_report::attestation_mac(attestation_key, "node-0001", kAttestNonce,
                                                    kSlotDigest, "0.1.0");
    if (!mac.ok()) std::abort();
    status_report::StatusReport report;
    report.kind = status_report::Kind::kAttestation;
    report.attestation = {.nonce = kAttestNonce,
                          .active_digest = kSlotDigest,
                          .firmware_version = "0.1.0",
                          .mac = *mac};
    out.push_back({"status_attestation.cbor",
                   "Attestation answer of node-0001 to nonce 30..3f: active digest, firmware "
                   "0.1.0, HMAC-SHA256 under its attestation key derived from the test master "
                   "secret.",
                   must(status_report::encode(report, buffer), "status_attestation")});
  }
  {
    // Two features: (0.5, 0.25) and (-1.0, 2.0), float32 little-endian.
    static constexpr std::array<std::uint8_t, 16> kNormalization = {
        0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0x3e,
        0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x40};
    status_report::StatusReport report;
    report.kind = status_report::Kind::kCalibration;
    report.calibration = {.model_id = "vib-ae",
                          .version = 4,
                          .state = status_report::CalibrationState::kCalibrated,
                          .generation = 1,
                          .windows_done = 600,
                          .windows_total = 600,
                          .threshold = 0.8125F,
                          .clamp = status_report::ThresholdClamp::kNone,
                          .normalization = kNormalization};
    out.push_back({"status_calibration.cbor",
                   "Calibration report: vib-ae v4 calibrated on this machine (first calibration, "
                   "600 of 600 windows), threshold 0.8125, not clamped; normalization of two "
                   "features, (0.5, 0.25) and (-1, 2).",
                   must(status_report::encode(report, buffer), "status_calibration")});
  }
  {
    status_report::StatusReport report;
    report.kind = status_report::Kind::kShadow;
    status_report::ShadowReport& sh = report.shadow;
    sh.model_id = "vib-ae";
    sh.version = 5;
    sh.scored = 128;
    sh.compared = 100;
    sh.agreed = 97;
    sh.active_anomalies = 1;
    sh.shadow_anomalies = 4;
    sh.active_histogram = {10, 40, 50, 20, 5, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    sh.shadow_histogram = {5, 30, 45, 25, 10, 5, 2, 2, 2, 1, 0, 0, 0, 0, 0, 1};
    sh.latency_mean_us = 850;
    sh.latency_max_us = 1400;
    sh.calibration = status_report::CalibrationState::kCalibrated;
    sh.arena_high_water = 6144;
    out.push_back({"status_shadow.cbor",
                   "Shadow report: vib-ae v5 in shadow, calibrated; of 128 windows both scored, "
                   "100 were judged by both and 97 agreed (active 1 anomaly, shadow 4); score "
                   "histograms in eighths of each model's threshold; shadow latency 850 us mean, "
                   "1400 us max; arena high-water 6144 bytes.",
                   must(status_report::encode(report, buffer), "status_shadow")});
  }
  {
    decision::Decision d;
    d.device_id = "node-0001";
    d.action = decision::Action::kPromote;
    d.model_id = "vib-ae";
    d.version = 4;
    d.payload_digest = kPayloadDigest;
    out.push_back({"decision.cbor",
                   "Decision payload: promote vib-ae v4 (the manifest.cbor model, same payload "
                   "digest) from shadow to active on node-0001.",
                   must(decision::encode(d, buffer), "decision")});
    std::array<std::uint8_t, decision::kMaxSignedSize> signed_buffer{};
    const std::string kid = test_signing_kid();
    out.push_back({"decision.cose",
                   "The decision.cbor payload in a tagged COSE_Sign1 (ES256, deterministic ECDSA "
                   "per RFC 6979) under kid \"spindle-test-2026\", with the external AAD "
                   "\"spindle-decision-v1\"; the public key is in test_signing_key.pub.",
                   must(decision::sign(d, test_signing_key(), crypto::as_bytes(kid), signed_buffer),
                        "decision.cose")});
  }
  {
    gateway_request::GatewayRequest request;
    request.nonce = kAttestNonce;
    request.has_capture = true;
    request.capture = {.capture_id = 7, .kind = capture::Kind::kRaw, .windows = 2};
    out.push_back({"gateway_request.cbor",
                   "What the gateway piggybacks on a 2.xx answer: attestation nonce 30..3f and "
                   "capture 7, two windows of raw samples.",
                   must(gateway_request::encode(request, buffer), "gateway_request")});
  }
  {
    // One window of 45 features, feature i = i / 4 (exact in float32).
    std::array<std::uint8_t, 45 * 4> data{};
    for (std::size_t i = 0; i < 45; ++i)
      capture::put_value(data, i, static_cast<float>(i) * 0.25F);
    capture::Chunk chunk;
    chunk.header = {.capture_id = 7,
                    .sequence = 1,
                    .kind = capture::Kind::kFeatures,
                    .first_window = 1,
                    .window_count = 1,
                    .total_windows = 3,
                    .board = "nrf52840dk",
                    .sample_rate_hz = 3200,
                    .window_length = 1024,
                    .axes = 3,
                    .feature_count = 45};
    chunk.data = data;
    out.push_back({"capture_chunk.cbor",
                   "Capture 7, chunk 1 of a features capture of 3 windows: window 1 of an "
                   "nRF52840-DK (3200 Hz, 1024 samples, 3 axes), 45 little-endian float32 "
                   "features, feature i = i / 4.",
                   must(capture::encode(chunk, buffer), "capture_chunk")});
  }
  {
    std::array<senml::Record, 6> records{};
    records[0] = senml::reading_number("score", "/", 0.125, 0, 41);
    records[0].base_name = "urn:dev:spindle:node-0001:";
    records[0].has_base_time = true;
    records[0].base_time = 1763800000;
    records[1] = senml::reading_number("latency", "s", 0.00425, 0, 41);
    records[2] = senml::reading_number("arena_hwm", "B", 6144, 0, 41);
    records[3] = senml::reading_number("score", "/", 0.9375, 1, 42);
    records[4] = senml::reading_number("latency", "s", 0.0043, 1, 42);
    records[5] = senml::reading_number("arena_hwm", "B", 6144, 1, 42);
    out.push_back({"telemetry.cbor",
                   "SenML-CBOR pack from node-0001: two readings (seq 41 at bt, seq 42 one "
                   "second later), each with anomaly score, inference latency and arena "
                   "high-water mark.",
                   must(senml::encode(records, buffer), "telemetry")});
  }
  {
    crypto::EcPublicKey public_key{};
    if (!crypto::ec_public_from_private(test_signing_key(), &public_key).ok()) std::abort();
    out.push_back({"test_signing_key.pub",
                   "The public half of the well-known test signing key (SEC1 uncompressed "
                   "P-256 point, 65 bytes); verifies manifest.cose.",
                   {public_key.begin(), public_key.end()}});
  }
  return out;
}

}  // namespace spindle::examples
