#include "spindle/protocol/container.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "test_support.hpp"

namespace spindle::container {
namespace {

using spindle::test::from_hex;
using spindle::test::to_hex;
using Buffer = std::vector<std::uint8_t>;

std::vector<std::uint8_t> as_bytes(std::span<const std::int8_t> values) {
  std::vector<std::uint8_t> out;
  for (const std::int8_t v : values)
    out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// Little-endian, whatever the host's byte order, because that is the wire order.
std::vector<std::uint8_t> le_bytes(std::span<const std::int32_t> values) {
  std::vector<std::uint8_t> out;
  for (const std::int32_t v : values) {
    const auto u = static_cast<std::uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8)
      out.push_back(static_cast<std::uint8_t>(u >> shift));
  }
  return out;
}

std::vector<std::uint8_t> le_bytes(std::span<const float> values) {
  std::vector<std::int32_t> bits;
  for (const float v : values)
    bits.push_back(std::bit_cast<std::int32_t>(v));
  return le_bytes(bits);
}

void put_u8(Buffer& b, std::size_t at, std::uint8_t v) {
  b.at(at) = v;
}
void put_u16(Buffer& b, std::size_t at, std::uint16_t v) {
  b.at(at) = static_cast<std::uint8_t>(v);
  b.at(at + 1) = static_cast<std::uint8_t>(v >> 8);
}
void put_u32(Buffer& b, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i)
    b.at(at + i) = static_cast<std::uint8_t>(v >> (8 * i));
}
void put_i32(Buffer& b, std::size_t at, std::int32_t v) {
  put_u32(b, at, static_cast<std::uint32_t>(v));
}
void put_f32(Buffer& b, std::size_t at, float v) {
  put_u32(b, at, std::bit_cast<std::uint32_t>(v));
}

Error parse_error(const Buffer& bytes) {
  return parse_container(bytes).status().error();
}

// Offsets of records and fields, taken from the parsed original so that each test patches
// exactly the byte it names.
struct Layout {
  explicit Layout(const Buffer& bytes) : header(parse_container(bytes)->header()) {}
  std::size_t tensor(std::size_t index, std::size_t field) const {
    return header.tensor_table_offset + index * kTensorRecordSize + field;
  }
  std::size_t op(std::size_t index, std::size_t field) const {
    return header.op_table_offset + index * kOpRecordSize + field;
  }
  std::size_t data(std::size_t offset) const { return header.data_offset + offset; }
  Header header;
};

using H = wire::Header;
// Zero, one past the last enumerator, and the top of the byte.
using OutOfDomain = std::array<std::uint8_t, 3>;
using T = wire::TensorRecord;
using O = wire::OpRecord;

// ---- Models ----

Buffer build(std::span<const TensorSpec> tensors, std::span<const Op> ops, const GraphInfo& graph) {
  Buffer out(4096);
  ContainerBuilder builder(out);
  for (const TensorSpec& t : tensors)
    EXPECT_TRUE(builder.add_tensor(t).ok());
  for (const Op& op : ops)
    EXPECT_TRUE(builder.add_op(op).ok());
  const auto bytes = builder.finish(graph);
  EXPECT_TRUE(bytes.ok()) << bytes.status().name();
  return bytes.ok() ? Buffer(bytes->begin(), bytes->end()) : Buffer{};
}

// Tensor indices of the autoencoder: quantize -> FC -> ReLU -> FC -> reconstruction error.
enum AeTensor : std::uint8_t { kX, kXq, kW1, kB1, kH, kHr, kW2, kB2, kY, kScore, kAeTensors };
enum AeOp : std::uint8_t { kOpQuantize, kOpFc1, kOpRelu, kOpFc2, kOpScore };

struct Autoencoder {
  std::array<std::int8_t, 32> w1{};
  std::array<float, 4> w1_scales = {0.01f, 0.02f, 0.03f, 0.04f};
  std::array<std::int32_t, 4> b1 = {100, -200, 300, -400};
  std::array<std::int8_t, 32> w2{};
  std::array<std::int32_t, 8> b2 = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<std::uint8_t> w1_bytes, b1_bytes, w2_bytes, b2_bytes;
  std::array<TensorSpec, kAeTensors> tensors;
  std::array<Op, 5> ops;
  GraphInfo graph{ModelKind::kAutoencoder, kX, kScore, 96};

  Autoencoder() {
    for (std::size_t i = 0; i < w1.size(); ++i) {
      w1[i] = static_cast<std::int8_t>(static_cast<int>(i * 7 % 255) - 127);
      w2[i] = static_cast<std::int8_t>(static_cast<int>(i * 13 % 255) - 127);
    }
    w1_bytes = as_bytes(w1);
    b1_bytes = le_bytes(b1);
    w2_bytes = as_bytes(w2);
    b2_bytes = le_bytes(b2);
    tensors[kX] = {ElementType::kFloat32, 2, {1, 8, 0, 0}, 0, 0.0f, {}, {}};
    tensors[kXq] = {ElementType::kInt8, 2, {1, 8, 0, 0}, -5, 0.05f, {}, {}};
    tensors[kW1] = {ElementType::kInt8, 2, {4, 8, 0, 0}, 0, 0.0f, w1_bytes, w1_scales};
    tensors[kB1] = {ElementType::kInt32, 1, {4, 0, 0, 0}, 0, 0.0005f, b1_bytes, {}};
    tensors[kH] = {ElementType::kInt8, 2, {1, 4, 0, 0}, 3, 0.1f, {}, {}};
    tensors[kHr] = {ElementType::kInt8, 2, {1, 4, 0, 0}, -128, 0.1f, {}, {}};
    tensors[kW2] = {ElementType::kInt8, 2, {8, 4, 0, 0}, 0, 0.02f, w2_bytes, {}};
    tensors[kB2] = {ElementType::kInt32, 1, {8, 0, 0, 0}, 0, 0.002f, b2_bytes, {}};
    tensors[kY] = {ElementType::kInt8, 2, {1, 8, 0, 0}, -5, 0.05f, {}, {}};
    tensors[kScore] = {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}};
    ops = {quantize(kX, kXq), fully_connected(kXq, kW1, kB1, kH), relu(kH, kHr),
           fully_connected(kHr, kW2, kB2, kY, -100, 100),
           reconstruction_error(kXq, kY, kScore, ReconstructionMetric::kMeanAbsoluteError)};
  }

