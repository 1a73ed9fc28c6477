// What makes one simulated rotary machine differ from another: its running speed, residual
// imbalance and misalignment, the modes of its mount, its bearing, an optional gearbox and
// electrical line, how well the sensor couples to it and how noisy that sensor is. The
// simulator (vibration_simulator.hpp) plays a profile; faults add on top of it. The ranges
// and their sources are in docs/firmware/vibration-model.md, "Machines that differ".
//
// Axes, as everywhere in spindle::sensor: x and y radial (horizontal, vertical), z axial.
#pragma once

#include <array>
#include <cstdint>

#include "spindle/sensor/bearing.hpp"

namespace spindle::sensor {

// One shaft order on one axis: cos(order * theta + phase) times g.
struct OrderLine {
  float g = 0.0F;      // amplitude, g (at any speed: the model does not rescale it)
  float phase = 0.0F;  // radians

  bool operator==(const OrderLine&) const = default;
};

// A structural mode of the mount as one axis sees it, a lightly damped resonator rung by the
// running machine's broadband forces and by bearing impacts.
struct StructuralMode {
  float hz = 0.0F;            // natural frequency; 0 = no such mode
  float damping = 0.0F;       // damping ratio zeta
  float g = 0.0F;             // RMS as rung by the running machine
  float impact_share = 0.0F;  // how strongly a bearing impact rings it (1 for the first mode)

  bool operator==(const StructuralMode&) const = default;
};

struct AxisProfile {
  std::array<OrderLine, 3> orders{};      // 1x, 2x, 3x of the healthy machine
  std::array<StructuralMode, 2> modes{};  // modes[0] always there; modes[1].hz == 0: none
  float mount_gain = 1.0F;                // sensor coupling: all mechanical vibration times this
  float noise_g = 0.0F;                   // sensor noise, RMS (electrical: after the mount)
  float gear_mesh_g = 0.0F;               // amplitude of the gear-mesh carrier on this axis
  float line_g = 0.0F;                    // amplitude of the 2x line-frequency component

  bool operator==(const AxisProfile&) const = default;
};

// Gear mesh: a carrier at `teeth` shaft orders with sidebands at +-1x and +-2x (relative
// amplitudes), all in phase. teeth == 0: the machine has no gearbox.
struct GearMesh {
  std::uint32_t teeth = 0;
  std::array<float, 2> sidebands{};
  float phase = 0.0F;

  bool operator==(const GearMesh&) const = default;
};

// Electrical vibration at twice the line frequency (magnetic pull, Scheffer & Girdhar 2004
// ch. 7): a fixed frequency, unlike everything tied to the shaft. mains_hz == 0: none.
struct LineFrequency {
  float mains_hz = 0.0F;
  float phase = 0.0F;

  bool operator==(const LineFrequency&) const = default;
};

struct MachineProfile {
  float shaft_hz = 0.0F;              // nominal running speed of this machine
  float speed_wander = 0.0F;          // speed stays within shaft_hz * (1 +- speed_wander)
  float speed_wander_seconds = 0.0F;  // correlation time of the wander
  BearingGeometry bearing;            // the bearing next to the sensor
  std::array<AxisProfile, 3> axes{};  // x, y, z
  GearMesh gear;
  LineFrequency line;

  bool operator==(const MachineProfile&) const = default;
};

// The machine the simulator has always played (machine 0): a 4-pole 50 Hz motor at 1480 rpm
// on a 6205, one 1150 Hz mode per axis, no gearbox, no line component, ideal coupling.
MachineProfile reference_machine();

// Machine `machine` of an endless fleet, drawn from a random stream of its own (seeded from
// the machine number alone, so the simulator's noise seed does not change it): the same
// number always gives the same machine. Machine 0 is reference_machine(). Every drawn
// machine is healthy (ISO 20816-3 zone A/B) and accepted by VibrationSimulator::create() at
// 3200 Hz and its own speed; it cannot fail.
MachineProfile draw_machine(std::uint64_t machine);

// The catalogue bearings draw_machine() picks from (6203, 6204, 6205, 6206, 6305, 6308).
struct CatalogueBearing {
  const char* designation;
  BearingGeometry geometry;
};
inline constexpr std::size_t kCatalogueBearingCount = 6;
const std::array<CatalogueBearing, kCatalogueBearingCount>& catalogue_bearings();

}  // namespace spindle::sensor
