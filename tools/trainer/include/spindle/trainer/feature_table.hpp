// spindle::trainer — a table of feature windows with what is known about each: the unit
// the trainer learns from and evaluates on. It comes from the gateway (a captured data set
// exported by `spindlectl datasets export --format csv`) or from the node's own simulator
// and feature extractor (simulated_data.hpp), and is read and written as CSV:
//
//   device,label,fault,severity,shaft_hz,seed,window,x_rms,...,z_band7
//
// Columns are found by name, in any order. The feature columns (feature_name(0..44) for
// three axes) are required; every other column is optional and defaults to unknown, so the
// gateway's export (window,device,label,<features>) reads as it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

namespace spindle::trainer {

// What is known about one window. Simulated windows know their ground truth; captured ones
// carry the operator's label (and "none" as fault only when the operator said so).
struct WindowInfo {
  std::string device;
  std::string label;
  std::string fault = "unknown";  // a sensor::fault_name(), or "unknown"
  float severity = std::numeric_limits<float>::quiet_NaN();
  float shaft_hz = std::numeric_limits<float>::quiet_NaN();
  std::int64_t seed = -1;  // simulator seed; -1 unknown
  std::int64_t window = -1;
};

struct FeatureTable {
  std::size_t width = 0;      // features per window
  std::vector<float> values;  // rows() x width, row-major
  std::vector<WindowInfo> info;

  std::size_t rows() const { return info.size(); }
  const float* row(std::size_t r) const { return values.data() + r * width; }
  void append(const FeatureTable& other);  // widths must match (throws std::invalid_argument)
  // The rows `indices` names, in that order.
  FeatureTable select(const std::vector<std::size_t>& indices) const;
};

// Reads a table written by write_csv or exported by the gateway. Throws
// std::invalid_argument naming the file, line and column for a missing feature column, a
// row of another length, or a value that is not a finite number; std::runtime_error when
// the file cannot be read.
FeatureTable read_csv(const std::string& path);
FeatureTable read_csv(std::istream& in, const std::string& name);

void write_csv(const FeatureTable& table, std::ostream& out);
void write_csv(const FeatureTable& table, const std::string& path);

}  // namespace spindle::trainer
