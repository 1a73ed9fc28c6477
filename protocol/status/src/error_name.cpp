#include "spindle/status.hpp"

namespace spindle {

const char* error_name(Error error) {
  switch (error) {
    case Error::kOk:
      return "ok";
    case Error::kTruncated:
      return "truncated";
    case Error::kMalformed:
      return "malformed";
    case Error::kWrongType:
      return "wrong-type";
    case Error::kMissingField:
      return "missing-field";
    case Error::kDuplicateKey:
      return "duplicate-key";
    case Error::kIndefiniteLength:
      return "indefinite-length";
    case Error::kOversize:
      return "oversize";
    case Error::kTrailingBytes:
      return "trailing-bytes";
    case Error::kUnknownCriticalField:
      return "unknown-critical-field";
    case Error::kInvalidValue:
      return "invalid-value";
    case Error::kNestingTooDeep:
      return "nesting-too-deep";
    case Error::kBadMagic:
      return "bad-magic";
    case Error::kUnsupportedVersion:
      return "unsupported-version";
    case Error::kBufferTooSmall:
      return "buffer-too-small";
    case Error::kUnsupportedAlgorithm:
      return "unsupported-algorithm";
    case Error::kUnknownKey:
      return "unknown-key";
    case Error::kBadSignature:
      return "bad-signature";
    case Error::kAuthFailed:
      return "authentication-failed";
    case Error::kBadKey:
      return "bad-key";
    case Error::kCryptoFailure:
      return "crypto-failure";
    case Error::kDigestMismatch:
      return "digest-mismatch";
    case Error::kSizeMismatch:
      return "size-mismatch";
    case Error::kRetriesExhausted:
      return "retries-exhausted";
    case Error::kRemoteError:
      return "remote-error";
    case Error::kInvalidState:
      return "invalid-state";
    case Error::kRollback:
      return "rollback";
    case Error::kNotForThisDevice:
      return "not-for-this-device";
    case Error::kDoesNotFit:
      return "does-not-fit";
    case Error::kTimeout:
      return "timeout";
    case Error::kIoError:
      return "io-error";
    case Error::kPowerLoss:
      return "power-loss";
    case Error::kFull:
      return "full";
    case Error::kUnavailable:
      return "unavailable";
    case Error::kNotFound:
      return "not-found";
    case Error::kAlreadyExists:
      return "already-exists";
    case Error::kSelfTestFailed:
      return "self-test-failed";
  }
  return "unknown-error";
}

}  // namespace spindle
