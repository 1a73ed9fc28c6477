#include "spindle/protocol/senml.hpp"

#include <cmath>

#include "spindle/protocol/cbor_reader.hpp"
#include "spindle/protocol/cbor_writer.hpp"

namespace spindle::senml {
namespace {

// RFC 8428 section 6, table 4: CBOR labels.
enum Label : std::int64_t {
  kBaseSum = -6,
  kBaseValue = -5,
  kBaseUnit = -4,
  kBaseTime = -3,
  kBaseName = -2,
  kBaseVersion = -1,
  kName = 0,
  kUnit = 1,
  kValue = 2,
  kStringValue = 3,
  kBoolValue = 4,
  kSum = 5,
  kTime = 6,
  kUpdateTime = 7,
  kDataValue = 8,
};
constexpr std::string_view kSeqLabel = "seq";

bool name_char(char c, bool first) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '-' || c == ':' || c == '.' || c == '/' || c == '_'));
}

// RFC 8428 section 4.5.1: the concatenated name starts with a letter or digit and uses
// only letters, digits and "-:./_".
bool valid_resolved_name(std::string_view base, std::string_view name) {
  const std::size_t total = base.size() + name.size();
  if (total == 0) return false;
  for (std::size_t i = 0; i < total; ++i) {
    const char c = i < base.size() ? base[i] : name[i - base.size()];
    if (!name_char(c, i == 0)) return false;
  }
  return true;
}

Status finite(double value) {
  return std::isfinite(value) ? kOk : Status(Error::kInvalidValue);
}

// Reads one record map. `current` carries the base fields in effect before this record.
Status decode_record(cbor::Reader& r, Record* record) {
  cbor::KeySet seen;
  bool seen_seq = false;
  int values = 0;
  SPINDLE_TRY_ASSIGN(const std::size_t entries, r.read_map(kMaxRecordEntries));
  for (std::size_t i = 0; i < entries; ++i) {
    SPINDLE_TRY_ASSIGN(const cbor::Item key, r.next());
    if (key.type == cbor::Type::kText) {
      const std::string_view label(reinterpret_cast<const char*>(key.bytes.data()),
                                   key.bytes.size());
      if (label == kSeqLabel) {
        if (seen_seq) return Error::kDuplicateKey;
        seen_seq = true;
        SPINDLE_TRY_ASSIGN(record->seq, r.read_uint());
        record->has_seq = true;
        continue;
      }
      // RFC 8428 section 4.4: labels ending in "_" must be understood; others are ignored.
      if (!label.empty() && label.back() == '_') return Error::kUnknownCriticalField;
      SPINDLE_TRY(r.skip());
      continue;
    }
    std::int64_t label = 0;
    if (key.type == cbor::Type::kUnsigned && key.value <= 63) {
      label = static_cast<std::int64_t>(key.value);
    } else if (key.type == cbor::Type::kNegative && key.value <= 63) {
      label = -1 - static_cast<std::int64_t>(key.value);
    } else if (key.type == cbor::Type::kUnsigned || key.type == cbor::Type::kNegative) {
      SPINDLE_TRY(r.skip());  // an unregistered integer label: ignored like any unknown label
      continue;
    } else {
      return Error::kWrongType;
    }
    SPINDLE_TRY(seen.mark(label));
    switch (label) {
      case kBaseVersion: {
        SPINDLE_TRY_ASSIGN(const std::uint64_t version, r.read_uint());
        if (version > kSupportedVersion) return Error::kUnsupportedVersion;
        break;
      }
      case kBaseName: {
        SPINDLE_TRY_ASSIGN(record->base_name, r.read_text(kMaxNameSize));
        break;
      }
      case kBaseTime: {
        SPINDLE_TRY_ASSIGN(record->base_time, r.read_number());
        SPINDLE_TRY(finite(record->base_time));
        record->has_base_time = true;
        break;
      }
      case kBaseUnit: {
        SPINDLE_TRY_ASSIGN(record->base_unit, r.read_text(kMaxUnitSize));
        break;
      }
      case kBaseValue: {
        SPINDLE_TRY_ASSIGN(record->base_value, r.read_number());
        SPINDLE_TRY(finite(record->base_value));
        record->has_base_value = true;
        break;
      }
      case kBaseSum: {
        SPINDLE_TRY_ASSIGN(const double base_sum, r.read_number());
        SPINDLE_TRY(finite(base_sum));
        break;
      }
      case kName: {
        SPINDLE_TRY_ASSIGN(record->name, r.read_text(kMaxNameSize));
        break;
      }
      case kUnit: {
        SPINDLE_TRY_ASSIGN(record->unit, r.read_text(kMaxUnitSize));
        break;
      }
      case kValue: {
        SPINDLE_TRY_ASSIGN(record->number, r.read_number());
        SPINDLE_TRY(finite(record->number));
        record->kind = ValueKind::kNumber;
        ++values;
        break;
      }
      case kStringValue: {
        SPINDLE_TRY_ASSIGN(record->text, r.read_text(kMaxStringValue));
        record->kind = ValueKind::kString;
        ++values;
        break;
      }
      case kBoolValue: {
        SPINDLE_TRY_ASSIGN(record->boolean, r.read_bool());
        record->kind = ValueKind::kBool;
        ++values;
        break;
      }
      case kDataValue: {
        // RFC 8428 section 6: in CBOR, vd is a byte string.
        SPINDLE_TRY_ASSIGN(record->data, r.read_bytes(kMaxDataValue));
        record->kind = ValueKind::kData;
        ++values;
        break;
      }
      case kSum: {
        SPINDLE_TRY_ASSIGN(record->sum, r.read_number());
        SPINDLE_TRY(finite(record->sum));
        record->has_sum = true;
        break;
      }
      case kTime: {
        SPINDLE_TRY_ASSIGN(record->time, r.read_number());
        SPINDLE_TRY(finite(record->time));
        record->has_time = true;
        break;
      }
      case kUpdateTime: {
        SPINDLE_TRY_ASSIGN(const double update_time, r.read_number());
        SPINDLE_TRY(finite(update_time));
        break;
      }
      default:
        SPINDLE_TRY(r.skip());
        break;
    }
  }
  if (values > 1) return Error::kInvalidValue;
  if (values == 0 && !record->has_sum) return Error::kInvalidValue;
  if (!valid_resolved_name(record->base_name, record->name)) return Error::kInvalidValue;
  return kOk;
}

}  // namespace

