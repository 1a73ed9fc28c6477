#include "spindle/protocol/manifest.hpp"

#include "codec_private.hpp"
#include "spindle/protocol/cbor_writer.hpp"
#include "spindle/protocol/crypto.hpp"

namespace spindle::manifest {
namespace {

// Keys of protocol/cddl/manifest.cddl.
enum Key : std::int64_t {
  kModelId = 1,
  kVersion = 2,
  kDeviceId = 3,
  kDigest = 4,
  kPayloadSize = 5,
  kEncryption = 6,
  kRequirements = 7,
  kInput = 8,
  kThreshold = 9,
  kBaseline = 10,
  kSelfTests = 11,
  kCalibration = 12,
  kRole = 13,
  kActivation = 14,
};
enum ActivationKey : std::int64_t { kActMode = 1, kActStart = 2, kActLength = 3 };
enum CalibrationKey : std::int64_t {
  kCalNormalization = 1,
  kCalThresholdWindows = 2,
  kCalQuantile = 3,
  kCalMargin = 4,
  kCalMin = 5,
  kCalMax = 6,
};
enum EncryptionKey : std::int64_t { kEncAlg = 1, kEncNonce = 2, kEncWrappedKey = 3 };
enum RequirementsKey : std::int64_t { kReqArena = 1, kReqFlash = 2, kReqOpSet = 3 };
enum InputKey : std::int64_t { kInFeatures = 1, kInRate = 2, kInWindow = 3, kInAxes = 4 };

constexpr std::size_t kMaxEntries = 16;
constexpr std::size_t kWrappedKeySize = crypto::kContentKeySize + crypto::kKeyWrapOverhead;
constexpr std::uint64_t kMaxSampleRate = 100000;

Status decode_encryption(cbor::Reader& r, Encryption* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kEncAlg: {
        SPINDLE_TRY_ASSIGN(out->alg, r.read_int());
        return out->alg == crypto::kCoseAlgAesCcm64_128_128 ? kOk
                                                            : Status(Error::kUnsupportedAlgorithm);
      }
      case kEncNonce:
        return codec::read_fixed_bytes(r, crypto::kCcmNonceSize, &out->nonce);
      case kEncWrappedKey:
        return codec::read_fixed_bytes(r, kWrappedKeySize, &out->wrapped_key);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kEncAlg, kEncNonce, kEncWrappedKey});
}

Status decode_requirements(cbor::Reader& r, Requirements* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kReqArena:
        return codec::read_uint_into(r, &out->arena_bytes);
      case kReqFlash:
        return codec::read_uint_into(r, &out->flash_bytes);
      case kReqOpSet:
        return codec::read_uint_into(r, &out->op_set);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kReqArena, kReqFlash, kReqOpSet});
}

Status decode_input(cbor::Reader& r, InputSpec* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kInFeatures:
        return codec::read_uint_into(r, &out->feature_count, 1, kMaxFeatures);
      case kInRate:
        return codec::read_uint_into(r, &out->sample_rate_hz, 1, kMaxSampleRate);
      case kInWindow:
        return codec::read_uint_into(r, &out->window_length, 1);
      case kInAxes:
        return codec::read_uint_into(r, &out->axes, 1, 3);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(seen, {kInFeatures, kInRate, kInWindow, kInAxes});
}

Status decode_baseline(cbor::Reader& r, Manifest* out) {
  SPINDLE_TRY_ASSIGN(out->baseline_count, r.read_array(kMaxFeatures));
  for (std::size_t i = 0; i < out->baseline_count; ++i) {
    SPINDLE_TRY_ASSIGN(const std::size_t pair, r.read_array(2));
    if (pair != 2) return Error::kInvalidValue;
    SPINDLE_TRY(codec::read_float(r, &out->baseline[i].mean));
    SPINDLE_TRY(codec::read_float(r, &out->baseline[i].stddev));
    if (out->baseline[i].stddev < 0.0F) return Error::kInvalidValue;
  }
  return kOk;
}

