#include "spindle/protocol/status_report.hpp"

#include <utility>

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::status_report {

const char* install_state_name(InstallState state) {
  // Indexed by InstallState (its values are the wire's, 0..kMaxInstallState).
  constexpr std::array<const char*, kMaxInstallState + 1> kNames = {
      "manifest-accepted", "manifest-rejected",
      "downloading",       "downloaded",
      "verified",          "self-test-passed",
      "activated",         "confirmed",
      "rolled-back",       "failed",
      "shadowing",         "discarded",
      "decision-rejected", "awaiting-activation"};
  const auto index = static_cast<std::size_t>(state);
  return index < kNames.size() ? kNames[index] : "unknown";
}

const char* calibration_state_name(CalibrationState state) {
  constexpr std::array<const char*, kMaxCalibrationState + 1> kNames = {
      "none", "normalizing", "thresholding", "calibrated"};
  const auto index = static_cast<std::size_t>(state);
  return index < kNames.size() ? kNames[index] : "unknown";
}

const char* threshold_clamp_name(ThresholdClamp clamp) {
  constexpr std::array<const char*, kMaxThresholdClamp + 1> kNames = {"none", "lower", "upper"};
  const auto index = static_cast<std::size_t>(clamp);
  return index < kNames.size() ? kNames[index] : "unknown";
}
std::size_t histogram_bin(float score, float threshold) {
  const float scaled = score / threshold * static_cast<float>(kHistogramBinsPerThreshold);
  if (!(scaled >= 0.0F)) return scaled < 0.0F ? 0 : kHistogramBins - 1;  // negative; NaN
  if (scaled >= static_cast<float>(kHistogramBins - 1)) return kHistogramBins - 1;
  return static_cast<std::size_t>(scaled);
}

namespace {

enum Key : std::int64_t {
  kKind = 1,
  kModelId = 2,
  kVersion = 3,
  kState = 4,
  kReason = 5,
  kDetail = 6,
  kNonce = 7,
  kActiveDigest = 8,
  kFirmware = 9,
  kMac = 10,
  kCalState = 11,
  kCalGeneration = 12,
  kCalWindowsDone = 13,
  kCalWindowsTotal = 14,
  kCalThreshold = 15,
  kCalClamp = 16,
  kCalNormalization = 17,
  kShScored = 18,
  kShCompared = 19,
  kShAgreed = 20,
  kShActiveAnomalies = 21,
  kShShadowAnomalies = 22,
  kShActiveHistogram = 23,
  kShShadowHistogram = 24,
  kShLatencyMean = 25,
  kShLatencyMax = 26,
  kShArena = 27,
};
constexpr std::int64_t kLastKey = kShArena;
constexpr std::size_t kMaxEntries = 24;
constexpr std::uint8_t kMaxReason = static_cast<std::uint8_t>(kLastError);
constexpr std::size_t kNormalizationPairBytes = 8;
constexpr std::size_t kMaxNormalizationBytes = kMaxFeatures * kNormalizationPairBytes;

// The fields each kind carries (kKind aside): required ones, then optional ones. A field
// of another kind means the sender and this decoder disagree about the message, which is
// refused rather than half-read.
constexpr std::int64_t kUpdateRequired[] = {kModelId, kVersion, kState, kReason};
constexpr std::int64_t kUpdateOptional[] = {kDetail};
constexpr std::int64_t kAttestationRequired[] = {kNonce, kActiveDigest, kFirmware, kMac};
constexpr std::int64_t kCalibrationRequired[] = {kModelId,       kVersion,        kCalState,
                                                 kCalGeneration, kCalWindowsDone, kCalWindowsTotal,
                                                 kCalThreshold,  kCalClamp};
constexpr std::int64_t kCalibrationOptional[] = {kCalNormalization};
constexpr std::int64_t kShadowRequired[] = {kModelId,
                                            kVersion,
                                            kCalState,
                                            kShScored,
                                            kShCompared,
                                            kShAgreed,
                                            kShActiveAnomalies,
                                            kShShadowAnomalies,
                                            kShActiveHistogram,
                                            kShShadowHistogram,
                                            kShLatencyMean,
                                            kShLatencyMax,
                                            kShArena};

struct KindFields {
  std::span<const std::int64_t> required;
  std::span<const std::int64_t> optional;
};
KindFields fields_of(Kind kind) {
  switch (kind) {
    case Kind::kUpdate:
      return {kUpdateRequired, kUpdateOptional};
    case Kind::kAttestation:
      return {kAttestationRequired, {}};
    case Kind::kCalibration:
      return {kCalibrationRequired, kCalibrationOptional};
    case Kind::kShadow:
      return {kShadowRequired, {}};
  }
  return {};
}

bool contains(std::span<const std::int64_t> keys, std::int64_t key) {
  for (const std::int64_t k : keys) {
    if (k == key) return true;
  }
  return false;
}

Status validate_calibration(const CalibrationReport& c) {
  SPINDLE_TRY(check_id(c.model_id));
  if (static_cast<std::uint8_t>(c.state) > kMaxCalibrationState) return Error::kInvalidValue;
  if (static_cast<std::uint8_t>(c.clamp) > kMaxThresholdClamp) return Error::kInvalidValue;
  if (c.windows_done > c.windows_total) return Error::kInvalidValue;
  if (!(c.threshold > 0.0F) || !(c.threshold < 3.4e38F)) return Error::kInvalidValue;
  if (c.normalization.size() > kMaxNormalizationBytes) return Error::kOversize;
  if (c.normalization.size() % kNormalizationPairBytes != 0) return Error::kInvalidValue;
  const bool learned =
      c.state == CalibrationState::kThresholding || c.state == CalibrationState::kCalibrated;
  if (learned == c.normalization.empty()) return Error::kInvalidValue;
  return kOk;
}

Status validate_shadow(const ShadowReport& s) {
  SPINDLE_TRY(check_id(s.model_id));
  if (static_cast<std::uint8_t>(s.calibration) > kMaxCalibrationState) return Error::kInvalidValue;
  if (s.compared > s.scored || s.agreed > s.compared || s.active_anomalies > s.compared ||
      s.shadow_anomalies > s.compared || s.latency_mean_us > s.latency_max_us) {
    return Error::kInvalidValue;
  }
  for (const auto* histogram : {&s.active_histogram, &s.shadow_histogram}) {
    std::uint64_t total = 0;
    for (const std::uint32_t count : *histogram)
      total += count;
    if (total != s.scored) return Error::kInvalidValue;
  }
  return kOk;
}

Status read_histogram(cbor::Reader& r, std::array<std::uint32_t, kHistogramBins>* out) {
  SPINDLE_TRY_ASSIGN(const std::size_t count, r.read_array(kHistogramBins));
  if (count != kHistogramBins) return Error::kInvalidValue;
  for (std::uint32_t& bin : *out)
    SPINDLE_TRY(codec::read_uint_into(r, &bin));
  return kOk;
}

Status validate(const StatusReport& report) {
  if (report.kind == Kind::kUpdate) {
    const UpdateReport& u = report.update;
    SPINDLE_TRY(check_id(u.model_id));
    if (static_cast<std::uint8_t>(u.state) > kMaxInstallState) return Error::kInvalidValue;
    if (static_cast<std::uint8_t>(u.reason) > kMaxReason) return Error::kInvalidValue;
    if (u.detail.size() > kMaxDetailSize) return Error::kOversize;
    return kOk;
  }
  if (report.kind == Kind::kCalibration) return validate_calibration(report.calibration);
  if (report.kind == Kind::kShadow) return validate_shadow(report.shadow);
  if (report.kind != Kind::kAttestation) return Error::kInvalidValue;
  const AttestationReport& a = report.attestation;
  if (a.nonce.size() < kMinNonceSize) return Error::kInvalidValue;
  if (a.nonce.size() > kMaxNonceSize) return Error::kOversize;
  if (a.active_digest.size() != kDigestSize || a.mac.size() != kDigestSize) {
    return Error::kInvalidValue;
  }
  if (a.firmware_version.empty()) return Error::kInvalidValue;
  if (a.firmware_version.size() > kMaxVersionTextSize) return Error::kOversize;
  return kOk;
}

template <typename T>
Status read_small(cbor::Reader& r, T* out, std::uint8_t max) {
  std::uint8_t value = 0;
  SPINDLE_TRY(codec::read_uint_into(r, &value, 0, max));
  *out = static_cast<T>(value);
  return kOk;
}

}  // namespace

Result<crypto::Digest> attestation_mac(std::span<const std::uint8_t> attestation_key,
                                       std::string_view device_id,
                                       std::span<const std::uint8_t> nonce,
                                       std::span<const std::uint8_t> active_digest,
                                       std::string_view firmware_version) {
  SPINDLE_TRY(check_id(device_id));
  if (nonce.size() < kMinNonceSize || active_digest.size() != kDigestSize ||
      firmware_version.empty()) {
    return Error::kInvalidValue;
  }
  if (nonce.size() > kMaxNonceSize || firmware_version.size() > kMaxVersionTextSize) {
    return Error::kOversize;
  }
  std::uint8_t buffer[32 + kMaxIdSize + kMaxNonceSize + kDigestSize + kMaxVersionTextSize];
  cbor::Writer w(buffer);
  w.array(5)
      .text("spindle-attest-v1")
      .text(device_id)
      .bytes(nonce)
      .bytes(active_digest)
      .text(firmware_version);
  SPINDLE_TRY_ASSIGN(const auto message, w.finish());
  return crypto::hmac_sha256(attestation_key, message);
}

Result<StatusReport> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  StatusReport report;
  // Model id and version are common to update and calibration reports; the kind may come
  // after them, so they are read first and placed once the kind is known.
  std::string_view model_id;
  std::uint64_t version = 0;
  CalibrationReport& cal = report.calibration;
  ShadowReport& sh = report.shadow;
  // The calibration state (key 11) is the active model's in a calibration report and the
  // shadow's in a shadow report.
  CalibrationState cal_state = CalibrationState::kNone;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kKind:
        return read_small(r, &report.kind, static_cast<std::uint8_t>(Kind::kShadow));
      case kModelId:
        return codec::read_id(r, &model_id);
      case kVersion:
        return codec::read_uint_into(r, &version);
      case kState:
        return read_small(r, &report.update.state, kMaxInstallState);
      case kReason:
        return read_small(r, &report.update.reason, kMaxReason);
      case kDetail: {
        SPINDLE_TRY_ASSIGN(report.update.detail, r.read_text(kMaxDetailSize));
        return kOk;
      }
      case kNonce: {
        SPINDLE_TRY_ASSIGN(report.attestation.nonce, r.read_bytes(kMaxNonceSize));
        return kOk;
      }
      case kActiveDigest:
        return codec::read_fixed_bytes(r, kDigestSize, &report.attestation.active_digest);
      case kFirmware: {
        SPINDLE_TRY_ASSIGN(report.attestation.firmware_version, r.read_text(kMaxVersionTextSize));
        return kOk;
      }
      case kMac:
        return codec::read_fixed_bytes(r, kDigestSize, &report.attestation.mac);
      case kCalState:
        return read_small(r, &cal_state, kMaxCalibrationState);
      case kCalGeneration:
        return codec::read_uint_into(r, &cal.generation);
      case kCalWindowsDone:
        return codec::read_uint_into(r, &cal.windows_done);
      case kCalWindowsTotal:
        return codec::read_uint_into(r, &cal.windows_total);
      case kCalThreshold:
        return codec::read_float(r, &cal.threshold);
      case kCalClamp:
        return read_small(r, &cal.clamp, kMaxThresholdClamp);
      case kCalNormalization: {
        SPINDLE_TRY_ASSIGN(cal.normalization, r.read_bytes(kMaxNormalizationBytes));
        return kOk;
      }
      case kShScored:
        return codec::read_uint_into(r, &sh.scored);
      case kShCompared:
        return codec::read_uint_into(r, &sh.compared);
      case kShAgreed:
        return codec::read_uint_into(r, &sh.agreed);
      case kShActiveAnomalies:
        return codec::read_uint_into(r, &sh.active_anomalies);
      case kShShadowAnomalies:
        return codec::read_uint_into(r, &sh.shadow_anomalies);
      case kShActiveHistogram:
        return read_histogram(r, &sh.active_histogram);
      case kShShadowHistogram:
        return read_histogram(r, &sh.shadow_histogram);
      case kShLatencyMean:
        return codec::read_uint_into(r, &sh.latency_mean_us);
      case kShLatencyMax:
        return codec::read_uint_into(r, &sh.latency_max_us);
      case kShArena:
        return codec::read_uint_into(r, &sh.arena_high_water);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kKind}));
  const KindFields fields = fields_of(report.kind);
  for (const std::int64_t k : fields.required) {
    if (!seen.has(k)) return Error::kMissingField;
  }
  for (std::int64_t k = kModelId; k <= kLastKey; ++k) {
    if (seen.has(k) && !contains(fields.required, k) && !contains(fields.optional, k)) {
      return Error::kInvalidValue;
    }
  }
  if (report.kind == Kind::kUpdate) {
    report.update.model_id = model_id;
    report.update.version = version;
  } else if (report.kind == Kind::kCalibration) {
    cal.model_id = model_id;
    cal.version = version;
    cal.state = cal_state;
  } else if (report.kind == Kind::kShadow) {
    sh.model_id = model_id;
    sh.version = version;
    sh.calibration = cal_state;
  }
  SPINDLE_TRY(validate(report));
  return report;
}