  Buffer build() const { return container::build(tensors, ops, graph); }
};

struct Centroid {
  std::array<float, 12> centroid_values = {0, 0, 0, 1, 1, 1, -1, 2, 0.5f, 3, -3, 0};
  std::vector<std::uint8_t> centroid_bytes = le_bytes(centroid_values);
  std::array<TensorSpec, 3> tensors = {{
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kFloat32, 2, {4, 3, 0, 0}, 0, 0.0f, centroid_bytes, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  std::array<Op, 1> ops = {nearest_centroid(0, 1, 2, DistanceMetric::kEuclidean)};
  GraphInfo graph{ModelKind::kCentroid, 0, 2, 16};

  Buffer build() const { return container::build(tensors, ops, graph); }
};

// raw features -> standardize (means, inverse stddevs) -> nearest of the float centroids.
struct Standardized {
  std::array<float, 6> param_values = {500, -60, 3, 0.01f, 0.5f, 2};
  std::vector<std::uint8_t> param_bytes = le_bytes(param_values);
  std::array<float, 6> centroid_values = {0, 0, 0, 1, 1, 1};
  std::vector<std::uint8_t> centroid_bytes = le_bytes(centroid_values);
  std::array<TensorSpec, 5> tensors = {{
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kFloat32, 2, {2, 3, 0, 0}, 0, 0.0f, param_bytes, {}},
      {ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kFloat32, 2, {2, 3, 0, 0}, 0, 0.0f, centroid_bytes, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  std::array<Op, 2> ops = {standardize(0, 1, 2), nearest_centroid(2, 3, 4)};
  GraphInfo graph{ModelKind::kCentroid, 0, 4, 64};

  Buffer build() const { return container::build(tensors, ops, graph); }
};

// Every accessor of a view, so that a bad view shows up under the sanitizers.
std::size_t touch_everything(const ContainerView& view) {
  std::size_t sum = view.arena_bytes() + view.op_set();
  for (std::size_t i = 0; i < view.header().tensor_count; ++i) {
    const Tensor t = *view.tensor(i);
    sum += t.element_count() + t.byte_size();
    for (const std::uint8_t b : t.data)
      sum += b;
    for (std::size_t c = 0; c < t.channel_count; ++c) {
      sum += static_cast<std::size_t>(t.channel_scale(c) > 0.0f);
    }
  }
  for (std::size_t i = 0; i < view.header().op_count; ++i)
    sum += view.op(i)->input_count;
  return sum;
}

// ---- Round trips ----

TEST(Container, AutoencoderRoundTripsThroughBuilderAndParser) {
  const Autoencoder model;
  const Buffer bytes = model.build();
  const auto view = parse_container(bytes);
  ASSERT_TRUE(view.ok()) << view.status().name();

  const Header& h = view->header();
  EXPECT_EQ(h.format_version, kFormatVersion);
  EXPECT_EQ(h.header_size, kHeaderSize);
  EXPECT_EQ(h.total_size, bytes.size());
  EXPECT_EQ(h.model_kind, ModelKind::kAutoencoder);
  EXPECT_EQ(h.tensor_count, kAeTensors);
  EXPECT_EQ(h.op_count, 5);
  EXPECT_EQ(h.input_tensor, kX);
  EXPECT_EQ(h.output_tensor, kScore);
  EXPECT_EQ(view->arena_bytes(), 96u);

  for (std::size_t i = 0; i < kAeTensors; ++i) {
    SCOPED_TRACE(i);
    const TensorSpec& spec = model.tensors[i];
    const auto t = view->tensor(i);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->type, spec.type);
    EXPECT_EQ(t->rank, spec.rank);
    EXPECT_EQ(t->dims, spec.dims);
    EXPECT_EQ(t->constant, !spec.data.empty());
    EXPECT_EQ(t->zero_point, spec.zero_point);
    EXPECT_EQ(t->scale, spec.scale);
    EXPECT_EQ(Buffer(t->data.begin(), t->data.end()), Buffer(spec.data.begin(), spec.data.end()));
    ASSERT_EQ(std::size_t{t->channel_count}, spec.channel_scales.size());
    for (std::size_t c = 0; c < spec.channel_scales.size(); ++c) {
      EXPECT_EQ(t->channel_scale(c), spec.channel_scales[c]);
    }
  }
  EXPECT_EQ(view->tensor(kW2)->channel_scale(3), 0.02f);  // per-tensor answers for any channel
  EXPECT_EQ(view->tensor(kW1)->channel_scale(4), 0.0f);   // past the last channel
  EXPECT_EQ(view->tensor(kW1)->byte_size(), 32u);
  EXPECT_EQ(view->tensor(kB2)->byte_size(), 32u);

  for (std::size_t i = 0; i < model.ops.size(); ++i) {
    const auto op = view->op(i);
    ASSERT_TRUE(op.ok());
    EXPECT_EQ(*op, model.ops[i]) << i;
  }
  EXPECT_EQ(view->op_set(), (1u << 1) | (1u << 2) | (1u << 3) | (1u << 5));
}

TEST(Container, CentroidRoundTripsThroughBuilderAndParser) {
  const Centroid model;
  const Buffer bytes = model.build();
  const auto view = parse_container(bytes);
  ASSERT_TRUE(view.ok()) << view.status().name();
  EXPECT_EQ(view->header().model_kind, ModelKind::kCentroid);
  const Tensor centroids = *view->tensor(1);
  EXPECT_TRUE(centroids.constant);
  EXPECT_EQ(Buffer(centroids.data.begin(), centroids.data.end()), model.centroid_bytes);
  EXPECT_EQ(*view->op(0), nearest_centroid(0, 1, 2, DistanceMetric::kEuclidean));
  EXPECT_EQ(view->op_set(), 1u << 6);
}

TEST(Container, AccessorsRefuseIndicesPastTheTables) {
  const Buffer bytes = Centroid{}.build();
  const auto view = parse_container(bytes);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->tensor(3).status(), Error::kInvalidValue);
  EXPECT_EQ(view->op(1).status(), Error::kInvalidValue);
  EXPECT_EQ(ContainerView{}.tensor(0).status(), Error::kInvalidValue);
}

TEST(Container, ElementSizesAreTheWireWidths) {
  static_assert(element_size(ElementType::kInt8) == 1);
  static_assert(element_size(ElementType::kInt32) == 4);
  static_assert(element_size(ElementType::kFloat32) == 4);
  static_assert(element_size(ElementType{0}) == 0);
}

// ---- Golden layout: a hand-written encoding, so any change of field order, width or byte
// order fails here even if builder and parser change together. ----

// A nearest-centroid model: x f32 [2]; centroids i8 [1,2] (zero point -3, per-channel
// scale 0.25, values 5, -10); score f32 [1].
constexpr const char* kGoldenCentroid =
    // header: magic, version 1, header size 48, total 188
    "53504d43 0100 3000 bc000000"
    // kind 2 (centroid), 3 tensors, 1 op, input 0, output 2, reserved
    "02 03 01 00 02 000000"
    // tensor table 48, op table 156, data 180 (8 bytes), arena 16, reserved
    "30000000 9c000000 b4000000 08000000 10000000 00000000 00000000"
    // tensor 0: f32 rank 1 activation, dims [2]
    "03 01 00 00 0200 0000 0000 0000 00000000 00000000 00000000 00000000 00000000 0000 0000"
    // tensor 1: i8 rank 2 constant, dims [1,2], data at 0 (2 bytes), zero point -3,
    // per-tensor scale 0, scales at 4, 1 channel
    "01 02 01 00 0100 0200 0000 0000 00000000 02000000 fdffffff 00000000 04000000 0100 0000"
    // tensor 2: f32 rank 1 activation, dims [1]
    "03 01 00 00 0100 0000 0000 0000 00000000 00000000 00000000 00000000 00000000 0000 0000"
    // op 0: nearest centroid, 2 in, 1 out, inputs (0, 1), output 2, squared euclidean
    "06 02 01 00 00010000 0200 0000 00000000 00000000 00000000"
    // data: centroids 5, -10, padding, channel scale 0.25f
    "05f60000 0000803e";

TEST(Container, BuilderEmitsTheGoldenLayout) {
  const std::array<std::int8_t, 2> centroids = {5, -10};
  const Buffer centroid_bytes = as_bytes(centroids);
  const std::array<float, 1> scales = {0.25f};
  Buffer out(512);
  ContainerBuilder builder(out);
  ASSERT_TRUE(builder.add_tensor({ElementType::kFloat32, 1, {2, 0, 0, 0}, 0, 0.0f, {}, {}}).ok());
  ASSERT_TRUE(
      builder.add_tensor({ElementType::kInt8, 2, {1, 2, 0, 0}, -3, 0.0f, centroid_bytes, scales})
          .ok());
  ASSERT_TRUE(builder.add_tensor({ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}}).ok());
  ASSERT_TRUE(builder.add_op(nearest_centroid(0, 1, 2)).ok());
  const auto bytes = builder.finish({ModelKind::kCentroid, 0, 2, 16});
  ASSERT_TRUE(bytes.ok()) << bytes.status().name();
  EXPECT_EQ(to_hex(*bytes), to_hex(from_hex(kGoldenCentroid)));
}

TEST(Container, ParserReadsTheGoldenLayout) {
  const Buffer bytes = from_hex(kGoldenCentroid);
  ASSERT_EQ(bytes.size(), 188u);
  const auto view = parse_container(bytes);
  ASSERT_TRUE(view.ok()) << view.status().name();
  EXPECT_EQ(view->header().data_offset, 180u);
  EXPECT_EQ(view->arena_bytes(), 16u);
  const Tensor centroids = *view->tensor(1);
  EXPECT_EQ(centroids.type, ElementType::kInt8);
  EXPECT_EQ(centroids.zero_point, -3);
  EXPECT_EQ(centroids.channel_scale(0), 0.25f);
  EXPECT_EQ(to_hex(centroids.data), "05f6");
}

// ---- Builder ----

TEST(ContainerBuilder, OutputIsDeterministic) {
  const Autoencoder model;
  EXPECT_EQ(model.build(), model.build());
}

TEST(ContainerBuilder, ReportsBufferTooSmallForEveryShortBuffer) {
  const Autoencoder model;
  const std::size_t needed = model.build().size();
  for (std::size_t size = 0; size < needed; ++size) {
    Buffer out(size);
    ContainerBuilder builder(out);
    for (const TensorSpec& t : model.tensors)
      ASSERT_TRUE(builder.add_tensor(t).ok());
    for (const Op& op : model.ops)
      ASSERT_TRUE(builder.add_op(op).ok());
    EXPECT_EQ(builder.finish(model.graph).status(), Error::kBufferTooSmall) << size;
  }
}

TEST(ContainerBuilder, RefusesTensorsAndOpsPastCapacity) {
  Buffer out(64);
  ContainerBuilder builder(out);
  const TensorSpec t{ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}};
  for (std::size_t i = 0; i < kMaxTensors; ++i)
    ASSERT_EQ(std::size_t{*builder.add_tensor(t)}, i);
  EXPECT_EQ(builder.add_tensor(t).status(), Error::kOversize);
  for (std::size_t i = 0; i < kMaxOps; ++i)
    ASSERT_EQ(std::size_t{*builder.add_op(relu(0, 1))}, i);
  EXPECT_EQ(builder.add_op(relu(0, 1)).status(), Error::kOversize);
}

