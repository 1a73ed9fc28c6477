// The Spindle model container (SPMC): the plaintext model file that the node decrypts into
// RAM and its int8 runtime executes. The layout is specified in docs/protocol/container.md;
// the wire structs below pin it (sizes and field offsets are static_asserted) and the parser
// takes its field offsets from them, so the document, the structs and the code cannot drift.
//
// All multi-byte fields are little-endian. The parser reads them byte by byte from the
// caller's buffer, so it works on big-endian hosts and on buffers of any alignment.
// Nothing here allocates: the parser returns a view into the caller's bytes and the
// builder writes into a caller-owned span.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "spindle/status.hpp"

namespace spindle::container {

// ---- Capacities: fixed at compile time so the runtime can size its tables statically ----
inline constexpr std::size_t kMaxTensors = 32;
inline constexpr std::size_t kMaxOps = 16;
inline constexpr std::size_t kMaxRank = 4;
inline constexpr std::size_t kMaxOpInputs = 4;
inline constexpr std::size_t kMaxOpOutputs = 2;
inline constexpr std::size_t kOpParamCount = 2;

inline constexpr std::array<std::uint8_t, 4> kMagic = {'S', 'P', 'M', 'C'};
inline constexpr std::uint16_t kFormatVersion = 1;
// Regions and constants start on this boundary, so a runtime whose buffer is 4-aligned can
// read int32 biases and float32 scales in place.
inline constexpr std::uint32_t kAlignment = 4;

// Zero is never a valid enumerator: an all-zero record is rejected rather than read as a
// plausible default.
enum class ModelKind : std::uint8_t {
  kAutoencoder = 1,  // score = reconstruction error of the input
  kCentroid = 2,     // score = distance to the nearest of K centroids
};

enum class ElementType : std::uint8_t {
  kInt8 = 1,
  kInt32 = 2,
  kFloat32 = 3,
};

enum class OpCode : std::uint8_t {
  kFullyConnected = 1,       // in: input i8, weights i8 [out,in], bias i32 [out]; out: i8
  kRelu = 2,                 // in: i8; out: i8, same shape
  kQuantize = 3,             // in: f32; out: i8, same shape
  kDequantize = 4,           // in: i8; out: f32, same shape
  kReconstructionError = 5,  // in: two tensors (i8 or f32) of equal size; out: f32 [1]
  kNearestCentroid = 6,      // in: x (i8 or f32) [D], centroids const [K,D]; out: f32 [1]
  kStandardize = 7,          // in: x f32 [D], params const f32 [2,D]; out: f32 [D]
};
// The highest opcode this version of the format defines.
inline constexpr OpCode kLastOpCode = OpCode::kStandardize;

// params[0] of kReconstructionError.
enum class ReconstructionMetric : std::int32_t {
  kMeanSquaredError = 0,
  kMeanAbsoluteError = 1,
};

// params[0] of kNearestCentroid.
enum class DistanceMetric : std::int32_t {
  kSquaredEuclidean = 0,
  kEuclidean = 1,
};

// Bytes per element; 0 for a value that is not an ElementType.
constexpr std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kInt8:
      return 1;
    case ElementType::kInt32:
      return 4;
    case ElementType::kFloat32:
      return 4;
  }
  return 0;
}

// ---- Wire layout (format version 1). Documentation and offsets only: never overlay these
// on received bytes (byte order and alignment are not the host's business). ----
namespace wire {

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
              "the container stores IEEE 754 binary32");

