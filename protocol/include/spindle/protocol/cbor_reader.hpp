// A strict, non-allocating CBOR (RFC 8949) pull reader on libcbor's streaming decoder.
//
// The reader walks a caller-owned buffer one data item at a time. It never allocates and
// never copies: byte and text strings come back as spans into the input. Everything that
// Spindle's schemas forbid is refused with its own error: indefinite lengths
// (kIndefiniteLength), strings and containers beyond a caller-stated bound (kOversize),
// input ending inside an item (kTruncated), ill-formed encodings (kMalformed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "spindle/status.hpp"

namespace spindle::cbor {

enum class Type : std::uint8_t {
  kUnsigned,
  kNegative,
  kBytes,
  kText,
  kArray,
  kMap,
  kTag,
  kFloat,
  kBool,
  kNull,
  kUndefined,
};

struct Item {
  Type type = Type::kUndefined;
  // kUnsigned: the value; kNegative: n where the value is -1 - n;
  // kArray / kMap: the number of elements / pairs; kTag: the tag number.
  std::uint64_t value = 0;
  std::span<const std::uint8_t> bytes;  // kBytes, kText: the content
  double number = 0.0;                  // kFloat
  bool flag = false;                    // kBool
};

// Skipping an unknown field descends at most this deep (containers inside containers).
inline constexpr int kMaxSkipDepth = 8;

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> input) : input_(input) {}

  // Reads the next item's head. Strings are read whole; containers and tags only their
  // head (the caller reads the elements). Errors: kTruncated, kMalformed,
  // kIndefiniteLength.
  Result<Item> next();

  // Typed reads. Each fails with kWrongType when the next item is of another type, in
  // addition to next()'s errors, and does not consume the item in that case.
  Result<std::uint64_t> read_uint();
  // An unsigned or negative integer that fits in int64 (else kInvalidValue).
  Result<std::int64_t> read_int();
  // Errors: kOversize when longer than max_length.
  Result<std::span<const std::uint8_t>> read_bytes(std::size_t max_length);
  Result<std::string_view> read_text(std::size_t max_length);
  // Definite-length container heads; kOversize when more than max_count entries.
  Result<std::size_t> read_array(std::size_t max_count);
  Result<std::size_t> read_map(std::size_t max_count);
  Result<std::uint64_t> read_tag();
  // Any integer or float as a double (integers beyond 2^53 lose precision).
  Result<double> read_number();
  Result<bool> read_bool();
  // True (and consumed) when the next item is null.
  Result<bool> read_null_if_present();

  // Skips one complete data item, containers included. Errors: kNestingTooDeep.
  Status skip(int max_depth = kMaxSkipDepth);

  // kTrailingBytes when anything is left after the last item read.
  Status finish() const;

  std::size_t offset() const { return offset_; }
  bool at_end() const { return offset_ == input_.size(); }

 private:
  Result<Item> peek(std::size_t* length) const;
  template <typename T>
  Result<T> expect(Type type, T (*extract)(const Item&));

  std::span<const std::uint8_t> input_;
  std::size_t offset_ = 0;
};

// Tracks which integer map keys were seen, for duplicate and required-field checks.
// Keys outside [kMinKey, kMaxKey] are never "seen"; schemas keep their keys inside.
class KeySet {
 public:
  static constexpr std::int64_t kMinKey = -64;
  static constexpr std::int64_t kMaxKey = 63;

  // kDuplicateKey when the key was already marked.
  Status mark(std::int64_t key);
  bool has(std::int64_t key) const;

 private:
  std::uint64_t positive_ = 0;
  std::uint64_t negative_ = 0;
};

// Reads a definite map whose keys are integers, calling `field(key)` with the reader
// positioned on the value. The visitor returns kUnknownCriticalField (or anything else)
// to stop. Rules shared by every Spindle schema: duplicate keys are kDuplicateKey, and a
// non-integer key is kWrongType.
template <typename Visitor>
Status read_int_map(Reader& reader, std::size_t max_entries, KeySet& seen, Visitor&& field) {
  SPINDLE_TRY_ASSIGN(const std::size_t count, reader.read_map(max_entries));
  for (std::size_t i = 0; i < count; ++i) {
    SPINDLE_TRY_ASSIGN(const std::int64_t key, reader.read_int());
    SPINDLE_TRY(seen.mark(key));
    SPINDLE_TRY(field(key));
  }
  return kOk;
}

// The extension rule of Spindle's own schemas: an unknown key >= 0 is critical (a decoder
// that does not understand it must refuse the message); an unknown negative key is an
// optional extension and is skipped.
inline Status skip_unknown_field(Reader& reader, std::int64_t key) {
  if (key >= 0) return Error::kUnknownCriticalField;
  return reader.skip();
}

}  // namespace spindle::cbor