TEST(ContainerBuilder, RefusesToEmitAGraphTheParserRejects) {
  Autoencoder model;
  model.ops[kOpRelu] = relu(kHr, kH);  // reads its own future output
  Buffer out(4096);
  ContainerBuilder builder(out);
  for (const TensorSpec& t : model.tensors)
    ASSERT_TRUE(builder.add_tensor(t).ok());
  for (const Op& op : model.ops)
    ASSERT_TRUE(builder.add_op(op).ok());
  EXPECT_EQ(builder.finish(model.graph).status(), Error::kMalformed);
}

// ---- Rejections: each patches one field of a valid autoencoder container ----

class ContainerRejects : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(parse_error(bytes_), Error::kOk); }
  Buffer bytes_ = Autoencoder{}.build();
  Layout at_{bytes_};
};

TEST_F(ContainerRejects, ForeignMagicAsBadMagic) {
  put_u8(bytes_, 0, 'X');
  EXPECT_EQ(parse_error(bytes_), Error::kBadMagic);
  EXPECT_EQ(parse_error(Buffer{'S', 'P', 'X'}), Error::kBadMagic);
}

TEST_F(ContainerRejects, OtherFormatVersionsAsUnsupported) {
  put_u16(bytes_, offsetof(H, format_version), 2);
  EXPECT_EQ(parse_error(bytes_), Error::kUnsupportedVersion);
  put_u16(bytes_, offsetof(H, format_version), 0);
  EXPECT_EQ(parse_error(bytes_), Error::kUnsupportedVersion);
}

