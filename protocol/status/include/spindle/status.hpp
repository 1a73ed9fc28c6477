// The one error type of Spindle's C++ code: a [[nodiscard]] Status and a Result<T>.
//
// Freestanding-friendly: no exceptions, no heap. libcbor and mbedTLS results are
// translated into these codes in exactly one adapter each (cbor_reader.cpp, crypto.cpp).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace spindle {

// Every failure a Spindle component can report. The names are part of the operator
// surface (logs, status reports), so they are stable; append, never renumber.
enum class Error : std::uint8_t {
  kOk = 0,
  // Decoding (CBOR, container, wire options).
  kTruncated,             // input ends inside an item
  kMalformed,             // not well-formed CBOR / not a valid structure
  kWrongType,             // an item of another major type than the schema says
  kMissingField,          // a required map key is absent
  kDuplicateKey,          // a map key appears twice
  kIndefiniteLength,      // an indefinite-length string, array or map
  kOversize,              // a string, array or map longer than the schema allows
  kTrailingBytes,         // bytes after the top-level item
  kUnknownCriticalField,  // a field the decoder must understand but does not
  kInvalidValue,          // right type, value outside the schema's range
  kNestingTooDeep,        // skipping an unknown field nested past the depth limit
  kBadMagic,              // a binary format's magic number does not match
  kUnsupportedVersion,    // a format version this build does not speak
  // Encoding.
  kBufferTooSmall,  // the caller's output buffer cannot hold the result
  // Cryptography.
  kUnsupportedAlgorithm,  // alg / key type this build does not implement
  kUnknownKey,            // signed by a key id that is not trusted here
  kBadSignature,          // the signature does not verify
  kAuthFailed,            // AEAD tag or key-unwrap integrity check failed
  kBadKey,                // a key is malformed (not on the curve, wrong length)
  kCryptoFailure,         // the crypto library failed for another reason
  // Transfers and policy.
  kDigestMismatch,    // downloaded bytes do not hash to the announced digest
  kSizeMismatch,      // sizes announced by different parties disagree
  kRetriesExhausted,  // the retry budget of a transfer is spent
  kRemoteError,       // the peer answered with an error response
  kInvalidState,      // an event that is not valid in the current state
  kRollback,          // a version not newer than the installed one
  kNotForThisDevice,  // a message bound to another device
  kDoesNotFit,        // requirements exceed this board's budgets
  // Platform (firmware OS facade, storage, network).
  kTimeout,      // a wait ran out before the event
  kIoError,      // the storage or network layer failed
  kPowerLoss,    // (simulated) power was cut during a flash operation
  kFull,         // a queue or ring has no room
  kUnavailable,  // the peer or service cannot be reached now
  // Records (gateway storage and registry).
  kNotFound,       // no record with that key
  kAlreadyExists,  // a record with that key is already there
  // Model installation.
  kSelfTestFailed,  // a model's output for a self-test vector differs from the expected one
};

// The highest value in use; decoders of reason codes accept 0..kLastError.
inline constexpr Error kLastError = Error::kSelfTestFailed;

// The numbers travel in status reports (protocol/cddl/status_report.cddl): pin them.
static_assert(static_cast<int>(Error::kRollback) == 26);
static_assert(static_cast<int>(Error::kDoesNotFit) == 28);
static_assert(static_cast<int>(Error::kUnavailable) == 33);

// Stable, human-readable name of an error ("truncated", "bad-signature", ...).
const char* error_name(Error error);

class [[nodiscard]] Status {
 public:
  constexpr Status() = default;
  constexpr Status(Error error) : error_(error) {}  // NOLINT: implicit by design

  static constexpr Status ok_status() { return Status(); }

  constexpr bool ok() const { return error_ == Error::kOk; }
  constexpr Error error() const { return error_; }
  const char* name() const { return error_name(error_); }

  friend constexpr bool operator==(Status a, Status b) { return a.error_ == b.error_; }

 private:
  Error error_ = Error::kOk;
};

constexpr Status kOk{};

// A value or the reason there is none. T must be default-constructible: Result keeps a
// T in place in both states so that it works without exceptions or placement tricks.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(std::is_default_constructible_v<T>);

  constexpr Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  constexpr Result(Status status) : status_(status) {}     // NOLINT: implicit by design
  constexpr Result(Error error) : status_(error) {}        // NOLINT: implicit by design

  constexpr bool ok() const { return status_.ok(); }
  constexpr Status status() const { return status_; }
  constexpr const T& value() const& { return value_; }
  constexpr T& value() & { return value_; }
  constexpr T&& value() && { return std::move(value_); }
  constexpr const T& operator*() const { return value_; }
  constexpr const T* operator->() const { return &value_; }

 private:
  T value_{};
  Status status_{};
};

namespace detail {
constexpr Status to_status(Status s) {
  return s;
}
template <typename T>
constexpr Status to_status(const Result<T>& r) {
  return r.status();
}
}  // namespace detail

}  // namespace spindle

#define SPINDLE_CONCAT_INNER(a, b) a##b
#define SPINDLE_CONCAT(a, b) SPINDLE_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is an error.
#define SPINDLE_TRY(expr) SPINDLE_TRY_IMPL(SPINDLE_CONCAT(spindle_try_status_, __LINE__), expr)
#define SPINDLE_TRY_IMPL(tmp, expr)                                                    \
  do {                                                                                 \
    if (const ::spindle::Status tmp = ::spindle::detail::to_status(expr); !tmp.ok()) { \
      return tmp;                                                                      \
    }                                                                                  \
  } while (false)

// Declares-or-assigns `lhs` from a Result, returning its Status on error:
//   SPINDLE_TRY_ASSIGN(const auto header, reader.read_map_header());
#define SPINDLE_TRY_ASSIGN(lhs, expr) \
  SPINDLE_TRY_ASSIGN_IMPL(SPINDLE_CONCAT(spindle_try_result_, __LINE__), lhs, expr)
#define SPINDLE_TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return tmp.status();           \
  lhs = std::move(tmp).value()
