#!/usr/bin/env bash
# Part two of the demo: a simulated sensor node on native_sim reporting to a CoAP server
# (the integration tests' libcoap server, until the gateway lands), through an outage.
#   tools/dev/node_demo.sh <build-dir>
set -euo pipefail
build=${1:-build/native_sim}
work=$(mktemp -d /tmp/spindle-demo.XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
server_bin="$build/tests/integration/coap_test_server"
node_bin="$build/firmware/src/app/spindle-node"
log="$work/events.jsonl"

start_server() {
  "$server_bin" --port "$port" --log "$log" &
  server_pid=$!
  sleep 0.3
}
cleanup() {
  if [[ -n "${server_pid:-}" ]]; then kill "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

echo
echo "== A vibration node on board native_sim (model-free: health telemetry only) =="
echo "   server: CoAP on 127.0.0.1:$port, log $log"
start_server
"$node_bin" --id pump-17 --gateway "coap://127.0.0.1:$port" --flash "$work/pump-17.flash" \
  --fault imbalance --severity 0.3 --windows 40 --speed 8 --exit-when-sent \
  --log-level ${NODE_LOG_LEVEL:-warning} &
node_pid=$!
sleep 0.8
echo "   stopping the server for 1.5 s; the node keeps sampling into its flash ring"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
sleep 1.5
start_server
wait "$node_pid"
/usr/bin/python3 - "$log" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
readings = [e for e in events if e["event"] == "reading"]
windows = sorted({r["seq"] for r in readings if r["name"] == "latency"})
seqs = sorted({r["seq"] for r in readings})
dups = sum(e["duplicates"] for e in events if e["event"] == "batch")
regs = [e for e in events if e["event"] == "register"]
print(f"   registered as {regs[0]['ep']} on board {regs[0]['board']}, firmware {regs[0]['firmware']}")
print(f"   {len(windows)} windows reported; sequence numbers {seqs[0]}..{seqs[-1]}, "
      f"each exactly once, none missing: {seqs == list(range(seqs[0], seqs[-1] + 1))}")
print(f"   records sent again after the outage and recognised as duplicates: {dups}")
stats = [r for r in readings if r["name"] == "feature_stats"]
print(f"   per-feature statistics records (for drift checks): {len(stats)}")
PY
echo "   data left in $work"
