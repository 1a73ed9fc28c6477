#include "spindle/protocol/container.hpp"

#include <bit>
#include <cstring>

namespace spindle::container {
namespace {

using Bytes = std::span<const std::uint8_t>;

// ---- Little-endian field access. Callers have checked `at + width <= bytes.size()`. ----

std::uint8_t load_u8(Bytes bytes, std::size_t at) {
  return bytes[at];
}

std::uint16_t load_u16(Bytes bytes, std::size_t at) {
  return static_cast<std::uint16_t>(bytes[at] | (bytes[at + 1] << 8));
}

std::uint32_t load_u32(Bytes bytes, std::size_t at) {
  return static_cast<std::uint32_t>(bytes[at]) | (static_cast<std::uint32_t>(bytes[at + 1]) << 8) |
         (static_cast<std::uint32_t>(bytes[at + 2]) << 16) |
         (static_cast<std::uint32_t>(bytes[at + 3]) << 24);
}

std::int32_t load_i32(Bytes bytes, std::size_t at) {
  return static_cast<std::int32_t>(load_u32(bytes, at));
}

float load_f32(Bytes bytes, std::size_t at) {
  return std::bit_cast<float>(load_u32(bytes, at));
}

void store_u8(std::span<std::uint8_t> out, std::size_t at, std::uint8_t value) {
  out[at] = value;
}

void store_u16(std::span<std::uint8_t> out, std::size_t at, std::uint16_t value) {
  out[at] = static_cast<std::uint8_t>(value);
  out[at + 1] = static_cast<std::uint8_t>(value >> 8);
}

void store_u32(std::span<std::uint8_t> out, std::size_t at, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i)
    out[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

void store_i32(std::span<std::uint8_t> out, std::size_t at, std::int32_t value) {
  store_u32(out, at, static_cast<std::uint32_t>(value));
}

void store_f32(std::span<std::uint8_t> out, std::size_t at, float value) {
  store_u32(out, at, std::bit_cast<std::uint32_t>(value));
}

constexpr std::uint32_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();

bool is_aligned(std::uint64_t value) {
  return value % kAlignment == 0;
}

std::uint64_t align_up(std::uint64_t value) {
  return (value + (kAlignment - 1)) / kAlignment * kAlignment;
}

// A finite, strictly positive scale; NaN fails both comparisons.
bool valid_scale(float scale) {
  return scale > 0.0f && scale <= std::numeric_limits<float>::max();
}

bool valid_element_type(std::uint8_t value) {
  return value >= static_cast<std::uint8_t>(ElementType::kInt8) &&
         value <= static_cast<std::uint8_t>(ElementType::kFloat32);
}

// Product of the first `rank` dims. Four u16 factors stay below 2^64, so this cannot wrap.
std::uint64_t element_count_of(std::uint8_t rank, const std::array<std::uint16_t, kMaxRank>& dims) {
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < rank && i < kMaxRank; ++i)
    count *= dims[i];
  return count;
}

// Whether [offset, offset + size) lies inside a region of `limit` bytes; written so that
// no sum is ever formed that could wrap.
bool fits(std::uint64_t offset, std::uint64_t size, std::uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

// ---- Records ----

Header decode_header(Bytes bytes) {
  using W = wire::Header;
  Header h;
  h.format_version = load_u16(bytes, offsetof(W, format_version));
  h.header_size = load_u16(bytes, offsetof(W, header_size));
  h.total_size = load_u32(bytes, offsetof(W, total_size));
  h.model_kind = static_cast<ModelKind>(load_u8(bytes, offsetof(W, model_kind)));
  h.tensor_count = load_u8(bytes, offsetof(W, tensor_count));
  h.op_count = load_u8(bytes, offsetof(W, op_count));
  h.input_tensor = load_u8(bytes, offsetof(W, input_tensor));
  h.output_tensor = load_u8(bytes, offsetof(W, output_tensor));
  h.tensor_table_offset = load_u32(bytes, offsetof(W, tensor_table_offset));
  h.op_table_offset = load_u32(bytes, offsetof(W, op_table_offset));
  h.data_offset = load_u32(bytes, offsetof(W, data_offset));
  h.data_size = load_u32(bytes, offsetof(W, data_size));
  h.arena_bytes = load_u32(bytes, offsetof(W, arena_bytes));
  return h;
}

bool header_reserved_zero(Bytes bytes) {
  using W = wire::Header;
  for (std::size_t i = 0; i < sizeof(W::reserved0); ++i) {
    if (bytes[offsetof(W, reserved0) + i] != 0) return false;
  }
  for (std::size_t i = 0; i < sizeof(W::reserved1); ++i) {
    if (bytes[offsetof(W, reserved1) + i] != 0) return false;
  }
  return true;
}

// Decodes and checks one tensor record (O(1): channel scale values are checked once, by
// the parser, not on every access). `data` is the container's data region.
Result<Tensor> decode_tensor(Bytes record, Bytes data) {
  using W = wire::TensorRecord;
  const std::uint8_t type = load_u8(record, offsetof(W, element_type));
  const std::uint8_t rank = load_u8(record, offsetof(W, rank));
  const std::uint8_t flags = load_u8(record, offsetof(W, flags));
  if (!valid_element_type(type)) return Error::kInvalidValue;
  if (rank < 1 || rank > kMaxRank) return Error::kInvalidValue;
  if ((flags & ~wire::kTensorFlagConstant) != 0) return Error::kInvalidValue;
  if (load_u8(record, offsetof(W, reserved0)) != 0 ||
      load_u16(record, offsetof(W, reserved1)) != 0) {
    return Error::kInvalidValue;
  }

  Tensor t;
  t.type = static_cast<ElementType>(type);
  t.rank = rank;
  t.constant = (flags & wire::kTensorFlagConstant) != 0;
  for (std::size_t i = 0; i < kMaxRank; ++i) {
    t.dims[i] = load_u16(record, offsetof(W, dims) + 2 * i);
    // Dims past the rank are zero so that one shape has exactly one encoding.
    if ((i < rank) != (t.dims[i] != 0)) return Error::kInvalidValue;
  }
  const std::uint64_t byte_size = element_count_of(rank, t.dims) * element_size(t.type);
  if (byte_size > kMaxU32) return Error::kOversize;

  t.zero_point = load_i32(record, offsetof(W, zero_point));
  t.scale = load_f32(record, offsetof(W, scale));
  t.channel_count = load_u16(record, offsetof(W, channel_count));
  const std::uint32_t scales_offset = load_u32(record, offsetof(W, channel_scales_offset));
  switch (t.type) {
    case ElementType::kFloat32:
      // Float tensors carry no quantization; zeros keep the encoding unique.
      if (t.zero_point != 0 || std::bit_cast<std::uint32_t>(t.scale) != 0 || t.channel_count != 0 ||
          scales_offset != 0) {
        return Error::kInvalidValue;
      }
      break;
    case ElementType::kInt8:
    case ElementType::kInt32: {
      const bool zero_point_ok = t.type == ElementType::kInt8
                                     ? t.zero_point >= -128 && t.zero_point <= 127
                                     : t.zero_point == 0;
      if (!zero_point_ok) return Error::kInvalidValue;
      if (!t.per_channel()) {
        if (!valid_scale(t.scale) || scales_offset != 0) return Error::kInvalidValue;
        break;
      }
      // The explicit count catches a packer that quantized along the wrong axis, which
      // would otherwise read plausible scales for the wrong channels.
      if (t.channel_count != t.dims[0] || !t.constant ||
          std::bit_cast<std::uint32_t>(t.scale) != 0) {
        return Error::kInvalidValue;
      }
      const std::uint64_t scales_size = std::uint64_t{t.channel_count} * sizeof(float);
      if (!is_aligned(scales_offset) || !fits(scales_offset, scales_size, data.size())) {
        return Error::kMalformed;
      }
      t.channel_scales = data.subspan(scales_offset, static_cast<std::size_t>(scales_size));
      break;
    }
  }

  const std::uint32_t data_offset = load_u32(record, offsetof(W, data_offset));
  const std::uint32_t data_size = load_u32(record, offsetof(W, data_size));
  if (!t.constant) {
    if (data_offset != 0 || data_size != 0) return Error::kInvalidValue;
    return t;
  }
  if (data_size != byte_size) return Error::kInvalidValue;
  if (!is_aligned(data_offset) || !fits(data_offset, data_size, data.size())) {
    return Error::kMalformed;
  }
  t.data = data.subspan(data_offset, data_size);
  return t;
}

std::size_t input_arity(OpCode code) {
  switch (code) {
    case OpCode::kFullyConnected:
      return 3;
    case OpCode::kRelu:
    case OpCode::kQuantize:
    case OpCode::kDequantize:
      return 1;
    case OpCode::kReconstructionError:
    case OpCode::kNearestCentroid:
    case OpCode::kStandardize:
      return 2;
  }
  return 0;
}

// Checks params[] against the opcode's domain.
bool params_valid(const Op& op) {
  const std::int32_t p0 = op.params[0];
  const std::int32_t p1 = op.params[1];
  switch (op.code) {
    case OpCode::kFullyConnected:  // activation clamp in the int8 output domain
      return p0 >= -128 && p0 <= p1 && p1 <= 127;
    case OpCode::kRelu:
    case OpCode::kQuantize:
    case OpCode::kDequantize:
    case OpCode::kStandardize:
      return p0 == 0 && p1 == 0;
    case OpCode::kReconstructionError:
      return (p0 == static_cast<std::int32_t>(ReconstructionMetric::kMeanSquaredError) ||
              p0 == static_cast<std::int32_t>(ReconstructionMetric::kMeanAbsoluteError)) &&
             p1 == 0;
    case OpCode::kNearestCentroid:
      return (p0 == static_cast<std::int32_t>(DistanceMetric::kSquaredEuclidean) ||
              p0 == static_cast<std::int32_t>(DistanceMetric::kEuclidean)) &&
             p1 == 0;
  }
  return false;
}

// Decodes and checks one op record against its own domain (not yet against its tensors).
Result<Op> decode_op(Bytes record, std::size_t tensor_count) {
  using W = wire::OpRecord;
  const std::uint8_t code = load_u8(record, offsetof(W, opcode));
  if (code < static_cast<std::uint8_t>(OpCode::kFullyConnected) ||
      code > static_cast<std::uint8_t>(kLastOpCode)) {
    return Error::kInvalidValue;
  }
  Op op;
  op.code = static_cast<OpCode>(code);
  op.input_count = load_u8(record, offsetof(W, input_count));
  op.output_count = load_u8(record, offsetof(W, output_count));
  // Every v1 op writes exactly one tensor; the second output slot is room for later ops.
  if (op.input_count != input_arity(op.code) || op.output_count != 1) {
    return Error::kInvalidValue;
  }
  if (load_u8(record, offsetof(W, reserved0)) != 0 ||
      load_u16(record, offsetof(W, reserved1)) != 0 ||
      load_u32(record, offsetof(W, reserved2)) != 0) {
    return Error::kInvalidValue;
  }
  for (std::size_t i = 0; i < kMaxOpInputs; ++i) {
    op.inputs[i] = load_u8(record, offsetof(W, inputs) + i);
    const bool used = i < op.input_count;
    if (used ? op.inputs[i] >= tensor_count : op.inputs[i] != 0) return Error::kInvalidValue;
  }
  for (std::size_t i = 0; i < kMaxOpOutputs; ++i) {
    op.outputs[i] = load_u8(record, offsetof(W, outputs) + i);
    const bool used = i < op.output_count;
    if (used ? op.outputs[i] >= tensor_count : op.outputs[i] != 0) return Error::kInvalidValue;
  }
  for (std::size_t i = 0; i < kOpParamCount; ++i) {
    op.params[i] = load_i32(record, offsetof(W, params) + 4 * i);
  }
  if (!params_valid(op)) return Error::kInvalidValue;
  return op;
}

bool same_shape(const Tensor& a, const Tensor& b) {
  return a.rank == b.rank && a.dims == b.dims;
}

bool same_leading_dims(const Tensor& a, const Tensor& b, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (a.dims[i] != b.dims[i]) return false;
  }
  return true;
}

bool is_int8_or_float(const Tensor& t) {
  return t.type == ElementType::kInt8 || t.type == ElementType::kFloat32;
}

bool is_score(const Tensor& t) {
  return t.type == ElementType::kFloat32 && !t.constant && t.element_count() == 1;
}

// Whether the op's tensors fit its signature. The runtime's kernels rely on this instead of
// checking shapes themselves, the way TFLite Micro kernels rely on Prepare().
bool signature_valid(const ContainerView& view, const Op& op) {
  std::array<Tensor, kMaxOpInputs> in{};
  for (std::size_t i = 0; i < op.input_count; ++i)
    in[i] = *view.tensor(op.inputs[i]);
  const Tensor out = *view.tensor(op.outputs[0]);

  switch (op.code) {
    case OpCode::kFullyConnected: {
      const Tensor& x = in[0];
      const Tensor& w = in[1];
      const Tensor& b = in[2];
      const std::size_t last = x.rank - 1u;
      // Weights are symmetric (zero point 0), as CMSIS-NN's int8 kernels require.
      return x.type == ElementType::kInt8 && !x.constant && w.type == ElementType::kInt8 &&
             w.constant && w.rank == 2 && w.zero_point == 0 && x.dims[last] == w.dims[1] &&
             b.type == ElementType::kInt32 && b.constant && b.rank == 1 && b.dims[0] == w.dims[0] &&
             out.type == ElementType::kInt8 && out.rank == x.rank &&
             same_leading_dims(x, out, last) && out.dims[last] == w.dims[0];
    }
    case OpCode::kRelu:
      return in[0].type == ElementType::kInt8 && out.type == ElementType::kInt8 &&
             same_shape(in[0], out);
    case OpCode::kQuantize:
      return in[0].type == ElementType::kFloat32 && out.type == ElementType::kInt8 &&
             same_shape(in[0], out);
    case OpCode::kDequantize:
      return in[0].type == ElementType::kInt8 && out.type == ElementType::kFloat32 &&
             same_shape(in[0], out);
    case OpCode::kReconstructionError:
      return is_int8_or_float(in[0]) && is_int8_or_float(in[1]) &&
             in[0].element_count() == in[1].element_count() && is_score(out);
    case OpCode::kNearestCentroid: {
      const Tensor& x = in[0];
      const Tensor& c = in[1];
      return is_int8_or_float(x) && is_int8_or_float(c) && c.constant && c.rank == 2 &&
             x.element_count() == c.dims[1] && is_score(out);
    }
    case OpCode::kStandardize: {
      const Tensor& x = in[0];
      const Tensor& p = in[1];
      return x.type == ElementType::kFloat32 && !x.constant && p.type == ElementType::kFloat32 &&
             p.constant && p.rank == 2 && p.dims[0] == 2 && p.dims[1] == x.element_count() &&
             out.type == ElementType::kFloat32 && same_shape(x, out);
    }
  }
  return false;
}

// Regions must not overlap each other or the header; an empty region overlaps nothing.
bool disjoint(std::uint64_t a, std::uint64_t a_size, std::uint64_t b, std::uint64_t b_size) {
  return a_size == 0 || b_size == 0 || a + a_size <= b || b + b_size <= a;
}

Status check_regions(const Header& h) {
  const std::uint64_t total = h.total_size;
  struct Region {
    std::uint64_t offset;
    std::uint64_t size;
  };
  const std::array<Region, 4> regions = {{
      {0, kHeaderSize},
      {h.tensor_table_offset, std::uint64_t{h.tensor_count} * kTensorRecordSize},
      {h.op_table_offset, std::uint64_t{h.op_count} * kOpRecordSize},
      {h.data_offset, h.data_size},
  }};
  for (std::size_t i = 1; i < regions.size(); ++i) {
    if (!is_aligned(regions[i].offset) || !fits(regions[i].offset, regions[i].size, total)) {
      return Error::kMalformed;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (!disjoint(regions[i].offset, regions[i].size, regions[j].offset, regions[j].size)) {
        return Error::kMalformed;
      }
    }
  }
  return kOk;
}

// Ops run in table order, so every tensor an op reads must be a constant, the graph input
// or the output of an earlier op, and every tensor is written at most once. The runtime
// can then execute the table front to back with no scheduling of its own.
Status check_graph(const ContainerView& view) {
  static_assert(kMaxTensors <= 32, "the written-set is a 32-bit mask");
  const Header& h = view.header();
  std::uint32_t written = 0;
  for (std::size_t i = 0; i < h.tensor_count; ++i) {
    if (view.tensor(i)->constant) written |= 1u << i;
  }
  // The runtime writes the caller's sample into the input. (An input that is also the
  // output fails below: no op may write the input, so it has no producer.)
  if (view.tensor(h.input_tensor)->constant) return Error::kMalformed;
  written |= 1u << h.input_tensor;

  OpCode output_producer{};
  for (std::size_t i = 0; i < h.op_count; ++i) {
    const Op op = *view.op(i);
    for (std::size_t k = 0; k < op.input_count; ++k) {
      if ((written & (1u << op.inputs[k])) == 0) return Error::kMalformed;
    }
    for (std::size_t k = 0; k < op.output_count; ++k) {
      if ((written & (1u << op.outputs[k])) != 0) return Error::kMalformed;
      written |= 1u << op.outputs[k];
      if (op.outputs[k] == h.output_tensor) output_producer = op.code;
    }
    if (!signature_valid(view, op)) return Error::kMalformed;
  }
  const OpCode scoring = h.model_kind == ModelKind::kAutoencoder ? OpCode::kReconstructionError
                                                                 : OpCode::kNearestCentroid;
  if (output_producer != scoring) return Error::kMalformed;
  return kOk;
}

Bytes data_region(Bytes bytes, const Header& h) {
  return bytes.subspan(h.data_offset, h.data_size);
}

}  // namespace

std::uint32_t Tensor::element_count() const {
  const std::uint64_t count = element_count_of(rank, dims);
  // A parsed tensor never exceeds this; the clamp only guards hand-made Tensor values.
  return count > kMaxU32 ? kMaxU32 : static_cast<std::uint32_t>(count);
}

float Tensor::channel_scale(std::size_t channel) const {
  if (!per_channel()) return scale;
  if (channel >= channel_count || (channel + 1) * sizeof(float) > channel_scales.size()) {
    return 0.0f;
  }
  return load_f32(channel_scales, channel * sizeof(float));
}

std::uint32_t ContainerView::op_set() const {
  std::uint32_t set = 0;
  for (std::size_t i = 0; i < header_.op_count; ++i) {
    const Result<Op> op = this->op(i);
    if (op.ok()) set |= 1u << static_cast<std::uint8_t>(op->code);
  }
  return set;
}

Result<Tensor> ContainerView::tensor(std::size_t index) const {
  if (index >= header_.tensor_count) return Error::kInvalidValue;
  return decode_tensor(
      bytes_.subspan(header_.tensor_table_offset + index * kTensorRecordSize, kTensorRecordSize),
      data_region(bytes_, header_));
}

Result<Op> ContainerView::op(std::size_t index) const {
  if (index >= header_.op_count) return Error::kInvalidValue;
  return decode_op(bytes_.subspan(header_.op_table_offset + index * kOpRecordSize, kOpRecordSize),
                   header_.tensor_count);
}

Result<ContainerView> parse_container(std::span<const std::uint8_t> bytes) {
  // A prefix of the magic is a truncated container, not a foreign file.
  const std::size_t magic_length = bytes.size() < kMagic.size() ? bytes.size() : kMagic.size();
  if (magic_length != 0 && std::memcmp(bytes.data(), kMagic.data(), magic_length) != 0) {
    return Error::kBadMagic;
  }
  if (bytes.size() < kHeaderSize) return Error::kTruncated;

  const Header h = decode_header(bytes);
  if (h.format_version != kFormatVersion) return Error::kUnsupportedVersion;
  if (h.header_size != kHeaderSize) return Error::kInvalidValue;
  if (h.total_size < kHeaderSize) return Error::kMalformed;
  if (bytes.size() < h.total_size) return Error::kTruncated;
  if (bytes.size() > h.total_size) return Error::kTrailingBytes;
  if (!header_reserved_zero(bytes)) return Error::kInvalidValue;
  if (h.model_kind != ModelKind::kAutoencoder && h.model_kind != ModelKind::kCentroid) {
    return Error::kInvalidValue;
  }
  if (h.tensor_count > kMaxTensors || h.op_count > kMaxOps) return Error::kOversize;
  if (h.tensor_count == 0 || h.op_count == 0) return Error::kInvalidValue;
  if (h.input_tensor >= h.tensor_count || h.output_tensor >= h.tensor_count) {
    return Error::kInvalidValue;
  }
  SPINDLE_TRY(check_regions(h));

  ContainerView view;
  view.bytes_ = bytes;
  view.header_ = h;
  for (std::size_t i = 0; i < h.tensor_count; ++i) {
    SPINDLE_TRY_ASSIGN(const Tensor t, view.tensor(i));
    for (std::size_t c = 0; c < t.channel_count; ++c) {
      if (!valid_scale(t.channel_scale(c))) return Error::kInvalidValue;
    }
  }
  for (std::size_t i = 0; i < h.op_count; ++i)
    SPINDLE_TRY(view.op(i));
  SPINDLE_TRY(check_graph(view));
  return view;
}

// ---- Builder ----

Result<std::uint8_t> ContainerBuilder::add_tensor(const TensorSpec& spec) {
  if (tensor_count_ >= kMaxTensors || spec.data.size() > kMaxU32 ||
      spec.channel_scales.size() > std::numeric_limits<std::uint16_t>::max()) {
    return Error::kOversize;
  }
  tensors_[tensor_count_] = spec;
  return static_cast<std::uint8_t>(tensor_count_++);
}

Result<std::uint8_t> ContainerBuilder::add_op(const Op& op) {
  if (op_count_ >= kMaxOps) return Error::kOversize;
  ops_[op_count_] = op;
  return static_cast<std::uint8_t>(op_count_++);
}

Result<std::span<const std::uint8_t>> ContainerBuilder::finish(const GraphInfo& graph) {
  const std::uint64_t tensor_table = kHeaderSize;
  const std::uint64_t op_table = tensor_table + tensor_count_ * kTensorRecordSize;
  const std::uint64_t data_start = op_table + op_count_ * kOpRecordSize;
  // Each span is below 4 GiB (add_tensor) and there are at most 32 of each, so the u64
  // sum cannot wrap; only the u32 fields can overflow, which is checked below.
  std::uint64_t data_size = 0;
  for (std::size_t i = 0; i < tensor_count_; ++i) {
    data_size += align_up(tensors_[i].data.size());
    data_size += align_up(tensors_[i].channel_scales.size() * sizeof(float));
  }
  const std::uint64_t total = data_start + data_size;
  if (total > kMaxU32) return Error::kOversize;
  if (total > out_.size()) return Error::kBufferTooSmall;

  const std::span<std::uint8_t> out = out_.first(static_cast<std::size_t>(total));
  std::memset(out.data(), 0, out.size());  // padding and reserved fields

  using H = wire::Header;
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  store_u16(out, offsetof(H, format_version), kFormatVersion);
  store_u16(out, offsetof(H, header_size), static_cast<std::uint16_t>(kHeaderSize));
  store_u32(out, offsetof(H, total_size), static_cast<std::uint32_t>(total));
  store_u8(out, offsetof(H, model_kind), static_cast<std::uint8_t>(graph.kind));
  store_u8(out, offsetof(H, tensor_count), static_cast<std::uint8_t>(tensor_count_));
  store_u8(out, offsetof(H, op_count), static_cast<std::uint8_t>(op_count_));
  store_u8(out, offsetof(H, input_tensor), graph.input_tensor);
  store_u8(out, offsetof(H, output_tensor), graph.output_tensor);
  store_u32(out, offsetof(H, tensor_table_offset), static_cast<std::uint32_t>(tensor_table));
  store_u32(out, offsetof(H, op_table_offset), static_cast<std::uint32_t>(op_table));
  store_u32(out, offsetof(H, data_offset), static_cast<std::uint32_t>(data_start));
  store_u32(out, offsetof(H, data_size), static_cast<std::uint32_t>(data_size));
  store_u32(out, offsetof(H, arena_bytes), graph.arena_bytes);

  using T = wire::TensorRecord;
  std::uint64_t cursor = 0;  // within the data region
  for (std::size_t i = 0; i < tensor_count_; ++i) {
    const TensorSpec& spec = tensors_[i];
    const std::size_t at = static_cast<std::size_t>(tensor_table) + i * kTensorRecordSize;
    store_u8(out, at + offsetof(T, element_type), static_cast<std::uint8_t>(spec.type));
    store_u8(out, at + offsetof(T, rank), spec.rank);
    store_u8(out, at + offsetof(T, flags), spec.data.empty() ? 0 : wire::kTensorFlagConstant);
    for (std::size_t d = 0; d < kMaxRank; ++d) {
      store_u16(out, at + offsetof(T, dims) + 2 * d, spec.dims[d]);
    }
    store_i32(out, at + offsetof(T, zero_point), spec.zero_point);
    store_f32(out, at + offsetof(T, scale), spec.scale);
    store_u16(out, at + offsetof(T, channel_count),
              static_cast<std::uint16_t>(spec.channel_scales.size()));
    if (!spec.data.empty()) {
      store_u32(out, at + offsetof(T, data_offset), static_cast<std::uint32_t>(cursor));
      store_u32(out, at + offsetof(T, data_size), static_cast<std::uint32_t>(spec.data.size()));
      std::memcpy(out.data() + static_cast<std::size_t>(data_start + cursor), spec.data.data(),
                  spec.data.size());
      cursor += align_up(spec.data.size());
    }
    if (!spec.channel_scales.empty()) {
      store_u32(out, at + offsetof(T, channel_scales_offset), static_cast<std::uint32_t>(cursor));
      for (const float s : spec.channel_scales) {
        store_f32(out, static_cast<std::size_t>(data_start + cursor), s);
        cursor += sizeof(float);
      }
    }
  }

  using O = wire::OpRecord;
  for (std::size_t i = 0; i < op_count_; ++i) {
    const Op& op = ops_[i];
    const std::size_t at = static_cast<std::size_t>(op_table) + i * kOpRecordSize;
    store_u8(out, at + offsetof(O, opcode), static_cast<std::uint8_t>(op.code));
    store_u8(out, at + offsetof(O, input_count), op.input_count);
    store_u8(out, at + offsetof(O, output_count), op.output_count);
    for (std::size_t k = 0; k < kMaxOpInputs; ++k) {
      store_u8(out, at + offsetof(O, inputs) + k, op.inputs[k]);
    }
    for (std::size_t k = 0; k < kMaxOpOutputs; ++k) {
      store_u8(out, at + offsetof(O, outputs) + k, op.outputs[k]);
    }
    for (std::size_t k = 0; k < kOpParamCount; ++k) {
      store_i32(out, at + offsetof(O, params) + 4 * k, op.params[k]);
    }
  }

  SPINDLE_TRY(parse_container(out));
  return std::span<const std::uint8_t>(out);
}

}  // namespace spindle::container