TEST_F(ContainerRejects, OtherHeaderSizeAsInvalidValue) {
  put_u16(bytes_, offsetof(H, header_size), 64);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, InputShorterThanTotalSizeAsTruncated) {
  put_u32(bytes_, offsetof(H, total_size), static_cast<std::uint32_t>(bytes_.size() + 4));
  EXPECT_EQ(parse_error(bytes_), Error::kTruncated);
}

TEST_F(ContainerRejects, InputLongerThanTotalSizeAsTrailingBytes) {
  bytes_.push_back(0);
  EXPECT_EQ(parse_error(bytes_), Error::kTrailingBytes);
}

TEST_F(ContainerRejects, TotalSizeSmallerThanHeaderAsMalformed) {
  put_u32(bytes_, offsetof(H, total_size), static_cast<std::uint32_t>(kHeaderSize - 1));
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, EveryNonZeroReservedHeaderByteAsInvalidValue) {
  std::vector<std::size_t> reserved;
  for (std::size_t i = 0; i < 3; ++i)
    reserved.push_back(offsetof(H, reserved0) + i);
  for (std::size_t i = 0; i < 8; ++i)
    reserved.push_back(offsetof(H, reserved1) + i);
  for (const std::size_t offset : reserved) {
    Buffer patched = bytes_;
    put_u8(patched, offset, 0x01);
    EXPECT_EQ(parse_error(patched), Error::kInvalidValue) << offset;
  }
}

TEST_F(ContainerRejects, UnknownModelKindAsInvalidValue) {
  for (const std::uint8_t kind : OutOfDomain{0, 3, 255}) {
    put_u8(bytes_, offsetof(H, model_kind), kind);
    EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue) << int{kind};
  }
}

TEST_F(ContainerRejects, CountsAboveCapacityAsOversize) {
  Buffer tensors = bytes_;
  put_u8(tensors, offsetof(H, tensor_count), static_cast<std::uint8_t>(kMaxTensors + 1));
  EXPECT_EQ(parse_error(tensors), Error::kOversize);
  put_u8(bytes_, offsetof(H, op_count), static_cast<std::uint8_t>(kMaxOps + 1));
  EXPECT_EQ(parse_error(bytes_), Error::kOversize);
}

