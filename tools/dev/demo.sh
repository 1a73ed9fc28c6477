#!/usr/bin/env bash
# The README's main command: installs what is needed, builds, and runs the demo: the
# whole ML loop (tools/dev/ml_loop_demo.sh): capture healthy data from three simulated
# pumps through the gateway, train, evaluate, pack, sign, deploy, activate, and see the two
# pumps that develop faults flagged while the healthy one is not. The other demos
# (node_demo.sh, delivery_demo.sh, spindle-proto demo) run on their own.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
cmake --preset native_sim >/dev/null
# Only what the demo runs; the test command builds the rest.
cmake --build --preset native_sim -j2 --target spindle-gateway spindle-node spindlectl spindle-train
tools/dev/ml_loop_demo.sh build/native_sim