Status decode_self_tests(cbor::Reader& r, Manifest* out) {
  SPINDLE_TRY_ASSIGN(out->self_test_count, r.read_array(kMaxSelfTests));
  for (std::size_t i = 0; i < out->self_test_count; ++i) {
    SPINDLE_TRY_ASSIGN(const std::size_t pair, r.read_array(2));
    if (pair != 2) return Error::kInvalidValue;
    SPINDLE_TRY_ASSIGN(out->self_tests[i].input, r.read_bytes(kMaxSelfTestBytes));
    SPINDLE_TRY_ASSIGN(out->self_tests[i].expected_output, r.read_bytes(kMaxSelfTestBytes));
    if (out->self_tests[i].input.empty() || out->self_tests[i].expected_output.empty()) {
      return Error::kInvalidValue;
    }
  }
  return kOk;
}

Status decode_calibration(cbor::Reader& r, Calibration* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kCalNormalization:
        return codec::read_uint_into(r, &out->normalization_windows, kMinCalibrationWindows,
                                     kMaxCalibrationWindows);
      case kCalThresholdWindows:
        return codec::read_uint_into(r, &out->threshold_windows, kMinCalibrationWindows,
                                     kMaxCalibrationWindows);
      case kCalQuantile:
        return codec::read_float(r, &out->threshold_quantile);
      case kCalMargin:
        return codec::read_float(r, &out->threshold_margin);
      case kCalMin:
        return codec::read_float(r, &out->threshold_min);
      case kCalMax:
        return codec::read_float(r, &out->threshold_max);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  return codec::require(
      seen, {kCalNormalization, kCalThresholdWindows, kCalQuantile, kCalMargin, kCalMin, kCalMax});
}

Status decode_activation(cbor::Reader& r, Activation* out) {
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kActMode: {
        // Immediate (0) is never sent: the key's absence says it, one encoding per manifest.
        SPINDLE_TRY_ASSIGN(
            const std::uint64_t mode,
            codec::read_uint_in(r, static_cast<std::uint64_t>(ActivationMode::kWindow),
                                static_cast<std::uint64_t>(ActivationMode::kIdle)));
        out->mode = static_cast<ActivationMode>(mode);
        return kOk;
      }
      case kActStart:
        return codec::read_uint_into(r, &out->window_start_min, 0, kMinutesPerDay - 1);
      case kActLength:
        return codec::read_uint_into(r, &out->window_length_min, 1, kMinutesPerDay);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(codec::require(seen, {kActMode}));
  if (out->mode == ActivationMode::kWindow) return codec::require(seen, {kActStart, kActLength});
  // Idle waits for the machine, not the clock: a window beside it would be ignored.
  if (seen.has(kActStart) || seen.has(kActLength)) return Error::kInvalidValue;
  return kOk;
}

bool within(float value, float low, float high) {
  return value >= low && value <= high;  // false for NaN
}

// What a node needs of the calibration itself; the manifest adds its baseline and its
// threshold within the bounds.
Status validate_calibration(const Manifest& m) {
  if (m.baseline_count == 0) return Error::kInvalidValue;
  SPINDLE_TRY(check_calibration(m.calibration));
  if (!within(m.threshold, m.calibration.threshold_min, m.calibration.threshold_max)) {
    return Error::kInvalidValue;
  }
  return kOk;
}

// Cross-field rules, shared by the encoder (refuse to produce) and the decoder (refuse).
Status validate(const Manifest& m) {
  SPINDLE_TRY(check_id(m.model_id));
  SPINDLE_TRY(check_id(m.device_id));
  if (m.role != ManifestRole::kActive && m.role != ManifestRole::kShadow) {
    return Error::kInvalidValue;
  }
  if (m.payload_digest.size() != kDigestSize) return Error::kInvalidValue;
  if (m.payload_size == 0) return Error::kInvalidValue;
  if (m.encryption.alg != crypto::kCoseAlgAesCcm64_128_128) return Error::kUnsupportedAlgorithm;
  if (m.encryption.nonce.size() != crypto::kCcmNonceSize ||
      m.encryption.wrapped_key.size() != kWrappedKeySize) {
    return Error::kInvalidValue;
  }
  if (m.input.feature_count == 0 || m.input.feature_count > kMaxFeatures ||
      m.input.sample_rate_hz == 0 || m.input.sample_rate_hz > kMaxSampleRate ||
      m.input.window_length == 0 || m.input.axes == 0 || m.input.axes > 3) {
    return Error::kInvalidValue;
  }
  if (m.baseline_count != 0 && m.baseline_count != m.input.feature_count) {
    return Error::kInvalidValue;
  }
  if (m.baseline_count > kMaxFeatures || m.self_test_count > kMaxSelfTests) {
    return Error::kOversize;
  }
  if (m.has_calibration) SPINDLE_TRY(validate_calibration(m));
  return check_activation(m.activation);
}

}  // namespace

