// The libcbor adapter: the one place where libcbor's streaming decoder results become
// Spindle Status codes.
#include "spindle/protocol/cbor_reader.hpp"

#include <cbor.h>

#include <limits>

namespace spindle::cbor {
namespace {

// What one cbor_stream_decode call saw.
struct Capture {
  Item item;
  bool indefinite = false;
  bool stray_break = false;
};

Capture& cap(void* context) {
  return *static_cast<Capture*>(context);
}

void on_uint8(void* c, std::uint8_t v) {
  cap(c).item = {Type::kUnsigned, v, {}, 0.0, false};
}
void on_uint16(void* c, std::uint16_t v) {
  cap(c).item = {Type::kUnsigned, v, {}, 0.0, false};
}
void on_uint32(void* c, std::uint32_t v) {
  cap(c).item = {Type::kUnsigned, v, {}, 0.0, false};
}
void on_uint64(void* c, std::uint64_t v) {
  cap(c).item = {Type::kUnsigned, v, {}, 0.0, false};
}
void on_neg8(void* c, std::uint8_t v) {
  cap(c).item = {Type::kNegative, v, {}, 0.0, false};
}
void on_neg16(void* c, std::uint16_t v) {
  cap(c).item = {Type::kNegative, v, {}, 0.0, false};
}
void on_neg32(void* c, std::uint32_t v) {
  cap(c).item = {Type::kNegative, v, {}, 0.0, false};
}
void on_neg64(void* c, std::uint64_t v) {
  cap(c).item = {Type::kNegative, v, {}, 0.0, false};
}
void on_bytes(void* c, cbor_data data, std::size_t length) {
  cap(c).item = {Type::kBytes, length, {data, length}, 0.0, false};
}
void on_text(void* c, cbor_data data, std::size_t length) {
  cap(c).item = {Type::kText, length, {data, length}, 0.0, false};
}
void on_indefinite(void* c) {
  cap(c).indefinite = true;
}
void on_array(void* c, std::size_t n) {
  cap(c).item = {Type::kArray, n, {}, 0.0, false};
}
void on_map(void* c, std::size_t n) {
  cap(c).item = {Type::kMap, n, {}, 0.0, false};
}
void on_tag(void* c, std::uint64_t n) {
  cap(c).item = {Type::kTag, n, {}, 0.0, false};
}
void on_float(void* c, float v) {
  cap(c).item = {Type::kFloat, 0, {}, static_cast<double>(v), false};
}
void on_double(void* c, double v) {
  cap(c).item = {Type::kFloat, 0, {}, v, false};
}
void on_undefined(void* c) {
  cap(c).item = {Type::kUndefined, 0, {}, 0.0, false};
}
void on_null(void* c) {
  cap(c).item = {Type::kNull, 0, {}, 0.0, false};
}
void on_bool(void* c, bool v) {
  cap(c).item = {Type::kBool, 0, {}, 0.0, v};
}
void on_break(void* c) {
  cap(c).stray_break = true;
}

constexpr cbor_callbacks kCallbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint64 = on_neg64,
    .negint32 = on_neg32,
    .negint16 = on_neg16,
    .negint8 = on_neg8,
    .byte_string_start = on_indefinite,
    .byte_string = on_bytes,
    .string = on_text,
    .string_start = on_indefinite,
    .indef_array_start = on_indefinite,
    .array_start = on_array,
    .indef_map_start = on_indefinite,
    .map_start = on_map,
    .tag = on_tag,
    .float2 = on_float,
    .float4 = on_float,
    .float8 = on_double,
    .undefined = on_undefined,
    .null = on_null,
    .boolean = on_bool,
    .indef_break = on_break,
};

}  // namespace

Result<Item> Reader::peek(std::size_t* length) const {
  if (offset_ >= input_.size()) return Error::kTruncated;
  // libcbor 0.8's streaming decoder reports the one-byte tag heads 0xc6..0xd4 (tags 6..20)
  // as errors because those tag numbers were unassigned when it was written; COSE_Sign1 is
  // tag 18. RFC 8949 makes every tag number well-formed, so decode those heads here.
  const std::uint8_t initial = input_[offset_];
  if (initial >= 0xc6 && initial <= 0xd4) {
    *length = 1;
    return Item{Type::kTag, static_cast<std::uint64_t>(initial & 0x1fU), {}, 0.0, false};
  }
  Capture capture;
  capture.item.type = Type::kUndefined;
  bool decoded = false;
  // A fresh marker so that a callback-less FINISHED (which libcbor never reports for
  // well-formed input) is not mistaken for an item.
  capture.item.value = std::numeric_limits<std::uint64_t>::max();
  const cbor_decoder_result result =
      cbor_stream_decode(input_.data() + offset_, input_.size() - offset_, &kCallbacks, &capture);
  switch (result.status) {
    case CBOR_DECODER_FINISHED:
      decoded = true;
      break;
    case CBOR_DECODER_NEDATA:
      return Error::kTruncated;
    case CBOR_DECODER_ERROR:
      return Error::kMalformed;
  }
  if (!decoded || result.read == 0) return Error::kMalformed;
  if (capture.indefinite) return Error::kIndefiniteLength;
  if (capture.stray_break) return Error::kMalformed;
  *length = result.read;
  return capture.item;
}

