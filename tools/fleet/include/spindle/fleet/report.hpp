// How a fleet run is reported: a table for people (stdout) and JSON for scripts (--json).
// Latencies are in milliseconds; rates in requests per second.
#pragma once

#include <ostream>
#include <string>

#include "spindle/fleet/fleet.hpp"

namespace spindle::fleet {

// Acknowledged telemetry requests per second: over the telemetry phase, or from the first
// telemetry request to its last answer when answers kept coming during the drain.
double achieved_telemetry_rate(const FleetReport& report);
// Telemetry requests sent per second of the telemetry phase (the load actually offered).
double sent_telemetry_rate(const FleetReport& report);

void print_report(const FleetConfig& config, const FleetReport& report, std::ostream& out);

// The report as a JSON document (pretty-printed), `exit_code` included.
std::string report_json(const FleetConfig& config, const FleetReport& report, int exit_code);

}  // namespace spindle::fleet