Result<std::size_t> decode(std::span<const std::uint8_t> input, std::span<Record> records) {
  cbor::Reader r(input);
  SPINDLE_TRY_ASSIGN(const std::size_t count, r.read_array(records.size()));
  if (count == 0) return Error::kInvalidValue;  // a pack holds at least one record
  Record base;                                  // the base fields in effect so far
  for (std::size_t i = 0; i < count; ++i) {
    Record record;
    record.base_name = base.base_name;
    record.has_base_time = base.has_base_time;
    record.base_time = base.base_time;
    record.base_unit = base.base_unit;
    record.has_base_value = base.has_base_value;
    record.base_value = base.base_value;
    SPINDLE_TRY(decode_record(r, &record));
    base = record;
    records[i] = record;
  }
  SPINDLE_TRY(r.finish());
  return count;
}

Result<std::span<const std::uint8_t>> encode(std::span<const Record> records,
                                             std::span<std::uint8_t> out) {
  cbor::Writer w(out);
  if (records.empty()) return Error::kInvalidValue;
  w.array(records.size());
  std::string_view base_name;
  for (const Record& rec : records) {
    if (!rec.base_name.empty()) base_name = rec.base_name;
    if (rec.kind == ValueKind::kNone && !rec.has_sum) return Error::kInvalidValue;
    if (!valid_resolved_name(base_name, rec.name)) return Error::kInvalidValue;
    if (rec.name.size() > kMaxNameSize || rec.base_name.size() > kMaxNameSize ||
        rec.unit.size() > kMaxUnitSize || rec.base_unit.size() > kMaxUnitSize) {
      return Error::kOversize;
    }
    const unsigned entries = (rec.base_name.empty() ? 0U : 1U) + (rec.has_base_time ? 1U : 0U) +
                             (rec.base_unit.empty() ? 0U : 1U) + (rec.has_base_value ? 1U : 0U) +
                             (rec.name.empty() ? 0U : 1U) + (rec.unit.empty() ? 0U : 1U) +
                             (rec.kind == ValueKind::kNone ? 0U : 1U) + (rec.has_sum ? 1U : 0U) +
                             (rec.has_time ? 1U : 0U) + (rec.has_seq ? 1U : 0U);
    // Labels in the order of RFC 8428's own examples: base fields, then n, u, value, s, t.
    w.map(entries);
    if (!rec.base_name.empty()) w.integer(kBaseName).text(rec.base_name);
    if (rec.has_base_time) w.integer(kBaseTime).number(rec.base_time);
    if (!rec.base_unit.empty()) w.integer(kBaseUnit).text(rec.base_unit);
    if (rec.has_base_value) w.integer(kBaseValue).number(rec.base_value);
    if (!rec.name.empty()) w.integer(kName).text(rec.name);
    if (!rec.unit.empty()) w.integer(kUnit).text(rec.unit);
    switch (rec.kind) {
      case ValueKind::kNumber:
        w.integer(kValue).number(rec.number);
        break;
      case ValueKind::kString:
        w.integer(kStringValue).text(rec.text);
        break;
      case ValueKind::kBool:
        w.integer(kBoolValue).boolean(rec.boolean);
        break;
      case ValueKind::kData:
        w.integer(kDataValue).bytes(rec.data);
        break;
      case ValueKind::kNone:
        break;
    }
    if (rec.has_sum) w.integer(kSum).number(rec.sum);
    if (rec.has_time) w.integer(kTime).number(rec.time);
    if (rec.has_seq) w.text(kSeqLabel).uint(rec.seq);
  }
  return w.finish();
}

}  // namespace spindle::senml
