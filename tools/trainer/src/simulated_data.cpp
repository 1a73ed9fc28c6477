#include "spindle/trainer/simulated_data.hpp"

#include <memory>
#include <stdexcept>

#include "spindle/features/feature_extractor.hpp"
#include "spindle/sensor/machine.hpp"
#include "spindle/sensor/vibration_simulator.hpp"

namespace spindle::trainer {

std::string machine_device(std::uint64_t machine) {
  return "machine-" + std::to_string(machine);
}

FeatureTable simulate(const board::BoardProfile& board, const std::vector<Scenario>& scenarios) {
  if (board.sensor_axes != 3) {
    throw std::invalid_argument("board " + std::string(board.name()) + " has " +
                                std::to_string(board.sensor_axes) +
                                " axes; the trainer's models read 3 (45 features)");
  }
  features::FeatureConfig config;
  config.window_length = board.window_length;
  config.sample_rate_hz = board.sensor_rate_hz;
  config.axes = board.sensor_axes;
  std::vector<std::byte> scratch(features::scratch_bytes(board.window_length));
  auto created = features::FeatureExtractor::create(config, scratch);
  if (!created.ok()) {
    throw std::invalid_argument(std::string("the feature extractor refuses board ") +
                                std::string(board.name()) + ": " + created.status().name());
  }
  features::FeatureExtractor extractor = std::move(created).value();
  const std::size_t width = extractor.feature_count();
  std::vector<float> x(board.window_length);
  std::vector<float> y(board.window_length);
  std::vector<float> z(board.window_length);

  FeatureTable table;
  table.width = width;
  for (const Scenario& s : scenarios) {
    sensor::SimulatorConfig sim;
    sim.seed = s.seed;
    sim.sample_rate_hz = board.sensor_rate_hz;
    sim.machine = sensor::draw_machine(s.machine);
    sim.shaft_hz = s.shaft_hz > 0.0f ? s.shaft_hz : sim.machine.shaft_hz;
    sim.fault = {s.fault, s.start_severity, s.end_severity, s.ramp_seconds};
    const std::string device = machine_device(s.machine);
    auto made = sensor::VibrationSimulator::create(sim);
    if (!made.ok()) {
      const char* why = sensor::VibrationSimulator::problem(sim);
      throw std::invalid_argument("the simulator refuses " + std::string(fault_name(s.fault)) +
                                  " on " + device + " at " + std::to_string(sim.shaft_hz) +
                                  " Hz, seed " + std::to_string(s.seed) + ": " +
                                  (why != nullptr ? why : made.status().name()));
    }
    sensor::VibrationSimulator simulator = std::move(made).value();
    const std::string fault(fault_name(s.fault));
    for (std::size_t w = 0; w < s.windows; ++w) {
      WindowInfo info;
      info.device = device;
      info.label = s.label.empty() ? fault : s.label;
      info.fault = fault;
      info.severity = simulator.severity();
      info.shaft_hz = sim.shaft_hz;
      info.seed = static_cast<std::int64_t>(s.seed);
      info.window = static_cast<std::int64_t>(w);
      if (!simulator.read(x, y, z).ok()) throw std::logic_error("simulator read failed");
      const std::size_t at = table.values.size();
      table.values.resize(at + width);
      const Status s_extract =
          extractor.extract(x, y, z, std::span<float>(table.values).subspan(at, width));
      if (!s_extract.ok()) {
        throw std::invalid_argument(std::string("feature extraction failed: ") + s_extract.name());
      }
      table.info.push_back(std::move(info));
    }
  }
  return table;
}

}  // namespace spindle::trainer
