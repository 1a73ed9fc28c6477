#!/usr/bin/env bash
# The ML loop, end to end (the README's main demo), on machines that differ: a gateway with
# its embedded store and three simulated pumps, each its own machine (speed, imbalance,
# resonances, bearing, mounting: docs/firmware/vibration-model.md section 6). Healthy data is
# captured from each through the gateway; a model is trained per machine, evaluated on
# machines it never saw, packed with its per-machine calibration, signed and deployed; each
# node calibrates on its own pump before it raises any alarm. Then pump-2 and pump-3 develop
# faults and are flagged; pump-1's motor is replaced: the gateway sees all three drift from
# their own calibrations and captures data from each by itself; a model retrained with the
# new motor's data (not the faulty pumps') is evaluated and rolled out, and pump-1
# calibrates on its new motor.
#   tools/dev/ml_loop_demo.sh <build-dir>
# SPINDLE_DEMO_CLEANUP=1 removes the work directory when the demo succeeds (the ctest
# integration.ml_loop_demo runs it so).
set -euo pipefail
build=${1:-build/native_sim}
work=$(mktemp -d /tmp/spindle-ml-loop.XXXXXX)
source "$(dirname "$0")/demo_lib.sh"
ctl="$build/tools/ctl/spindlectl"
train="$build/tools/trainer/spindle-train"
node_bin="$build/firmware/src/app/spindle-node"
api=(--api "$api_url" --token-file "$work/gateway/api-token")
devices=(pump-1 pump-2 pump-3)
declare -A machine=([pump-1]=14 [pump-2]=12 [pump-3]=13)
declare -A shaft_hz=([pump-1]=24.7 [pump-2]=29.5 [pump-3]=19.6)
declare -A node_pid=()
# The nodes' calibration period for this demo (a deployment would use the defaults, 300 + 600).
normalization=150
threshold_windows=200
started=$(date +%s)