struct Header {
  std::array<std::uint8_t, 4> magic;      // "SPMC"
  std::uint16_t format_version;           // kFormatVersion
  std::uint16_t header_size;              // sizeof(Header)
  std::uint32_t total_size;               // the whole container, header included
  std::uint8_t model_kind;                // ModelKind
  std::uint8_t tensor_count;              // 1..kMaxTensors
  std::uint8_t op_count;                  // 1..kMaxOps
  std::uint8_t input_tensor;              // index of the graph input
  std::uint8_t output_tensor;             // index of the score tensor
  std::array<std::uint8_t, 3> reserved0;  // zero
  std::uint32_t tensor_table_offset;      // from the start of the container
  std::uint32_t op_table_offset;          // from the start of the container
  std::uint32_t data_offset;              // from the start of the container
  std::uint32_t data_size;
  std::uint32_t arena_bytes;               // activation + scratch bytes the runtime must provide
  std::array<std::uint32_t, 2> reserved1;  // zero
};
static_assert(sizeof(Header) == 48);
static_assert(offsetof(Header, format_version) == 4);
static_assert(offsetof(Header, total_size) == 8);
static_assert(offsetof(Header, model_kind) == 12);
static_assert(offsetof(Header, output_tensor) == 16);
static_assert(offsetof(Header, tensor_table_offset) == 20);
static_assert(offsetof(Header, data_offset) == 28);
static_assert(offsetof(Header, arena_bytes) == 36);
static_assert(offsetof(Header, reserved1) == 40);

struct TensorRecord {
  std::uint8_t element_type;                 // ElementType
  std::uint8_t rank;                         // 1..kMaxRank
  std::uint8_t flags;                        // kTensorFlagConstant; other bits zero
  std::uint8_t reserved0;                    // zero
  std::array<std::uint16_t, kMaxRank> dims;  // dims[rank..] zero
  std::uint32_t data_offset;                 // constants: from the start of the data region
  std::uint32_t data_size;                   // constants: element count x element size
  std::int32_t zero_point;
  float scale;                          // per-tensor scale; 0 when per-channel or float32
  std::uint32_t channel_scales_offset;  // from the start of the data region; 0 when unused
  std::uint16_t channel_count;          // 0: per-tensor; else dims[0] float32 scales
  std::uint16_t reserved1;              // zero
};
static_assert(sizeof(TensorRecord) == 36);
static_assert(offsetof(TensorRecord, dims) == 4);
static_assert(offsetof(TensorRecord, data_offset) == 12);
static_assert(offsetof(TensorRecord, zero_point) == 20);
static_assert(offsetof(TensorRecord, scale) == 24);
static_assert(offsetof(TensorRecord, channel_scales_offset) == 28);
static_assert(offsetof(TensorRecord, channel_count) == 32);

inline constexpr std::uint8_t kTensorFlagConstant = 0x01;

struct OpRecord {
  std::uint8_t opcode;  // OpCode
  std::uint8_t input_count;
  std::uint8_t output_count;
  std::uint8_t reserved0;                           // zero
  std::array<std::uint8_t, kMaxOpInputs> inputs;    // slots past input_count zero
  std::array<std::uint8_t, kMaxOpOutputs> outputs;  // slots past output_count zero
  std::uint16_t reserved1;                          // zero
  std::array<std::int32_t, kOpParamCount> params;
  std::uint32_t reserved2;  // zero
};
static_assert(sizeof(OpRecord) == 24);
static_assert(offsetof(OpRecord, inputs) == 4);
static_assert(offsetof(OpRecord, outputs) == 8);
static_assert(offsetof(OpRecord, params) == 12);
static_assert(offsetof(OpRecord, reserved2) == 20);

}  // namespace wire

inline constexpr std::size_t kHeaderSize = sizeof(wire::Header);
inline constexpr std::size_t kTensorRecordSize = sizeof(wire::TensorRecord);
inline constexpr std::size_t kOpRecordSize = sizeof(wire::OpRecord);

// ---- Decoded forms ----

struct Header {
  std::uint16_t format_version = 0;
  std::uint16_t header_size = 0;
  std::uint32_t total_size = 0;
  ModelKind model_kind{};
  std::uint8_t tensor_count = 0;
  std::uint8_t op_count = 0;
  std::uint8_t input_tensor = 0;
  std::uint8_t output_tensor = 0;
  std::uint32_t tensor_table_offset = 0;
  std::uint32_t op_table_offset = 0;
  std::uint32_t data_offset = 0;
  std::uint32_t data_size = 0;
  std::uint32_t arena_bytes = 0;
};

// One tensor of a parsed container. Spans point into the caller's container bytes.
struct Tensor {
  ElementType type{};
  std::uint8_t rank = 0;
  std::array<std::uint16_t, kMaxRank> dims{};
  bool constant = false;
  std::int32_t zero_point = 0;
  float scale = 0.0f;
  std::uint16_t channel_count = 0;  // 0: quantized per tensor
  // Constants: element_count() elements, little-endian. Activations: empty.
  std::span<const std::uint8_t> data;
  // Per-channel (axis 0): channel_count little-endian float32 values. Otherwise empty.
  std::span<const std::uint8_t> channel_scales;

