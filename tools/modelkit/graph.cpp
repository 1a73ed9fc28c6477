#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "graph_private.hpp"
#include "spindle/inference/arena.hpp"
#include "spindle/inference/interpreter.hpp"

namespace spindle::modelkit::detail {
namespace {

std::uint32_t align4(std::uint64_t n) {
  return static_cast<std::uint32_t>((n + 3) / 4 * 4);
}

}  // namespace

bool finite(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

void put_int32(std::int32_t value, std::span<std::uint8_t> out) {
  const auto u = static_cast<std::uint32_t>(value);
  for (std::size_t k = 0; k < 4; ++k)
    out[k] = static_cast<std::uint8_t>(u >> (8 * k));
}

std::uint8_t Graph::add(const container::TensorSpec& spec) {
  tensors.push_back(spec);
  size_bound += container::kTensorRecordSize + align4(spec.data.size()) +
                4 * std::uint64_t{spec.channel_scales.size()};
  return static_cast<std::uint8_t>(tensors.size() - 1);
}

void Graph::add(const container::Op& op) {
  ops.push_back(op);
  size_bound += container::kOpRecordSize;
}

Result<std::vector<std::uint8_t>> Graph::write(container::ModelKind kind,
                                               std::uint32_t arena_bytes) const {
  if (size_bound > std::numeric_limits<std::uint32_t>::max()) return Error::kOversize;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(size_bound));
  container::ContainerBuilder builder(out);
  for (const container::TensorSpec& spec : tensors)
    SPINDLE_TRY(builder.add_tensor(spec));
  for (const container::Op& op : ops)
    SPINDLE_TRY(builder.add_op(op));
  SPINDLE_TRY_ASSIGN(const auto written, builder.finish({kind, input, score, arena_bytes}));
  out.resize(written.size());
  return out;
}

std::uint8_t add_input(Graph& graph, const Standardization& s, std::size_t width) {
  using container::ElementType;
  graph.input = graph.add({ElementType::kFloat32, 1, {dim(width), 0, 0, 0}, 0, 0.0f, {}, {}});
  if (s.empty()) return graph.input;
  std::vector<std::uint8_t>& bytes = graph.bytes.emplace_back(2 * width * sizeof(float));
  for (std::size_t i = 0; i < width; ++i) {
    std::memcpy(bytes.data() + i * sizeof(float), &s.mean[i], sizeof(float));
    std::memcpy(bytes.data() + (width + i) * sizeof(float), &s.inv_std[i], sizeof(float));
  }
  const std::uint8_t params =
      graph.add({ElementType::kFloat32, 2, {2, dim(width), 0, 0}, 0, 0.0f, bytes, {}});
  const std::uint8_t out =
      graph.add({ElementType::kFloat32, 1, {dim(width), 0, 0, 0}, 0, 0.0f, {}, {}});
  graph.add(container::standardize(graph.input, params, out));
  return out;
}

Result<Written> write_checked(const Graph& graph, container::ModelKind kind) {
  // arena_bytes is measured on the container itself, so write it once without, then again
  // with it; only the header field changes.
  SPINDLE_TRY_ASSIGN(const std::vector<std::uint8_t> draft, graph.write(kind, 0));
  SPINDLE_TRY_ASSIGN(const std::size_t arena_bytes, inference::required_arena_bytes(draft));
  if (arena_bytes > std::numeric_limits<std::uint32_t>::max()) return Error::kOversize;
  Written written;
  written.arena_bytes = static_cast<std::uint32_t>(arena_bytes);
  SPINDLE_TRY_ASSIGN(written.container, graph.write(kind, written.arena_bytes));

  std::vector<std::uint8_t> arena_storage(arena_bytes + inference::Arena::kAlignment);
  void* start = arena_storage.data();
  std::size_t space = arena_storage.size();
  std::align(inference::Arena::kAlignment, arena_bytes, start, space);
  inference::Interpreter interpreter;
  SPINDLE_TRY(interpreter.load(written.container,
                               std::span(static_cast<std::uint8_t*>(start), arena_bytes)));
  return written;
}

}  // namespace spindle::modelkit::detail