Result<std::span<const std::uint8_t>> encode(const StatusReport& report,
                                             std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(report));
  cbor::Writer w(out);
  if (report.kind == Kind::kUpdate) {
    const UpdateReport& u = report.update;
    const bool detail = !u.detail.empty();
    w.map(5 + (detail ? 1U : 0U));
    w.uint(kKind).uint(0);
    w.uint(kModelId).text(u.model_id);
    w.uint(kVersion).uint(u.version);
    w.uint(kState).uint(static_cast<std::uint8_t>(u.state));
    w.uint(kReason).uint(static_cast<std::uint8_t>(u.reason));
    if (detail) w.uint(kDetail).text(u.detail);
  } else if (report.kind == Kind::kCalibration) {
    const CalibrationReport& c = report.calibration;
    const bool normalization = !c.normalization.empty();
    w.map(9 + (normalization ? 1U : 0U));
    w.uint(kKind).uint(2);
    w.uint(kModelId).text(c.model_id);
    w.uint(kVersion).uint(c.version);
    w.uint(kCalState).uint(static_cast<std::uint8_t>(c.state));
    w.uint(kCalGeneration).uint(c.generation);
    w.uint(kCalWindowsDone).uint(c.windows_done);
    w.uint(kCalWindowsTotal).uint(c.windows_total);
    w.uint(kCalThreshold).float32(c.threshold);
    w.uint(kCalClamp).uint(static_cast<std::uint8_t>(c.clamp));
    if (normalization) w.uint(kCalNormalization).bytes(c.normalization);
  } else if (report.kind == Kind::kShadow) {
    const ShadowReport& sh = report.shadow;
    w.map(14);
    w.uint(kKind).uint(3);
    w.uint(kModelId).text(sh.model_id);
    w.uint(kVersion).uint(sh.version);
    w.uint(kCalState).uint(static_cast<std::uint8_t>(sh.calibration));
    w.uint(kShScored).uint(sh.scored);
    w.uint(kShCompared).uint(sh.compared);
    w.uint(kShAgreed).uint(sh.agreed);
    w.uint(kShActiveAnomalies).uint(sh.active_anomalies);
    w.uint(kShShadowAnomalies).uint(sh.shadow_anomalies);
    for (const auto& [key, histogram] : {std::pair{kShActiveHistogram, &sh.active_histogram},
                                         std::pair{kShShadowHistogram, &sh.shadow_histogram}}) {
      w.uint(static_cast<std::uint64_t>(key)).array(kHistogramBins);
      for (const std::uint32_t count : *histogram)
        w.uint(count);
    }
    w.uint(kShLatencyMean).uint(sh.latency_mean_us);
    w.uint(kShLatencyMax).uint(sh.latency_max_us);
    w.uint(kShArena).uint(sh.arena_high_water);
  } else {
    const AttestationReport& a = report.attestation;
    w.map(5);
    w.uint(kKind).uint(1);
    w.uint(kNonce).bytes(a.nonce);
    w.uint(kActiveDigest).bytes(a.active_digest);
    w.uint(kFirmware).text(a.firmware_version);
    w.uint(kMac).bytes(a.mac);
  }
  return w.finish();
}

}  // namespace spindle::status_report
