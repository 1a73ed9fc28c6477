// spindle::trainer — labelled feature windows from the node's own rotary-machine simulator
// (firmware/src/sensor) and feature extractor (firmware/src/features), configured from a
// board profile: the same code, window length and sample rate as the node, so a model
// trained or evaluated on them sees exactly what the node computes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "spindle/protocol/board_profile.hpp"
#include "spindle/sensor/fault.hpp"
#include "spindle/trainer/feature_table.hpp"

namespace spindle::trainer {

// One simulated machine run: `windows` consecutive windows from a simulator playing machine
// `machine` (sensor::draw_machine; 0 is the reference machine) with this noise seed, speed
// and fault profile (severity start -> end over ramp_seconds; 0: end from the start).
struct Scenario {
  sensor::Fault fault = sensor::Fault::kNone;
  float start_severity = 0.0f;
  float end_severity = 0.0f;
  float ramp_seconds = 0.0f;
  float shaft_hz = 0.0f;  // 0: the machine's own nominal speed (1480 rpm for machine 0)
  std::uint64_t machine = 0;
  std::uint64_t seed = 1;
  std::size_t windows = 0;
  std::string label;  // empty: the fault's name
};

// The device a simulated machine's windows carry: "machine-<number>".
std::string machine_device(std::uint64_t machine);

// Runs every scenario and extracts its windows. A window's severity is the simulator's at
// its first sample, its device "machine-<number>", its shaft_hz the run's nominal speed. Throws
// std::invalid_argument when the board has other than 3 axes or the simulator or extractor refuses
// the configuration (naming the scenario).
FeatureTable simulate(const board::BoardProfile& board, const std::vector<Scenario>& scenarios);

}  // namespace spindle::trainer
