#!/usr/bin/env bash
# Static RAM of the node application per board: builds the app for each board profile and
# reads the .bss/.data of its objects (window buffers, FFT scratch, model arena, telemetry
# batch buffers are all static), next to the board's SRAM. Host build (x86-64): pointer-
# sized fields are twice their size on a 32-bit MCU; the large buffers are the same.
#   bench/firmware_ram.sh [build-root]   (default: build/ram)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-build/ram}
printf '| %-14s | %10s | %10s | %24s | %7s |\n' board "SRAM (B)" "arena (B)" \
  "app static incl. arena (B)" "of SRAM"
printf '|%s|%s|%s|%s|%s|\n' ---------------- ------------ ------------ \
  ---------------------------- ---------
for conf in boards/*/board.conf; do
  board=$(basename "$(dirname "$conf")")
  dir="$root/$board"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=MinSizeRel -DSPINDLE_BOARD="$board" \
    -DSPINDLE_BUILD_TESTS=OFF -DSPINDLE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir" -j2 --target spindle_app >/dev/null
  mapfile -t objects < <(find "$dir/firmware/src/app/CMakeFiles/spindle_app.dir" -name '*.o')
  static=$(size -A "${objects[@]}" | awk '$1 ~ /^\.(bss|data)/ {sum += $2} END {print sum}')
  sram=$(sed -n 's/^CONFIG_SRAM_SIZE=//p' "$conf")
  arena=$(sed -n 's/^CONFIG_MODEL_ARENA_SIZE=//p' "$conf")
  printf '| %-14s | %10d | %10d | %26d | %6.1f%% |\n' "$board" "$((sram))" "$((arena))" \
    "$static" "$(echo "100 * $static / $sram" | bc -l)"
done
