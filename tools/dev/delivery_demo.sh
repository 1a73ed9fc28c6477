#!/usr/bin/env bash
# Part three of the demo: secure model delivery. An operator key pair, a gateway that trusts
# it, two nodes provisioned with spindlectl, a model packed (signed, encrypted) and deployed
# to both; one node is killed with kill -9 in the middle of the next upgrade and resumes
# where it stopped; both attest what they run.
#   tools/dev/delivery_demo.sh <build-dir>
set -euo pipefail
build=${1:-build/native_sim}
work=$(mktemp -d /tmp/spindle-delivery.XXXXXX)
source "$(dirname "$0")/demo_lib.sh"
ctl="$build/tools/ctl/spindlectl"
node_bin="$build/firmware/src/app/spindle-node"
make_model="$build/tools/modelkit/spindle-make-model"
api=(--api "$api_url" --token-file "$work/gateway/api-token")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n "${gateway_pid:-}" ]]; then kill "$gateway_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

start_node() {  # device, log level, extra flags...
  local device=$1 level=$2; shift 2
  "$node_bin" --provision "$work/$device.provision" --flash "$work/$device.flash" --speed 4 \
    --health-windows 8 --log-level "$level" "$@" >>"$work/$device.log" 2>&1 &
  pids+=($!)
  disown $!  # its kill -9 below is part of the demo, not news for the shell
  echo $! >"$work/$device.pid"
}

echo
echo "== secure model delivery: sign, encrypt, deploy, resume, verify, activate, attest =="
"$ctl" keygen --kid ops-2026 --out-dir "$work" >/dev/null
echo "   operator signing key ops-2026 (ES256); the gateway trusts its public half only"
start_gateway --trust-key "ops-2026=$work/ops-2026.pub"
"$ctl" provision "${api[@]}" --device fan-1 --device fan-2 \
  --coap-uri "coaps://127.0.0.1:$coap_port" --trust-key "ops-2026=$work/ops-2026.pub" \
  --out-dir "$work" | sed 's/^/   /'
start_node fan-1 info
start_node fan-2 debug --block-size 64  # debug: every stored block is logged

"$make_model" --layers 45,16,8,16,45 --seed 1 --out "$work/ae-small.bin" >/dev/null
"$ctl" pack --model "$work/ae-small.bin" --model-id vib-ae --version 1 --board native_sim \
  --signing-key "$work/ops-2026.key" --kid ops-2026 --out "$work/vib-ae-1.spkg" | sed 's/^/   /'
"$ctl" deploy "${api[@]}" --package "$work/vib-ae-1.spkg" --signing-key "$work/ops-2026.key" \
  --kid ops-2026 --device fan-1 --device fan-2 2>&1 | sed 's/^/   /'
"$ctl" status "${api[@]}" --device fan-1 --device fan-2 --wait-state confirmed --timeout 60 |
  sed 's/^/   /'

echo "   version 2, a larger model; fan-2 downloads it in 64-byte blocks and is killed (kill -9) before it finishes"
"$make_model" --layers 45,256,96,256,45 --seed 2 --out "$work/ae-big.bin" >/dev/null
"$ctl" pack --model "$work/ae-big.bin" --model-id vib-ae --version 2 --board native_sim \
  --signing-key "$work/ops-2026.key" --kid ops-2026 --out "$work/vib-ae-2.spkg" | sed 's/^/   /'
"$ctl" deploy "${api[@]}" --package "$work/vib-ae-2.spkg" --signing-key "$work/ops-2026.key" \
  --kid ops-2026 --device fan-1 --device fan-2 2>&1 | sed 's/^/   /'
for _ in $(seq 200); do
  grep -q "stored block 3[0-9][0-9]:" "$work/fan-2.log" 2>/dev/null && break
  sleep 0.05
done
kill -9 "$(cat "$work/fan-2.pid")" 2>/dev/null || true
sleep 0.5
last=$(grep -o "stored block [0-9]*: [0-9]* of [0-9]* bytes" "$work/fan-2.log" | tail -1)
echo "   fan-2 killed after: $last; restarted"
start_node fan-2 info --block-size 64
"$ctl" status "${api[@]}" --device fan-1 --device fan-2 --wait-state confirmed --timeout 90 |
  sed 's/^/   /'
grep -h "resuming the download" "$work/fan-2.log" | sed 's/^.*install: /   fan-2: /' || true
for device in fan-1 fan-2; do
  "$ctl" attest "${api[@]}" --device "$device" --wait 30 | sed 's/^/   /'
done
/usr/bin/python3 - "$work/ae-big.bin" "$work/fan-2.flash" <<'PY'
import sys
plain, flash = (open(p, "rb").read() for p in sys.argv[1:])
windows = [plain[i:i + 16] for i in range(0, len(plain) - 16, 8) if len(set(plain[i:i + 16])) >= 12]
found = sum(1 for w in windows if w in flash)
print(f"   fan-2's flash holds the model as ciphertext: {found} of {len(windows)} plaintext "
      f"16-byte runs found in it")
PY
echo "   data left in $work (packages, provisioning files, flash images, gateway/spindle.db)"
