#include "spindle/trainer/feature_table.hpp"
#include "spindle/cli/files.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "spindle/features/feature_extractor.hpp"

namespace spindle::trainer {
namespace {

constexpr std::size_t kAxes = 3;

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ','))
    cells.push_back(cell);
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

[[noreturn]] void bad(const std::string& name, std::size_t line, const std::string& what) {
  throw std::invalid_argument(name + ":" + std::to_string(line) + ": " + what);
}

float parse_float(const std::string& text, const std::string& name, std::size_t line,
                  const std::string& column) {
  float value = 0.0f;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) {
    bad(name, line, "column " + column + ": '" + text + "' is not a finite number");
  }
  return value;
}

std::int64_t parse_int(const std::string& text, const std::string& name, std::size_t line,
                       const std::string& column) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) {
    bad(name, line, "column " + column + ": '" + text + "' is not an integer");
  }
  return value;
}

std::string format_float(float v) {
  if (std::isnan(v)) return "";
  std::ostringstream out;
  out.precision(9);
  out << v;
  return out.str();
}

}  // namespace

void FeatureTable::append(const FeatureTable& other) {
  if (rows() == 0) width = other.width;
  if (other.width != width) {
    throw std::invalid_argument("tables of " + std::to_string(width) + " and " +
                                std::to_string(other.width) + " features cannot be joined");
  }
  values.insert(values.end(), other.values.begin(), other.values.end());
  info.insert(info.end(), other.info.begin(), other.info.end());
}

FeatureTable FeatureTable::select(const std::vector<std::size_t>& indices) const {
  FeatureTable out;
  out.width = width;
  out.values.reserve(indices.size() * width);
  out.info.reserve(indices.size());
  for (const std::size_t r : indices) {
    out.values.insert(out.values.end(), row(r), row(r) + width);
    out.info.push_back(info[r]);
  }
  return out;
}

FeatureTable read_csv(std::istream& in, const std::string& name) {
  std::string line;
  if (!std::getline(in, line)) bad(name, 1, "empty file: expected a header row");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::vector<std::string> header = split(line);
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i)
    column[header[i]] = i;

  FeatureTable table;
  table.width = features::feature_count(kAxes);
  std::vector<std::size_t> feature_column(table.width);
  for (std::size_t f = 0; f < table.width; ++f) {
    const std::string feature(features::feature_name(f));
    const auto it = column.find(feature);
    if (it == column.end()) bad(name, 1, "no column " + feature + " (a feature table has all 45)");
    feature_column[f] = it->second;
  }
  const auto optional = [&](const char* key) {
    const auto it = column.find(key);
    return it == column.end() ? header.size() : it->second;
  };
  const std::size_t device = optional("device");
  const std::size_t label = optional("label");
  const std::size_t fault = optional("fault");
  const std::size_t severity = optional("severity");
  const std::size_t shaft_hz = optional("shaft_hz");
  const std::size_t seed = optional("seed");
  const std::size_t window = optional("window");

  std::size_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::vector<std::string> cells = split(line);
    if (cells.size() != header.size()) {
      bad(name, line_number,
          std::to_string(cells.size()) + " cells, the header has " + std::to_string(header.size()));
    }
    for (std::size_t f = 0; f < table.width; ++f) {
      table.values.push_back(
          parse_float(cells[feature_column[f]], name, line_number, header[feature_column[f]]));
    }
    WindowInfo info;
    const auto cell = [&](std::size_t c) -> const std::string* {
      return c < cells.size() && !cells[c].empty() ? &cells[c] : nullptr;
    };
    if (const auto* v = cell(device)) info.device = *v;
    if (const auto* v = cell(label)) info.label = *v;
    if (const auto* v = cell(fault)) info.fault = *v;
    if (const auto* v = cell(severity))
      info.severity = parse_float(*v, name, line_number, "severity");
    if (const auto* v = cell(shaft_hz))
      info.shaft_hz = parse_float(*v, name, line_number, "shaft_hz");
    if (const auto* v = cell(seed)) info.seed = parse_int(*v, name, line_number, "seed");
    if (const auto* v = cell(window)) info.window = parse_int(*v, name, line_number, "window");
    table.info.push_back(std::move(info));
  }
  return table;
}

FeatureTable read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return read_csv(in, path);
}

void write_csv(const FeatureTable& table, std::ostream& out) {
  out << "device,label,fault,severity,shaft_hz,seed,window";
  for (std::size_t f = 0; f < table.width; ++f)
    out << ',' << features::feature_name(f);
  out << '\n';
  for (std::size_t r = 0; r < table.rows(); ++r) {
    const WindowInfo& i = table.info[r];
    out << i.device << ',' << i.label << ',' << i.fault << ',' << format_float(i.severity) << ','
        << format_float(i.shaft_hz) << ',' << (i.seed < 0 ? "" : std::to_string(i.seed)) << ','
        << (i.window < 0 ? "" : std::to_string(i.window));
    for (std::size_t f = 0; f < table.width; ++f)
      out << ',' << format_float(table.row(r)[f]);
    out << '\n';
  }
}

void write_csv(const FeatureTable& table, const std::string& path) {
  std::ostringstream text;
  write_csv(table, text);
  cli::write_text_file(path, text.str());
}

}  // namespace spindle::trainer
