#!/usr/bin/env bash
# The README's test command: installs what is needed, builds, and runs the whole suite.
#   1. formatting (.clang-format) and shellcheck on every script
#   2. the native_sim build (warnings are errors) and every test: unit, golden vectors,
#      interop with python3-cbor2 / python3-cryptography, fuzz-corpus replay, integration
#   3. the same build and tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   4. the libFuzzer build (clang), each fuzz target run briefly from its seeds
#   5. the plain Release build a newcomer makes without the presets (check-plain-build.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
# Compiler-cache hits across clones of the repository (CI builds a fresh clone in another
# folder): paths below the clone are hashed relative to it.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
tools/dev/install-deps.sh
tools/dev/check-format.sh
tools/dev/check-shell.sh
for preset in native_sim sanitize fuzz; do
  echo "==== ${preset} ===="
  cmake --preset "${preset}" >/dev/null
  cmake --build --preset "${preset}" -j2
  ctest --preset "${preset}" -j2
done
echo "==== plain Release build ===="
tools/dev/check-plain-build.sh build/plain-release
