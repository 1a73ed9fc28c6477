// libFuzzer target for the model container parser (protocol/src/container.cpp).
//
// The first input byte picks a mode, so that one target reaches both the front door and the
// deep rules without depending on a seed corpus:
//  - even: the rest of the input is parsed as a container as is;
//  - odd:  the rest is a list of 3-byte edits (offset u16 little-endian, xor mask) applied
//          to a valid autoencoder container built here. Random bytes rarely get past the
//          header; edits of a valid container exercise every tensor, op and graph rule.
// Whatever parses is walked through every accessor (so a view promising more than its
// buffer holds trips ASan) and re-emitted through the builder: the parser and the builder
// must agree on what a valid container is.
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "spindle/protocol/container.hpp"

namespace {

using namespace spindle::container;

void check(bool condition) {
  if (!condition) std::abort();
}

std::vector<std::uint8_t> le_bytes(std::span<const std::int32_t> values) {
  std::vector<std::uint8_t> out;
  for (const std::int32_t v : values) {
    const auto u = static_cast<std::uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8) {
      out.push_back(static_cast<std::uint8_t>(u >> shift));
    }
  }
  return out;
}

// quantize -> FC (per-channel) -> ReLU -> FC -> reconstruction error.
const std::vector<std::uint8_t>& template_container() {
  static const std::vector<std::uint8_t> bytes = [] {
    static const std::array<std::uint8_t, 12> w1 = {1, 2, 3, 4, 0xFF, 0xFE, 0xFD, 0xFC, 5, 6, 7, 8};
    static const std::array<float, 3> w1_scales = {0.5f, 0.25f, 0.125f};
    static const std::array<std::int32_t, 3> b1_values = {10, -20, 30};
    static const std::vector<std::uint8_t> b1 = le_bytes(b1_values);
    static const std::array<std::uint8_t, 12> w2 = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0x80, 0x7F};
    static const std::array<std::int32_t, 4> b2_values = {-1, 2, -3, 4};
    static const std::vector<std::uint8_t> b2 = le_bytes(b2_values);
    const std::array<TensorSpec, 10> tensors = {{
        {ElementType::kFloat32, 2, {1, 4, 0, 0}, 0, 0.0f, {}, {}},
        {ElementType::kInt8, 2, {1, 4, 0, 0}, -3, 0.1f, {}, {}},
        {ElementType::kInt8, 2, {3, 4, 0, 0}, 0, 0.0f, w1, w1_scales},
        {ElementType::kInt32, 1, {3, 0, 0, 0}, 0, 0.01f, b1, {}},
        {ElementType::kInt8, 2, {1, 3, 0, 0}, 0, 0.2f, {}, {}},
        {ElementType::kInt8, 2, {1, 3, 0, 0}, -128, 0.2f, {}, {}},
        {ElementType::kInt8, 2, {4, 3, 0, 0}, 0, 0.05f, w2, {}},
        {ElementType::kInt32, 1, {4, 0, 0, 0}, 0, 0.01f, b2, {}},
        {ElementType::kInt8, 2, {1, 4, 0, 0}, -3, 0.1f, {}, {}},
        {ElementType::kFloat32, 1, {1, 0, 0, 0}, 0, 0.0f, {}, {}},
    }};
    const std::array<Op, 5> ops = {quantize(0, 1), fully_connected(1, 2, 3, 4), relu(4, 5),
                                   fully_connected(5, 6, 7, 8, -100, 100),
                                   reconstruction_error(1, 8, 9)};
    std::vector<std::uint8_t> out(2048);
    ContainerBuilder builder(out);
    for (const TensorSpec& t : tensors)
      check(builder.add_tensor(t).ok());
    for (const Op& op : ops)
      check(builder.add_op(op).ok());
    const auto built = builder.finish({ModelKind::kAutoencoder, 0, 9, 64});
    check(built.ok());
    out.resize(built->size());
    return out;
  }();
  return bytes;
}

