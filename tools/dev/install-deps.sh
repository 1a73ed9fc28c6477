#!/usr/bin/env bash
# Installs every Debian package Spindle needs to build, test, fuzz and benchmark.
# Idempotent: packages already present are left alone and apt is not called at all.
# Works as root or through sudo on a fresh Debian 12 (bookworm) machine.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl shellcheck
  clang libclang-rt-14-dev clang-format
  libcoap3-dev libcoap3-bin
  libcbor-dev
  libmbedtls-dev
  libboost-program-options-dev
  libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  valgrind
  libkissfft-dev
  libsqlite3-dev sqlite3 nlohmann-json3-dev libcpp-httplib-dev
  libeigen3-dev
  python3 python3-cbor2 python3-cryptography
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and neither root nor sudo;" \
       "install them as root and re-run" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
