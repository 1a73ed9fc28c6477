#!/usr/bin/env bash
# The README's main command: installs what is needed, builds, and runs the demo.
# The demo walks through secure model packaging with the protocol module (derive
# device keys, encrypt, sign, verify, decrypt, and what a node refuses), then runs the
# gateway with a node through a gateway crash, then delivers signed, encrypted models to two
# nodes with spindlectl (one killed mid-download and resuming) and attests them; it grows
# into the full ML-loop demo as that work lands.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/install-deps.sh
cmake --preset native_sim >/dev/null
cmake --build --preset native_sim -j2
build/native_sim/tools/spindle-proto/spindle-proto demo
tools/dev/node_demo.sh build/native_sim
tools/dev/delivery_demo.sh build/native_sim
