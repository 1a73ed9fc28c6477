#!/usr/bin/env bash
# Builds the project the way a newcomer does without the presets,
#   cmake -S . -B <dir> -DCMAKE_BUILD_TYPE=Release && cmake --build <dir>
# (the programs, without tests and benchmarks; warnings are not errors there: another
# compiler may warn about other things), and fails
# when that build fails or when this machine's compiler prints any warning at -O3.
#   tools/dev/check-plain-build.sh [build-dir]   (default build/plain-release)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build/plain-release}
log="$dir.log"
mkdir -p "$(dirname "$log")"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
if ! cmake --build "$dir" -j2 >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "check-plain-build: the plain Release build failed (whole log: $log)" >&2
  exit 1
fi
if grep -q 'warning:' "$log"; then
  grep -A4 'warning:' "$log" >&2
  echo "check-plain-build: the plain Release build warns (whole log: $log)" >&2
  exit 1
fi
echo "check-plain-build: plain Release build in $dir, no warnings"