TEST_F(ContainerRejects, EmptyTablesAsInvalidValue) {
  Buffer tensors = bytes_;
  put_u8(tensors, offsetof(H, tensor_count), 0);
  EXPECT_EQ(parse_error(tensors), Error::kInvalidValue);
  put_u8(bytes_, offsetof(H, op_count), 0);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, HeaderTensorIndicesOutOfRangeAsInvalidValue) {
  Buffer input = bytes_;
  put_u8(input, offsetof(H, input_tensor), kAeTensors);
  EXPECT_EQ(parse_error(input), Error::kInvalidValue);
  put_u8(bytes_, offsetof(H, output_tensor), kAeTensors);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, MisalignedRegionsAsMalformed) {
  Buffer tensors = bytes_;
  put_u32(tensors, offsetof(H, tensor_table_offset), at_.header.tensor_table_offset + 2);
  EXPECT_EQ(parse_error(tensors), Error::kMalformed);
  Buffer ops = bytes_;
  put_u32(ops, offsetof(H, op_table_offset), at_.header.op_table_offset + 2);
  EXPECT_EQ(parse_error(ops), Error::kMalformed);
  put_u32(bytes_, offsetof(H, data_offset), at_.header.data_offset + 2);
  put_u32(bytes_, offsetof(H, data_size), at_.header.data_size - 4);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, RegionsOverlappingTheHeaderOrEachOtherAsMalformed) {
  Buffer over_header = bytes_;
  put_u32(over_header, offsetof(H, tensor_table_offset), 0);
  EXPECT_EQ(parse_error(over_header), Error::kMalformed);
  Buffer tables = bytes_;
  put_u32(tables, offsetof(H, op_table_offset), at_.header.tensor_table_offset + 36);
  EXPECT_EQ(parse_error(tables), Error::kMalformed);
  put_u32(bytes_, offsetof(H, data_offset), at_.header.op_table_offset);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, RegionsPastTheEndAsMalformed) {
  Buffer data_size = bytes_;
  put_u32(data_size, offsetof(H, data_size), at_.header.data_size + 4);
  EXPECT_EQ(parse_error(data_size), Error::kMalformed);
  Buffer tables = bytes_;
  put_u32(tables, offsetof(H, op_table_offset), at_.header.total_size);
  EXPECT_EQ(parse_error(tables), Error::kMalformed);
}

TEST_F(ContainerRejects, RegionArithmeticThatWouldWrapAsMalformed) {
  Buffer size = bytes_;
  put_u32(size, offsetof(H, data_size), 0xFFFFFFFC);
  EXPECT_EQ(parse_error(size), Error::kMalformed);
  put_u32(bytes_, offsetof(H, data_offset), 0xFFFFFFFC);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

// -- tensor records --

TEST_F(ContainerRejects, UnknownElementTypeAsInvalidValue) {
  for (const std::uint8_t type : OutOfDomain{0, 4, 255}) {
    put_u8(bytes_, at_.tensor(kX, offsetof(T, element_type)), type);
    EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue) << int{type};
  }
}

TEST_F(ContainerRejects, RankZeroOrAboveFourAsInvalidValue) {
  for (const std::uint8_t rank : std::array<std::uint8_t, 2>{0, 5}) {
    put_u8(bytes_, at_.tensor(kH, offsetof(T, rank)), rank);
    if (rank == 0) {  // with no dims either, so the rank itself is what is refused
      for (std::size_t d = 0; d < kMaxRank; ++d)
        put_u16(bytes_, at_.tensor(kH, offsetof(T, dims) + 2 * d), 0);
    }
    EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue) << int{rank};
  }
}