Status check_activation(const Activation& a) {
  switch (a.mode) {
    case ActivationMode::kImmediate:
    case ActivationMode::kIdle:
      return a.window_start_min == 0 && a.window_length_min == 0 ? kOk
                                                                 : Status(Error::kInvalidValue);
    case ActivationMode::kWindow:
      return a.window_start_min < kMinutesPerDay && a.window_length_min >= 1 &&
                     a.window_length_min <= kMinutesPerDay
                 ? kOk
                 : Status(Error::kInvalidValue);
  }
  return Error::kInvalidValue;
}

bool window_contains(const Activation& a, std::uint32_t minute_of_day) {
  if (a.mode != ActivationMode::kWindow || minute_of_day >= kMinutesPerDay) return false;
  // Minutes since the window opened, modulo a day: a window that wraps past midnight needs
  // no special case.
  const std::uint32_t since =
      (minute_of_day + kMinutesPerDay - a.window_start_min) % kMinutesPerDay;
  return since < a.window_length_min;
}

Status check_calibration(const Calibration& c) {
  for (const std::uint32_t windows : {c.normalization_windows, c.threshold_windows}) {
    if (windows < kMinCalibrationWindows || windows > kMaxCalibrationWindows) {
      return Error::kInvalidValue;
    }
  }
  if (!within(c.threshold_quantile, 0.5F, 1.0F) || !within(c.threshold_margin, 1.0F, 1000.0F)) {
    return Error::kInvalidValue;
  }
  constexpr float kLargest = 3.4e38F;
  if (!within(c.threshold_min, 0.0F, kLargest) || !(c.threshold_min > 0.0F) ||
      !within(c.threshold_max, c.threshold_min, kLargest)) {
    return Error::kInvalidValue;
  }
  if (calibration_tail(c.threshold_windows, c.threshold_quantile) > kMaxCalibrationTail) {
    return Error::kInvalidValue;
  }
  return kOk;
}

std::size_t calibration_tail(std::uint32_t windows, float quantile) {
  if (windows == 0) return 0;
  const double at = static_cast<double>(quantile) * static_cast<double>(windows - 1);
  const auto lower = static_cast<std::uint32_t>(at);  // floor: at >= 0
  return windows - lower;
}

Result<Manifest> decode(std::span<const std::uint8_t> input) {
  cbor::Reader r(input);
  Manifest m;
  cbor::KeySet seen;
  SPINDLE_TRY(codec::read_struct(r, kMaxEntries, seen, [&](std::int64_t key) -> Status {
    switch (key) {
      case kModelId:
        return codec::read_id(r, &m.model_id);
      case kVersion:
        return codec::read_uint_into(r, &m.version);
      case kDeviceId:
        return codec::read_id(r, &m.device_id);
      case kDigest:
        return codec::read_fixed_bytes(r, kDigestSize, &m.payload_digest);
      case kPayloadSize:
        return codec::read_uint_into(r, &m.payload_size, 1);
      case kEncryption:
        return decode_encryption(r, &m.encryption);
      case kRequirements:
        return decode_requirements(r, &m.requirements);
      case kInput:
        return decode_input(r, &m.input);
      case kThreshold:
        return codec::read_float(r, &m.threshold);
      case kBaseline:
        return decode_baseline(r, &m);
      case kSelfTests:
        return decode_self_tests(r, &m);
      case kCalibration:
        m.has_calibration = true;
        return decode_calibration(r, &m.calibration);
      case kRole: {
        // Only the shadow role is ever sent: an absent key is the active role, and an
        // explicit 0 would give one manifest two encodings.
        SPINDLE_TRY(codec::read_uint_in(r, 1, 1).status());
        m.role = ManifestRole::kShadow;
        return kOk;
      }
      case kActivation:
        return decode_activation(r, &m.activation);
      default:
        return Error::kUnknownCriticalField;
    }
  }));
  SPINDLE_TRY(r.finish());
  SPINDLE_TRY(codec::require(seen, {kModelId, kVersion, kDeviceId, kDigest, kPayloadSize,
                                    kEncryption, kRequirements, kInput, kThreshold}));
  SPINDLE_TRY(validate(m));
  return m;
}