  std::uint32_t element_count() const;
  std::uint32_t byte_size() const {
    return element_count() * static_cast<std::uint32_t>(element_size(type));
  }
  bool per_channel() const { return channel_count != 0; }
  // The scale of output channel `channel`: the per-tensor scale when the tensor is not
  // quantized per channel. A channel past channel_count yields 0 (a caller bug, never a
  // read outside the container).
  float channel_scale(std::size_t channel) const;
};

// One operation. The same struct is decoded by the parser and given to the builder.
struct Op {
  OpCode code{};
  std::uint8_t input_count = 0;
  std::uint8_t output_count = 0;
  std::array<std::uint8_t, kMaxOpInputs> inputs{};
  std::array<std::uint8_t, kMaxOpOutputs> outputs{};
  std::array<std::int32_t, kOpParamCount> params{};

  friend bool operator==(const Op&, const Op&) = default;
};

// Op constructors with the operand order the parser checks.
constexpr Op fully_connected(std::uint8_t input, std::uint8_t weights, std::uint8_t bias,
                             std::uint8_t output, std::int32_t clamp_min = -128,
                             std::int32_t clamp_max = 127) {
  return Op{.code = OpCode::kFullyConnected,
            .input_count = 3,
            .output_count = 1,
            .inputs = {input, weights, bias, 0},
            .outputs = {output, 0},
            .params = {clamp_min, clamp_max}};
}
constexpr Op relu(std::uint8_t input, std::uint8_t output) {
  return Op{.code = OpCode::kRelu,
            .input_count = 1,
            .output_count = 1,
            .inputs = {input, 0, 0, 0},
            .outputs = {output, 0},
            .params = {0, 0}};
}
constexpr Op quantize(std::uint8_t input, std::uint8_t output) {
  return Op{.code = OpCode::kQuantize,
            .input_count = 1,
            .output_count = 1,
            .inputs = {input, 0, 0, 0},
            .outputs = {output, 0},
            .params = {0, 0}};
}
constexpr Op dequantize(std::uint8_t input, std::uint8_t output) {
  return Op{.code = OpCode::kDequantize,
            .input_count = 1,
            .output_count = 1,
            .inputs = {input, 0, 0, 0},
            .outputs = {output, 0},
            .params = {0, 0}};
}
constexpr Op reconstruction_error(
    std::uint8_t original, std::uint8_t reconstruction, std::uint8_t output,
    ReconstructionMetric metric = ReconstructionMetric::kMeanSquaredError) {
  return Op{.code = OpCode::kReconstructionError,
            .input_count = 2,
            .output_count = 1,
            .inputs = {original, reconstruction, 0, 0},
            .outputs = {output, 0},
            .params = {static_cast<std::int32_t>(metric), 0}};
}
constexpr Op nearest_centroid(std::uint8_t input, std::uint8_t centroids, std::uint8_t output,
                              DistanceMetric metric = DistanceMetric::kSquaredEuclidean) {
  return Op{.code = OpCode::kNearestCentroid,
            .input_count = 2,
            .output_count = 1,
            .inputs = {input, centroids, 0, 0},
            .outputs = {output, 0},
            .params = {static_cast<std::int32_t>(metric), 0}};
}

// y[d] = (x[d] - params[0][d]) * params[1][d]: the per-feature centring and scaling a model
// was trained with (params row 0: the training mean, row 1: 1 / the training stddev), so
// the container scores raw features and quantizes values of comparable range.
constexpr Op standardize(std::uint8_t input, std::uint8_t params, std::uint8_t output) {
  return Op{.code = OpCode::kStandardize,
            .input_count = 2,
            .output_count = 1,
            .inputs = {input, params, 0, 0},
            .outputs = {output, 0},
            .params = {0, 0}};
}

// ---- Parser ----

// A validated container. Cheap to copy; it borrows the bytes given to parse_container,
// which must outlive it. Every record was checked at parse time, so the runtime can
// execute ops in table order without re-checking indices, types or shapes.
class ContainerView {
 public:
  ContainerView() = default;