Result<Item> Reader::next() {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  offset_ += length;
  return item;
}

template <typename T>
Result<T> Reader::expect(Type type, T (*extract)(const Item&)) {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != type) return Error::kWrongType;
  offset_ += length;
  return extract(item);
}

Result<std::uint64_t> Reader::read_uint() {
  return expect<std::uint64_t>(Type::kUnsigned, [](const Item& i) { return i.value; });
}

Result<std::int64_t> Reader::read_int() {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::int64_t value = 0;
  if (item.type == Type::kUnsigned) {
    if (item.value > kMax) return Error::kInvalidValue;
    value = static_cast<std::int64_t>(item.value);
  } else if (item.type == Type::kNegative) {
    if (item.value > kMax) return Error::kInvalidValue;
    value = -1 - static_cast<std::int64_t>(item.value);
  } else {
    return Error::kWrongType;
  }
  offset_ += length;
  return value;
}

Result<std::span<const std::uint8_t>> Reader::read_bytes(std::size_t max_length) {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != Type::kBytes) return Error::kWrongType;
  if (item.bytes.size() > max_length) return Error::kOversize;
  offset_ += length;
  return item.bytes;
}

Result<std::string_view> Reader::read_text(std::size_t max_length) {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != Type::kText) return Error::kWrongType;
  if (item.bytes.size() > max_length) return Error::kOversize;
  offset_ += length;
  return std::string_view(reinterpret_cast<const char*>(item.bytes.data()), item.bytes.size());
}

Result<std::size_t> Reader::read_array(std::size_t max_count) {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != Type::kArray) return Error::kWrongType;
  if (item.value > max_count) return Error::kOversize;
  offset_ += length;
  return static_cast<std::size_t>(item.value);
}

Result<std::size_t> Reader::read_map(std::size_t max_count) {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != Type::kMap) return Error::kWrongType;
  if (item.value > max_count) return Error::kOversize;
  offset_ += length;
  return static_cast<std::size_t>(item.value);
}

Result<std::uint64_t> Reader::read_tag() {
  return expect<std::uint64_t>(Type::kTag, [](const Item& i) { return i.value; });
}

Result<double> Reader::read_number() {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  double value = 0.0;
  switch (item.type) {
    case Type::kUnsigned:
      value = static_cast<double>(item.value);
      break;
    case Type::kNegative:
      value = -1.0 - static_cast<double>(item.value);
      break;
    case Type::kFloat:
      value = item.number;
      break;
    default:
      return Error::kWrongType;
  }
  offset_ += length;
  return value;
}

Result<bool> Reader::read_bool() {
  return expect<bool>(Type::kBool, [](const Item& i) { return i.flag; });
}

Result<bool> Reader::read_null_if_present() {
  std::size_t length = 0;
  SPINDLE_TRY_ASSIGN(const Item item, peek(&length));
  if (item.type != Type::kNull) return false;
  offset_ += length;
  return true;
}

Status Reader::skip(int max_depth) {
  // Iterative: `pending` counts the items still to be read at each open level.
  constexpr int kLimit = kMaxSkipDepth + 1;
  if (max_depth > kMaxSkipDepth) max_depth = kMaxSkipDepth;
  std::uint64_t pending[kLimit] = {1};
  int depth = 0;
  while (true) {
    while (pending[depth] == 0) {
      if (depth == 0) return kOk;
      --depth;
    }
    --pending[depth];
    SPINDLE_TRY_ASSIGN(const Item item, next());
    std::uint64_t children = 0;
    if (item.type == Type::kArray) {
      children = item.value;
    } else if (item.type == Type::kMap) {
      if (item.value > std::numeric_limits<std::uint64_t>::max() / 2) return Error::kOversize;
      children = item.value * 2;
    } else if (item.type == Type::kTag) {
      children = 1;
    } else {
      continue;
    }
    if (children == 0) continue;
    // A container cannot hold more items than there are bytes left.
    if (children > input_.size() - offset_) return Error::kTruncated;
    if (depth + 1 > max_depth) return Error::kNestingTooDeep;
    pending[++depth] = children;
  }
}

Status Reader::finish() const {
  return offset_ == input_.size() ? kOk : Status(Error::kTrailingBytes);
}

Status KeySet::mark(std::int64_t key) {
  if (has(key)) return Error::kDuplicateKey;
  if (key >= 0 && key <= kMaxKey) positive_ |= std::uint64_t{1} << key;
  if (key < 0 && key >= kMinKey) negative_ |= std::uint64_t{1} << (-key - 1);
  return kOk;
}

bool KeySet::has(std::int64_t key) const {
  if (key >= 0 && key <= kMaxKey) return (positive_ >> key) & 1U;
  if (key < 0 && key >= kMinKey) return (negative_ >> (-key - 1)) & 1U;
  return false;
}

}  // namespace spindle::cbor
