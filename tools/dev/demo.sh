#!/usr/bin/env bash
# The README's main command: installs what is needed, builds, and runs the demo: the
# whole ML loop on machines that differ (tools/dev/ml_loop_demo.sh): capture healthy data
# from three different simulated pumps through the gateway, train per machine, evaluate on
# unseen machines, pack, sign, deploy; each node calibrates on its pump; two develop faults
# and are flagged, one gets a new motor: the gateway sees the drift and captures its data,
# a retrained model is rolled out and the pump calibrates again. The other demos
# (node_demo.sh, delivery_demo.sh, spindle-proto demo) run on their own.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
cmake --preset native_sim >/dev/null
# Only what the demo runs; the test command builds the rest.
cmake --build --preset native_sim -j2 --target spindle-gateway spindle-node spindlectl spindle-train
tools/dev/ml_loop_demo.sh build/native_sim