  const Header& header() const { return header_; }
  // The activation and scratch bytes the runtime must reserve in its arena (as planned by
  // the packager; the parser does not second-guess the plan).
  std::uint32_t arena_bytes() const { return header_.arena_bytes; }
  // Bit (1 << opcode) set for every opcode the graph uses: the "op set" a manifest
  // announces and a board must support.
  std::uint32_t op_set() const;

  // Errors: kInvalidValue when index >= tensor_count / op_count.
  Result<Tensor> tensor(std::size_t index) const;
  Result<Op> op(std::size_t index) const;

  std::span<const std::uint8_t> bytes() const { return bytes_; }

 private:
  friend Result<ContainerView> parse_container(std::span<const std::uint8_t> bytes);

  std::span<const std::uint8_t> bytes_;
  Header header_;
};

// Validates a whole container and returns a view of it. `bytes` must be exactly the
// container (total_size bytes); any alignment is accepted. Errors:
//  kBadMagic            the bytes do not start with "SPMC" (a prefix of it is kTruncated)
//  kTruncated           shorter than the header, or than total_size
//  kTrailingBytes       longer than total_size
//  kUnsupportedVersion  format_version is not kFormatVersion
//  kOversize            tensor_count > kMaxTensors, op_count > kMaxOps, or a tensor of
//                       4 GiB or more
//  kInvalidValue        a field outside its domain: header_size, model kind, zero counts,
//                       indices >= tensor_count, element type, rank, flags, dims, data
//                       size vs dims, quantization parameters, per-channel scale count,
//                       opcode, operand counts, op params, any non-zero reserved field
//  kMalformed           fields valid one by one but not together: regions out of bounds,
//                       misaligned or overlapping; constants or scales outside the data
//                       region; an op whose tensors do not fit its signature; a graph that
//                       reads a tensor before it is written, writes one twice or writes a
//                       constant; an output not produced by the model kind's scoring op
Result<ContainerView> parse_container(std::span<const std::uint8_t> bytes);

// ---- Builder ----

// A tensor to add. Constant iff `data` is non-empty; per-channel iff `channel_scales` is.
struct TensorSpec {
  ElementType type{};
  std::uint8_t rank = 0;
  std::array<std::uint16_t, kMaxRank> dims{};
  std::int32_t zero_point = 0;
  float scale = 0.0f;
  std::span<const std::uint8_t> data;     // element bytes in little-endian order
  std::span<const float> channel_scales;  // one per dims[0]
};

// The header fields that describe the graph as a whole.
struct GraphInfo {
  ModelKind kind{};
  std::uint8_t input_tensor = 0;
  std::uint8_t output_tensor = 0;
  std::uint32_t arena_bytes = 0;
};

// Writes a container into a caller-owned buffer without allocating. The spans inside the
// TensorSpecs are kept, not copied, until finish(). Output is deterministic: header, tensor
// table, op table, then each constant's data followed by its channel scales, in tensor
// order, every item padded with zeros to kAlignment.
class ContainerBuilder {
 public:
  explicit ContainerBuilder(std::span<std::uint8_t> out) : out_(out) {}

  // Returns the new tensor's index. Errors: kOversize when kMaxTensors tensors were added,
  // or the data exceeds 4 GiB or channel_scales 65535 entries.
  Result<std::uint8_t> add_tensor(const TensorSpec& spec);
  // Returns the new op's index. Errors: kOversize when kMaxOps ops were added.
  Result<std::uint8_t> add_op(const Op& op);

  // Lays the container out in the buffer and parses it back, so the builder never emits a
  // container the node would refuse. Returns the bytes written (a prefix of the buffer).
  // Errors: kBufferTooSmall, kOversize (total over 4 GiB), and any parse_container error.
  Result<std::span<const std::uint8_t>> finish(const GraphInfo& graph);

 private:
  std::span<std::uint8_t> out_;
  std::array<TensorSpec, kMaxTensors> tensors_{};
  std::array<Op, kMaxOps> ops_{};
  std::size_t tensor_count_ = 0;
  std::size_t op_count_ = 0;
};

}  // namespace spindle::container