// Rebuilds an accepted container and checks that the copy parses to the same model.
void check_rebuild(const ContainerView& view) {
  const Header& h = view.header();
  std::vector<std::vector<float>> scales(h.tensor_count);
  std::vector<Tensor> originals;
  // Constants may share bytes in the original; the builder gives each its own copy.
  std::size_t needed =
      kHeaderSize + h.tensor_count * kTensorRecordSize + h.op_count * kOpRecordSize;
  for (std::size_t i = 0; i < h.tensor_count; ++i) {
    const Tensor t = *view.tensor(i);
    needed += (t.data.size() + kAlignment - 1) / kAlignment * kAlignment;
    needed += t.channel_scales.size();
    originals.push_back(t);
  }
  std::vector<std::uint8_t> out(needed);
  ContainerBuilder builder(out);
  for (std::size_t i = 0; i < h.tensor_count; ++i) {
    const Tensor& t = originals[i];
    for (std::size_t c = 0; c < t.channel_count; ++c)
      scales[i].push_back(t.channel_scale(c));
    check(builder.add_tensor({t.type, t.rank, t.dims, t.zero_point, t.scale, t.data, scales[i]})
              .ok());
  }
  for (std::size_t i = 0; i < h.op_count; ++i)
    check(builder.add_op(*view.op(i)).ok());
  const auto rebuilt =
      builder.finish({h.model_kind, h.input_tensor, h.output_tensor, h.arena_bytes});
  check(rebuilt.ok() && rebuilt->size() == needed);
  const auto again = parse_container(*rebuilt);
  check(again.ok());
  for (std::size_t i = 0; i < h.tensor_count; ++i) {
    const Tensor a = originals[i];
    const Tensor b = *again->tensor(i);
    check(a.type == b.type && a.rank == b.rank && a.dims == b.dims && a.constant == b.constant &&
          a.zero_point == b.zero_point &&
          std::bit_cast<std::uint32_t>(a.scale) == std::bit_cast<std::uint32_t>(b.scale) &&
          a.channel_count == b.channel_count && a.data.size() == b.data.size());
    for (std::size_t k = 0; k < a.data.size(); ++k)
      check(a.data[k] == b.data[k]);
    for (std::size_t c = 0; c < a.channel_count; ++c) {
      check(std::bit_cast<std::uint32_t>(a.channel_scale(c)) ==
            std::bit_cast<std::uint32_t>(b.channel_scale(c)));
    }
  }
  for (std::size_t i = 0; i < h.op_count; ++i)
    check(*view.op(i) == *again->op(i));
}

void exercise(std::span<const std::uint8_t> bytes) {
  const auto view = parse_container(bytes);
  if (!view.ok()) return;
  check(view->bytes().size() == view->header().total_size);
  for (std::size_t i = 0; i < view->header().tensor_count; ++i) {
    const auto t = view->tensor(i);
    check(t.ok() && t->data.size() == (t->constant ? t->byte_size() : 0));
    check(t->channel_scales.size() == t->channel_count * sizeof(float));
    for (std::size_t c = 0; c < t->channel_count; ++c)
      check(t->channel_scale(c) > 0.0f);
  }
  for (std::size_t i = 0; i < view->header().op_count; ++i)
    check(view->op(i).ok());
  check(!view->tensor(view->header().tensor_count).ok());
  check(!view->op(view->header().op_count).ok());
  check_rebuild(*view);  // reads every constant byte
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> rest(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    exercise(rest);
    return 0;
  }
  std::vector<std::uint8_t> edited = template_container();
  for (std::size_t i = 0; i + 3 <= rest.size(); i += 3) {
    const std::size_t offset = (rest[i] | (std::size_t{rest[i + 1]} << 8)) % edited.size();
    edited[offset] ^= rest[i + 2];
  }
  exercise(edited);
  return 0;
}
