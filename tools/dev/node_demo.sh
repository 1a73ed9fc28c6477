#!/usr/bin/env bash
# Part two of the demo: spindle-gateway with its embedded store, a simulated sensor node on
# board native_sim provisioned through the operator API and reporting over DTLS-PSK, a
# gateway crash (kill -9) in the middle, and every reading stored exactly once afterwards.
#   tools/dev/node_demo.sh <build-dir>
# shellcheck disable=SC2119  # start_gateway takes extra gateway flags; this demo passes none
set -euo pipefail
build=${1:-build/native_sim}
work=$(mktemp -d /tmp/spindle-demo.XXXXXX)
node_bin="$build/firmware/src/app/spindle-node"
source "$(dirname "$0")/demo_lib.sh"
api="$api_url"

cleanup() {
  if [[ -n "${gateway_pid:-}" ]]; then kill "$gateway_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

echo
echo "== spindle-gateway and a vibration node on board native_sim (health telemetry) =="
echo "   gateway: DTLS-PSK on udp/$coap_port, operator API on $api, data in $work/gateway"
start_gateway
token=$(cat "$work/gateway/api-token")
curl -sf -H "Authorization: Bearer $token" -d '{"devices":[{"id":"pump-17"}]}' \
  "$api/api/v1/devices" | /usr/bin/python3 -c \
  'import json,sys; print(json.load(sys.stdin)["devices"][0]["psk"])' > "$work/pump-17.psk"
echo "   provisioned pump-17 (its DTLS key derives from the gateway's site master secret)"
"$node_bin" --id pump-17 --gateway "coaps://127.0.0.1:$coap_port" --psk-file "$work/pump-17.psk" \
  --flash "$work/pump-17.flash" --fault imbalance --severity 0.3 --windows 40 --speed 8 \
  --exit-when-sent --log-level "${NODE_LOG_LEVEL:-warning}" &
node_pid=$!
sleep 0.8
echo "   kill -9 of the gateway; 1.5 s later it restarts. The node keeps sampling into its flash ring"
kill -9 "$gateway_pid"; wait "$gateway_pid" 2>/dev/null || true; gateway_pid=
sleep 1.5
start_gateway
wait "$node_pid"
/usr/bin/python3 - "$api" "$token" <<'PY'
import json, sys, urllib.request
api, token = sys.argv[1], sys.argv[2]
def get(path):
    req = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
device = get("/api/v1/devices/pump-17")
records = get("/api/v1/telemetry?device=pump-17&limit=10000")["records"]
windows = sorted(r["seq"] for r in records if r["name"] == "latency")
seqs = sorted({r["seq"] for r in records})
reg = device["registration"]
print(f"   registered on board {reg['board']}, firmware {reg['firmware_version']}, "
      f"online: {device['online']}")
print(f"   {len(windows)} windows stored; sequence numbers {seqs[0]}..{seqs[-1]}, "
      f"none missing: {seqs == list(range(seqs[0], seqs[-1] + 1))}, "
      f"none twice: {len(windows) == len(set(windows))}")
stats = [r for r in records if r["name"] == "feature_stats"]
print(f"   per-feature statistics records (for drift checks): {len(stats)}")
events = get("/api/v1/events?device=pump-17")["events"]
print("   events: " + ", ".join(sorted({e["kind"] for e in events})))
PY
echo "   SIGTERM: the gateway answers what is committed, commits what is queued, and exits"
kill "$gateway_pid"; wait "$gateway_pid" || true; gateway_pid=
echo "   data left in $work (gateway/spindle.db is SQLite: sqlite3 $work/gateway/spindle.db .tables)"