stop_node() {  # device: SIGTERM, then wait for it to exit
  local pid=${node_pid[$1]:-}
  [[ -n "$pid" ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  node_pid[$1]=""
}
cleanup() {
  for device in "${devices[@]}"; do stop_node "$device"; done
  if [[ -n "${gateway_pid:-}" ]]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

start_node() {  # device, seed, shaft Hz, simulator flags...
  local device=$1 seed=$2 hz=$3; shift 3
  # 10x simulated time: about 31 windows a second, so minutes of machine time pass in seconds.
  "$node_bin" --provision "$work/$device.provision" --flash "$work/$device.flash" --speed 10 \
    --machine "${machine[$device]}" --shaft-hz "$hz" --seed "$seed" --health-windows 16 \
    --log-level info "$@" >>"$work/$device.log" 2>&1 &
  node_pid[$device]=$!
}

step() { echo; echo "== $* ($(( $(date +%s) - started )) s)"; }

# The gateway's API from Python: get(path) with the token.
api_py() {
  /usr/bin/python3 - "$api_url" "$work/gateway/api-token" "$@"
}

wait_calibrated() {  # model id, version, devices...: until each node has calibrated it
  local model=$1 version=$2; shift 2
  api_py "$model" "$version" "$@" <<'PY'
import json, sys, time, urllib.request
api, token_file, model, version = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
devices = sys.argv[5:]
token = open(token_file).read().strip()
def get(path):
    req = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req, timeout=10))
deadline = time.time() + 120
pending = set(devices)
while pending and time.time() < deadline:
    for d in sorted(pending):
        c = get(f"/api/v1/devices/{d}")["calibration"]
        if c and c["model_id"] == model and c["version"] == version and \
                c["state"] == "calibrated":
            print(f"   {d}: {model} v{version} calibrated on its machine over {c['windows_done']} windows, "
                  f"threshold {c['threshold']:.3f} (clamp {c['clamp']})")
            pending.discard(d)
    time.sleep(0.5)
if pending:
    sys.exit("not calibrated in time: " + ", ".join(sorted(pending)))
PY
}

step "1. a site: gateway (drift policy: capture), operator key, three different pumps"
"$ctl" keygen --kid ops-2026 --out-dir "$work" >/dev/null
start_gateway --trust-key "ops-2026=$work/ops-2026.pub" --drift-policy capture \
  --drift-capture-windows 400
"$ctl" provision "${api[@]}" --device pump-1 --device pump-2 --device pump-3 \
  --coap-uri "coaps://127.0.0.1:$coap_port" --trust-key "ops-2026=$work/ops-2026.pub" \
  --out-dir "$work" | sed 's/^/   /'
seed=11
for device in "${devices[@]}"; do start_node "$device" $((seed++)) "${shaft_hz[$device]}"; done
echo "   pump-1 = simulated machine 14 at 24.7 Hz, pump-2 = machine 12 at 29.5 Hz,"
echo "   pump-3 = machine 13 at 19.6 Hz: each its own imbalance, resonances, bearing, mounting"

step "2. capture: the gateway asks each node for 400 feature windows (Block1 uploads)"
mkdir -p "$work/data"
capture_pids=()
for device in "${devices[@]}"; do
  "$ctl" capture "${api[@]}" --device "$device" --windows 400 --kind features --label healthy \
    --wait --timeout 90 >"$work/data/$device.capture.txt" 2>&1 &
  capture_pids+=($!)
done
for pid in "${capture_pids[@]}"; do
  wait "$pid" || { cat "$work"/data/*.capture.txt >&2; echo "capture failed" >&2; exit 1; }
done
grep -h "^pump-.*complete" "$work"/data/*.capture.txt | sed 's/^/   /'
data_args=()
for device in "${devices[@]}"; do
  id=$(grep -o "data set [0-9]*" "$work/data/$device.capture.txt" | head -1 | awk '{print $3}')
  "$ctl" datasets export "$id" "${api[@]}" --format csv -o "$work/data/$device-healthy.csv" \
    | sed 's/^/   /'
  data_args+=(--data "$work/data/$device-healthy.csv")
done

train_and_evaluate() {  # out dir, data args...
  local out=$1; shift
  "$train" fit "$@" --kind autoencoder --board native_sim --seed 1 \
    --normalization-windows "$normalization" --threshold-windows "$threshold_windows" \
    --out-dir "$out" | sed 's/^/   /'
  echo "   evaluation on six simulated machines the training never saw, each calibrated as a node would:"
  "$train" evaluate --model-dir "$out" --machines 2001-2006 --healthy-windows 150 \
    --fault-windows 30 --ramp-s 0 --require-targets \
    | grep -E "^machine-|^worst|^targets|adapted" | sed 's/^/   /'
}

deploy() {  # model dir, version
  "$ctl" pack --model "$1/model.spmc" --model-id pump-ae --version "$2" --board native_sim \
    --threshold "$(cat "$1/threshold")" --baseline "$1/baseline.csv" \
    --calibration "$1/calibration" --signing-key "$work/ops-2026.key" --kid ops-2026 \
    --out "$work/pump-ae-$2.spkg" | sed 's/^/   /'
  "$ctl" deploy "${api[@]}" --package "$work/pump-ae-$2.spkg" --signing-key "$work/ops-2026.key" \
    --kid ops-2026 --device pump-1 --device pump-2 --device pump-3 2>&1 | sed 's/^/   /'
}

step "3. train per machine (each pump standardized by its own first windows), evaluate"
train_and_evaluate "$work/model" "${data_args[@]}"

step "4. pack with the per-machine calibration, sign, encrypt, deploy; nodes verify and calibrate"
deploy "$work/model" 1
"$ctl" status "${api[@]}" --device pump-1 --device pump-2 --device pump-3 \
  --wait-state confirmed --timeout 90 | sed 's/^/   /'
grep -h "calibrating on this machine" "$work"/pump-1.log | head -1 | sed 's/^.*calibration: /   pump-1: /'
wait_calibrated pump-ae 1 "${devices[@]}"

step "5. the field: pump-2 develops an imbalance, pump-3 a bearing defect, pump-1 gets a new motor"
for device in "${devices[@]}"; do stop_node "$device"; done
machine[pump-1]=15  # another machine behind the same sensor, at another speed
start_node pump-1 21 29.0
start_node pump-2 22 "${shaft_hz[pump-2]}" --fault imbalance --severity 0 --severity-end 0.3 --ramp-s 300
start_node pump-3 23 "${shaft_hz[pump-3]}" --fault bearing-outer --severity 0 --severity-end 0.3 --ramp-s 300
watch_from=$(date +%s)
echo "   faults ramp 0 -> 0.3 over 300 s of machine time (30 s here); pump-1 is now machine 15 at 29 Hz"

step "6. the gateway: anomalies, drift against each pump's own calibration, captures it opened"
api_py "$watch_from" "$work/drift-capture" <<'PY'
import json, sys, time, urllib.request
api, token_file, since, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
token = open(token_file).read().strip()
def get(path):
    req = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token})
    return json.load(urllib.request.urlopen(req, timeout=10))
deadline = time.time() + 90
while time.time() < deadline:
    drift = [e for e in get("/api/v1/events?kind=drift&limit=100")["events"]
             if e["device"] == "pump-1" and e["time_ms"] / 1000 >= since]
    captures = [c for c in get("/api/v1/captures?device=pump-1")["captures"]
                if c["label"].startswith("drift")]
    if drift and captures and captures[0]["state"] == "complete":
        break
    time.sleep(1)
time.sleep(max(0, since + 25 - time.time()))
print(f"   {'device':8} {'machine':24} {'windows':>8} {'flagged':>8} {'first flagged':>14}")
machine = {"pump-1": "new motor", "pump-2": "imbalance developing",
           "pump-3": "bearing defect developing"}
flagged_of = {}
for device in ("pump-1", "pump-2", "pump-3"):
    records, after = [], 0
    while True:
        page = get(f"/api/v1/telemetry?device={device}&name=anomaly&from={since}&after={after}&limit=10000")
        records += page["records"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    flagged = [r for r in records if r["value"] is True]
    first = f"{flagged[0]['time'] - since:.1f} s" if flagged else "-"
    print(f"   {device:8} {machine[device]:24} {len(records):8} {len(flagged):8} {first:>14}")
    flagged_of[device] = len(flagged)
for e in sorted(get("/api/v1/events?kind=drift&limit=100")["events"], key=lambda e: e["id"]):
    if e["time_ms"] / 1000 >= since:
        print(f"   drift, {e['device']}: {e['detail'][:96]}")
for c in sorted(get("/api/v1/captures")["captures"], key=lambda c: c["id"]):
    if c["label"].startswith("drift"):
        print(f"   capture {c['id']} opened by the gateway for {c['device']}: {c['label']}, "
              f"{c['windows_received']}/{c['windows_requested']} windows, {c['state']}")
ok = flagged_of["pump-2"] > 0 and flagged_of["pump-3"] > 0 and drift and captures and \
    captures[0]["state"] == "complete"
print("   " + ("pump-2 and pump-3 are faults (flagged): their captures are kept as fault data, "
                "not trained on;\n   pump-1's new motor drifted too and its capture is what the "
                "next model learns" if ok else "UNEXPECTED: see the logs in the work directory"))
if ok:
    open(out, "w").write(str(captures[0]["id"]))
sys.exit(0 if ok else 1)
PY
drift_capture=$(cat "$work/drift-capture")
"$ctl" datasets export "$drift_capture" "${api[@]}" --format csv -o "$work/data/pump-1-drift.csv" \
  | sed 's/^/   /'

step "7. retrain with pump-1's new-motor data, evaluate, roll out v2; the pumps calibrate again"
train_and_evaluate "$work/model-v2" "${data_args[@]}" --data "$work/data/pump-1-drift.csv"
deploy "$work/model-v2" 2
"$ctl" status "${api[@]}" --device pump-1 --device pump-2 --device pump-3 \
  --wait-state confirmed --timeout 90 | sed 's/^/   /'
wait_calibrated pump-ae 2 pump-1
calibrated_at=$(date +%s)
sleep 10
api_py "$calibrated_at" <<'PY'
import json, sys, urllib.request
api, token_file, since = sys.argv[1], sys.argv[2], float(sys.argv[3])
token = open(token_file).read().strip()
req = urllib.request.Request(
    api + f"/api/v1/telemetry?device=pump-1&name=anomaly&from={since}&limit=10000",
    headers={"Authorization": "Bearer " + token})
records = json.load(urllib.request.urlopen(req, timeout=10))["records"]
flagged = sum(1 for r in records if r["value"] is True)
print(f"   pump-1 on v2, calibrated on its new motor: {flagged} of {len(records)} windows flagged "
      "in the next 10 s")
sys.exit(0 if records and flagged <= 0.01 * len(records) else 1)
PY
"$ctl" status "${api[@]}" --device pump-1 | sed 's/^/   /'

step "done"
if [[ "${SPINDLE_DEMO_CLEANUP:-0}" == 1 ]]; then
  cleanup
  rm -rf "$work"
  exit 0
fi
echo "   data, models and logs left in $work:"
echo "     data/*.csv                 captured feature windows (spindlectl datasets export)"
echo "     model/, model-v2/          model.spmc, threshold, baseline.csv, calibration, model.json"
echo "     pump-ae-{1,2}.spkg         the signed, encrypted packages"
echo "     gateway/spindle.db         the gateway's store (sqlite3), *.log the processes' logs"
