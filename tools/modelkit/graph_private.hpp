// Private to spindle::modelkit: the container graph the packers (autoencoder, centroids)
// assemble, and the steps they share: the standardized input, writing the container with
// its measured arena size, and a trial load in the node's runtime.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "spindle/modelkit/autoencoder.hpp"
#include "spindle/protocol/container.hpp"
#include "spindle/status.hpp"

namespace spindle::modelkit::detail {

struct QuantParams {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
};

bool finite(std::span<const float> values);

void put_int32(std::int32_t value, std::span<std::uint8_t> out);

inline std::uint16_t dim(std::size_t width) {
  return static_cast<std::uint16_t>(width);  // callers bound widths by kMaxWidth
}

// The graph's tensors and ops, with the storage their spans point into. Built once, then
// written twice: arena_bytes can only be computed from a container, and goes into its header.
// Callers reserve `bytes` and `scales` for everything they add, so spans stay valid.
struct Graph {
  std::vector<container::TensorSpec> tensors;
  std::vector<container::Op> ops;
  std::vector<std::vector<std::uint8_t>> bytes;
  std::vector<std::vector<float>> scales;
  std::uint8_t input = 0;
  std::uint8_t score = 0;
  std::uint64_t size_bound = container::kHeaderSize;

  std::uint8_t add(const container::TensorSpec& spec);
  void add(const container::Op& op);
  Result<std::vector<std::uint8_t>> write(container::ModelKind kind,
                                          std::uint32_t arena_bytes) const;
};

// The graph input (raw features, float32) and, for a standardized model, the standardize op
// after it. Returns the float tensor the model quantizes. Takes one entry of graph.bytes.
std::uint8_t add_input(Graph& graph, const Standardization& s, std::size_t width);

struct Written {
  std::vector<std::uint8_t> container;
  std::uint32_t arena_bytes = 0;
};

// Writes the container with its arena size in the header, then loads it in an
// inference::Interpreter with exactly that arena: the builder only guarantees a container
// the parser accepts, the load proves the node's runtime accepts it too (prepare refuses,
// e.g., FC layers whose accumulator could overflow). Errors: kOversize, the builder's, the
// planner's and Interpreter::load's.
Result<Written> write_checked(const Graph& graph, container::ModelKind kind);

}  // namespace spindle::modelkit::detail