Result<std::span<const std::uint8_t>> encode(const Manifest& m, std::span<std::uint8_t> out) {
  SPINDLE_TRY(validate(m));
  cbor::Writer w(out);
  w.map(9 + (m.baseline_count ? 1U : 0U) + (m.self_test_count ? 1U : 0U) +
        (m.has_calibration ? 1U : 0U) + (m.role == ManifestRole::kShadow ? 1U : 0U) +
        (m.activation.mode != ActivationMode::kImmediate ? 1U : 0U));
  w.uint(kModelId).text(m.model_id);
  w.uint(kVersion).uint(m.version);
  w.uint(kDeviceId).text(m.device_id);
  w.uint(kDigest).bytes(m.payload_digest);
  w.uint(kPayloadSize).uint(m.payload_size);
  w.uint(kEncryption).map(3);
  w.uint(kEncAlg).integer(m.encryption.alg);
  w.uint(kEncNonce).bytes(m.encryption.nonce);
  w.uint(kEncWrappedKey).bytes(m.encryption.wrapped_key);
  w.uint(kRequirements).map(3);
  w.uint(kReqArena).uint(m.requirements.arena_bytes);
  w.uint(kReqFlash).uint(m.requirements.flash_bytes);
  w.uint(kReqOpSet).uint(m.requirements.op_set);
  w.uint(kInput).map(4);
  w.uint(kInFeatures).uint(m.input.feature_count);
  w.uint(kInRate).uint(m.input.sample_rate_hz);
  w.uint(kInWindow).uint(m.input.window_length);
  w.uint(kInAxes).uint(m.input.axes);
  w.uint(kThreshold).float32(m.threshold);
  if (m.baseline_count) {
    w.uint(kBaseline).array(m.baseline_count);
    for (std::size_t i = 0; i < m.baseline_count; ++i) {
      w.array(2).float32(m.baseline[i].mean).float32(m.baseline[i].stddev);
    }
  }
  if (m.self_test_count) {
    w.uint(kSelfTests).array(m.self_test_count);
    for (std::size_t i = 0; i < m.self_test_count; ++i) {
      w.array(2).bytes(m.self_tests[i].input).bytes(m.self_tests[i].expected_output);
    }
  }
  if (m.has_calibration) {
    const Calibration& c = m.calibration;
    w.uint(kCalibration).map(6);
    w.uint(kCalNormalization).uint(c.normalization_windows);
    w.uint(kCalThresholdWindows).uint(c.threshold_windows);
    w.uint(kCalQuantile).float32(c.threshold_quantile);
    w.uint(kCalMargin).float32(c.threshold_margin);
    w.uint(kCalMin).float32(c.threshold_min);
    w.uint(kCalMax).float32(c.threshold_max);
  }
  if (m.role == ManifestRole::kShadow) w.uint(kRole).uint(1);
  if (m.activation.mode != ActivationMode::kImmediate) {
    const Activation& a = m.activation;
    const bool window = a.mode == ActivationMode::kWindow;
    w.uint(kActivation).map(window ? 3 : 1);
    w.uint(kActMode).uint(static_cast<std::uint64_t>(a.mode));
    if (window) {
      w.uint(kActStart).uint(a.window_start_min);
      w.uint(kActLength).uint(a.window_length_min);
    }
  }
  return w.finish();
}

}  // namespace spindle::manifest