TEST_F(ContainerRejects, UnknownTensorFlagAsInvalidValue) {
  put_u8(bytes_, at_.tensor(kH, offsetof(T, flags)), 0x02);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, NonZeroReservedTensorFieldsAsInvalidValue) {
  Buffer first = bytes_;
  put_u8(first, at_.tensor(kH, offsetof(T, reserved0)), 1);
  EXPECT_EQ(parse_error(first), Error::kInvalidValue);
  put_u16(bytes_, at_.tensor(kH, offsetof(T, reserved1)), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, ZeroDimWithinRankOrDimPastRankAsInvalidValue) {
  Buffer zero = bytes_;
  put_u16(zero, at_.tensor(kH, offsetof(T, dims) + 2), 0);
  EXPECT_EQ(parse_error(zero), Error::kInvalidValue);
  put_u16(bytes_, at_.tensor(kH, offsetof(T, dims) + 4), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, TensorOverFourGibibytesAsOversize) {
  put_u8(bytes_, at_.tensor(kX, offsetof(T, rank)), 3);
  for (std::size_t d = 0; d < 3; ++d)
    put_u16(bytes_, at_.tensor(kX, offsetof(T, dims) + 2 * d), 0xFFFF);
  EXPECT_EQ(parse_error(bytes_), Error::kOversize);
}

TEST_F(ContainerRejects, ConstantDataSizeOtherThanDimsTimesElementSizeAsInvalidValue) {
  put_u32(bytes_, at_.tensor(kB1, offsetof(T, data_size)), 12);  // 4 x int32 is 16
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, ActivationWithDataAsInvalidValue) {
  put_u32(bytes_, at_.tensor(kH, offsetof(T, data_size)), 4);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, ConstantOutsideTheDataRegionAsMalformed) {
  Buffer past_end = bytes_;
  put_u32(past_end, at_.tensor(kW2, offsetof(T, data_offset)), at_.header.data_size - 28);
  EXPECT_EQ(parse_error(past_end), Error::kMalformed);
  Buffer wrapping = bytes_;
  put_u32(wrapping, at_.tensor(kW2, offsetof(T, data_offset)), 0xFFFFFFFC);
  EXPECT_EQ(parse_error(wrapping), Error::kMalformed);
}

TEST_F(ContainerRejects, MisalignedConstantAsMalformed) {
  put_u32(bytes_, at_.tensor(kW2, offsetof(T, data_offset)), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, PerChannelScaleCountOtherThanDimZeroAsInvalidValue) {
  Buffer fewer = bytes_;  // scales for only 2 of the 4 output channels
  put_u16(fewer, at_.tensor(kW1, offsetof(T, channel_count)), 2);
  EXPECT_EQ(parse_error(fewer), Error::kInvalidValue);
  put_u16(bytes_, at_.tensor(kW1, offsetof(T, channel_count)), 8);  // dims[1], the wrong axis
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, PerChannelScalesOutsideTheDataRegionAsMalformed) {
  put_u32(bytes_, at_.tensor(kW1, offsetof(T, channel_scales_offset)), at_.header.data_size - 8);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, PerChannelActivationAsInvalidValue) {
  put_u16(bytes_, at_.tensor(kH, offsetof(T, channel_count)), 1);  // dims[0] is 1
  put_f32(bytes_, at_.tensor(kH, offsetof(T, scale)), 0.0f);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, ScalesThatAreNotFinitePositiveAsInvalidValue) {
  const std::uint32_t w1_scales = Layout(bytes_).header.data_offset + 32;  // after 32 weights
  ASSERT_EQ(parse_container(bytes_)->tensor(kW1)->channel_scales.data(), bytes_.data() + w1_scales);
  for (const float bad : {0.0f, -0.5f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity()}) {
    Buffer per_tensor = bytes_;
    put_f32(per_tensor, at_.tensor(kXq, offsetof(T, scale)), bad);
    EXPECT_EQ(parse_error(per_tensor), Error::kInvalidValue) << bad;
    Buffer per_channel = bytes_;
    put_f32(per_channel, w1_scales + 8, bad);
    EXPECT_EQ(parse_error(per_channel), Error::kInvalidValue) << bad;
  }
}

TEST_F(ContainerRejects, ZeroPointsOutsideTheirTypeAsInvalidValue) {
  Buffer int8 = bytes_;
  put_i32(int8, at_.tensor(kXq, offsetof(T, zero_point)), 128);
  EXPECT_EQ(parse_error(int8), Error::kInvalidValue);
  put_i32(bytes_, at_.tensor(kB1, offsetof(T, zero_point)), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, QuantizationParametersOnFloatTensorsAsInvalidValue) {
  put_f32(bytes_, at_.tensor(kX, offsetof(T, scale)), 1.0f);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

// -- op records --

TEST_F(ContainerRejects, UnknownOpcodeAsInvalidValue) {
  for (const std::uint8_t code : OutOfDomain{0, 8, 255}) {
    put_u8(bytes_, at_.op(kOpRelu, offsetof(O, opcode)), code);
    EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue) << int{code};
  }
}

TEST_F(ContainerRejects, OperandCountsOtherThanTheOpcodesAsInvalidValue) {
  Buffer inputs = bytes_;
  put_u8(inputs, at_.op(kOpRelu, offsetof(O, input_count)), 2);
  EXPECT_EQ(parse_error(inputs), Error::kInvalidValue);
  put_u8(bytes_, at_.op(kOpRelu, offsetof(O, output_count)), 2);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, OpTensorIndicesOutOfRangeAsInvalidValue) {
  Buffer input = bytes_;
  put_u8(input, at_.op(kOpFc1, offsetof(O, inputs) + 2), kAeTensors);
  EXPECT_EQ(parse_error(input), Error::kInvalidValue);
  put_u8(bytes_, at_.op(kOpFc1, offsetof(O, outputs)), 200);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, NonZeroUnusedOperandSlotsAsInvalidValue) {
  Buffer input = bytes_;
  put_u8(input, at_.op(kOpRelu, offsetof(O, inputs) + 3), 1);
  EXPECT_EQ(parse_error(input), Error::kInvalidValue);
  put_u8(bytes_, at_.op(kOpRelu, offsetof(O, outputs) + 1), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

TEST_F(ContainerRejects, NonZeroReservedOpFieldsAsInvalidValue) {
  for (const std::size_t field :
       {offsetof(O, reserved0), offsetof(O, reserved1) + 1, offsetof(O, reserved2) + 3}) {
    Buffer patched = bytes_;
    put_u8(patched, at_.op(kOpRelu, field), 1);
    EXPECT_EQ(parse_error(patched), Error::kInvalidValue) << field;
  }
}

TEST_F(ContainerRejects, ParamsOutsideTheOpcodesDomainAsInvalidValue) {
  Buffer clamp_order = bytes_;  // min above max
  put_i32(clamp_order, at_.op(kOpFc1, offsetof(O, params)), 10);
  put_i32(clamp_order, at_.op(kOpFc1, offsetof(O, params) + 4), 5);
  EXPECT_EQ(parse_error(clamp_order), Error::kInvalidValue);
  Buffer clamp_range = bytes_;
  put_i32(clamp_range, at_.op(kOpFc1, offsetof(O, params) + 4), 128);
  EXPECT_EQ(parse_error(clamp_range), Error::kInvalidValue);
  Buffer relu_param = bytes_;
  put_i32(relu_param, at_.op(kOpRelu, offsetof(O, params)), 1);
  EXPECT_EQ(parse_error(relu_param), Error::kInvalidValue);
  put_i32(bytes_, at_.op(kOpScore, offsetof(O, params)), 2);  // no such metric
  EXPECT_EQ(parse_error(bytes_), Error::kInvalidValue);
}

// -- ops against their tensors, and the graph --

TEST_F(ContainerRejects, FullyConnectedWithOperandsSwappedAsMalformed) {
  put_u8(bytes_, at_.op(kOpFc1, offsetof(O, inputs) + 1), kB1);
  put_u8(bytes_, at_.op(kOpFc1, offsetof(O, inputs) + 2), kW1);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, FullyConnectedWithAsymmetricWeightsAsMalformed) {
  put_i32(bytes_, at_.tensor(kW2, offsetof(T, zero_point)), 1);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, OpGivenTheWrongElementTypeAsMalformed) {
  put_u8(bytes_, at_.op(kOpRelu, offsetof(O, inputs)), kX);  // ReLU is int8 -> int8
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, ScoreThatIsNotOneFloatAsMalformed) {
  put_u16(bytes_, at_.tensor(kScore, offsetof(T, dims)), 2);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, OpReadingATensorBeforeItIsWrittenAsMalformed) {
  // Swap the first FC and the ReLU: the ReLU now reads FC1's output before FC1 runs.
  const std::size_t fc = at_.op(kOpFc1, 0);
  const std::size_t rl = at_.op(kOpRelu, 0);
  std::swap_ranges(bytes_.begin() + static_cast<std::ptrdiff_t>(fc),
                   bytes_.begin() + static_cast<std::ptrdiff_t>(fc + kOpRecordSize),
                   bytes_.begin() + static_cast<std::ptrdiff_t>(rl));
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

// A graph in which no tensor is shared between two shape rules, so that each patch below
// breaks exactly one: x f32 [1,8] -> quantize -> xq [1,8] -> FC (w [4,8], b [4]) -> h [1,4]
// -> reconstruction error (h, h); plus an unused int32 [8] constant.
struct ContainerShapeRejects : ::testing::Test {
  enum : std::uint8_t { kSx, kSxq, kSw, kSb, kSh, kSb8, kSscore };
  enum : std::uint8_t { kSopQuantize, kSopFc, kSopScore };
  std::array<std::int8_t, 32> w{};
  Buffer w_bytes = as_bytes(w);
  Buffer b_bytes = Buffer(16);
  Buffer b8_bytes = Buffer(32);
  std::array<TensorSpec, 7> tensors = {{
      {ElementType::kFloat32, 2, {1, 8, 0, 0}, 0, 0.0f, {}, {}},
      {ElementType::kInt8, 2, {1, 8, 0, 0}, 0, 0.1f, {}, {}},
      {ElementType::kInt8, 2, {4, 8, 0, 0}, 0, 0.1f, w_bytes, {}},
      {ElementType::kInt32, 1, {4, 0, 0, 0}, 0, 0.01f, b_bytes, {}},
      {ElementType::kInt8, 2, {1, 4, 0, 0}, 0, 0.1f, {}, {}},
      {ElementType::kInt32, 1, {8, 0, 0, 0}, 0, 0.01f, b8_bytes, {}},
      {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
  }};
  std::array<Op, 3> ops = {quantize(kSx, kSxq), fully_connected(kSxq, kSw, kSb, kSh),
                           reconstruction_error(kSh, kSh, kSscore)};
  Buffer bytes = build(tensors, ops, {ModelKind::kAutoencoder, kSx, kSscore, 64});
  Layout at{bytes};
};

TEST_F(ContainerShapeRejects, FullyConnectedInputWidthOtherThanWeightColumnsAsMalformed) {
  put_u16(bytes, at.tensor(kSx, offsetof(T, dims) + 2), 16);
  put_u16(bytes, at.tensor(kSxq, offsetof(T, dims) + 2), 16);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST_F(ContainerShapeRejects, FullyConnectedBiasLengthOtherThanWeightRowsAsMalformed) {
  put_u8(bytes, at.op(kSopFc, offsetof(O, inputs) + 2), kSb8);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST_F(ContainerShapeRejects, FullyConnectedOutputWidthOtherThanWeightRowsAsMalformed) {
  put_u16(bytes, at.tensor(kSh, offsetof(T, dims) + 2), 5);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST_F(ContainerShapeRejects, FullyConnectedOutputBatchOtherThanInputBatchAsMalformed) {
  put_u16(bytes, at.tensor(kSh, offsetof(T, dims)), 2);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST_F(ContainerShapeRejects, QuantizeChangingShapeAsMalformed) {
  put_u16(bytes, at.tensor(kSx, offsetof(T, dims)), 8);
  put_u16(bytes, at.tensor(kSx, offsetof(T, dims) + 2), 1);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST_F(ContainerShapeRejects, ReconstructionErrorOfUnequalSizesAsMalformed) {
  put_u8(bytes, at.op(kSopScore, offsetof(O, inputs) + 1), kSxq);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST(ContainerCentroidRejects, NearestCentroidOfOtherWidthThanTheCentroidsAsMalformed) {
  Buffer bytes = Centroid{}.build();
  put_u16(bytes, Layout(bytes).tensor(0, offsetof(T, dims)), 4);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

TEST(Container, StandardizeRoundTripsAndAnnouncesItsOpcode) {
  const Buffer bytes = Standardized{}.build();
  const auto view = parse_container(bytes);
  ASSERT_TRUE(view.ok()) << view.status().name();
  EXPECT_EQ(*view->op(0), standardize(0, 1, 2));
  EXPECT_EQ(view->op_set(), (1u << 7) | (1u << 6));
}

TEST(ContainerStandardizeRejects, ParamsOtherThanTwoRowsOfTheInputsWidthAsMalformed) {
  const Buffer original = Standardized{}.build();
  const Layout at(original);
  // The same six floats as one row of six, and as three rows of two.
  for (const auto& [rows, columns] : {std::pair{1, 6}, std::pair{3, 2}}) {
    Buffer bytes = original;
    put_u16(bytes, at.tensor(1, offsetof(T, dims)), static_cast<std::uint16_t>(rows));
    put_u16(bytes, at.tensor(1, offsetof(T, dims) + 2), static_cast<std::uint16_t>(columns));
    EXPECT_EQ(parse_error(bytes), Error::kMalformed) << rows << "x" << columns;
  }
}

TEST(ContainerStandardizeRejects, OperandsSwappedAsMalformed) {
  Buffer bytes = Standardized{}.build();
  const Layout at(bytes);
  put_u8(bytes, at.op(0, offsetof(O, inputs)), 1);
  put_u8(bytes, at.op(0, offsetof(O, inputs) + 1), 0);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

// A centroid graph that scores a constant and never reads its input, so that making the
// constant the graph input breaks nothing but the rule that inputs are writable.
TEST(ContainerCentroidRejects, ConstantGraphInputAsMalformed) {
  Centroid model;
  const std::array<float, 3> probe_values = {1, 2, 3};
  const Buffer probe = le_bytes(probe_values);
  const std::array<TensorSpec, 4> tensors = {
      model.tensors[0], model.tensors[1], model.tensors[2],
      TensorSpec{ElementType::kFloat32, 1, {3, 0, 0, 0}, 0, 0.0f, probe, {}}};
  const std::array<Op, 1> ops = {nearest_centroid(3, 1, 2)};
  Buffer bytes = build(tensors, ops, model.graph);
  ASSERT_EQ(parse_error(bytes), Error::kOk);
  put_u8(bytes, offsetof(H, input_tensor), 3);
  EXPECT_EQ(parse_error(bytes), Error::kMalformed);
}

// The autoencoder plus a spare ReLU (kH -> a spare activation) and a spare int8 [1,4]
// constant, so that redirecting the spare op's output breaks nothing but the graph rule.
TEST(ContainerGraphRejects, OpWritingATensorTwiceOrAConstantAsMalformed) {
  const Autoencoder model;
  const std::array<std::int8_t, 4> constant_values = {1, 2, 3, 4};
  const Buffer constant_bytes = as_bytes(constant_values);
  Buffer out(4096);
  ContainerBuilder builder(out);
  for (const TensorSpec& t : model.tensors)
    ASSERT_TRUE(builder.add_tensor(t).ok());
  const std::uint8_t spare =
      *builder.add_tensor({ElementType::kInt8, 2, {1, 4, 0, 0}, 0, 0.1f, {}, {}});
  const std::uint8_t constant =
      *builder.add_tensor({ElementType::kInt8, 2, {1, 4, 0, 0}, 0, 0.1f, constant_bytes, {}});
  for (const Op& op : model.ops)
    ASSERT_TRUE(builder.add_op(op).ok());
  const std::uint8_t spare_op = *builder.add_op(relu(kH, spare));
  const auto built = builder.finish(model.graph);
  ASSERT_TRUE(built.ok()) << built.status().name();
  const Buffer valid(built->begin(), built->end());
  const Layout at(valid);

  Buffer twice = valid;
  put_u8(twice, at.op(spare_op, offsetof(O, outputs)), kHr);  // already written by the ReLU
  EXPECT_EQ(parse_error(twice), Error::kMalformed);
  Buffer in_place = valid;
  put_u8(in_place, at.op(spare_op, offsetof(O, outputs)), kH);
  EXPECT_EQ(parse_error(in_place), Error::kMalformed);
  Buffer onto_constant = valid;
  put_u8(onto_constant, at.op(spare_op, offsetof(O, outputs)), constant);
  EXPECT_EQ(parse_error(onto_constant), Error::kMalformed);
}

TEST_F(ContainerRejects, GraphInputThatIsAlsoTheOutputAsMalformed) {
  put_u8(bytes_, offsetof(H, output_tensor), kX);
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

TEST_F(ContainerRejects, OutputNotProducedByTheKindsScoringOpAsMalformed) {
  Buffer not_a_score = bytes_;
  put_u8(not_a_score, offsetof(H, output_tensor), kY);
  EXPECT_EQ(parse_error(not_a_score), Error::kMalformed);
  put_u8(bytes_, offsetof(H, model_kind), static_cast<std::uint8_t>(ModelKind::kCentroid));
  EXPECT_EQ(parse_error(bytes_), Error::kMalformed);
}

// ---- Robustness ----

TEST(ContainerRobustness, EveryTruncationIsRejectedAsTruncated) {
  const Buffer bytes = Autoencoder{}.build();
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    const Buffer prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_EQ(parse_error(prefix), Error::kTruncated) << length;
  }
}

TEST(ContainerRobustness, EverySingleBitFlipParsesOrIsRejectedWithoutCrashing) {
  const Buffer bytes = Autoencoder{}.build();
  std::size_t accepted = 0;
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    Buffer flipped = bytes;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const auto view = parse_container(flipped);
    if (view.ok()) {
      ++accepted;
      EXPECT_GT(touch_everything(*view), 0u);
    }
  }
  // Flips inside constant data and quantization values are legitimately accepted (the
  // manifest's digest, not the container, guards content); everything structural is not.
  EXPECT_LT(accepted, bytes.size() * 8 / 2);
}

TEST(ContainerRobustness, EveryByteSetToExtremesParsesOrIsRejectedWithoutCrashing) {
  const Buffer bytes = Autoencoder{}.build();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (const std::uint8_t value : std::array<std::uint8_t, 4>{0x00, 0x7F, 0x80, 0xFF}) {
      Buffer patched = bytes;
      patched[i] = value;
      const auto view = parse_container(patched);
      if (view.ok()) {
        EXPECT_GT(touch_everything(*view), 0u);
      }
    }
  }
}

}  // namespace
}  // namespace spindle::container
