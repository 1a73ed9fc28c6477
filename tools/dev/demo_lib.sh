# Shared by the demo scripts (sourced): ports, and starting spindle-gateway and waiting
# until its API answers. The caller sets `build` and `work`; this sets coap_port,
# http_port, api_url and, for each start, gateway_pid.
# shellcheck shell=bash
: "${build:?demo_lib.sh: the caller sets build}" "${work:?demo_lib.sh: the caller sets work}"
coap_port=$(( 20000 + RANDOM % 20000 ))
http_port=$(( coap_port + 1 ))
api_url="http://127.0.0.1:$http_port"

start_gateway() {  # extra spindle-gateway flags...
  "$build/gateway/app/spindle-gateway" --data-dir "$work/gateway" --coap-port "$coap_port" \
    --http-port "$http_port" --log-level warn "$@" 2>>"$work/gateway.log" &
  # shellcheck disable=SC2034  # read by the scripts that source this one
  gateway_pid=$!
  for _ in $(seq 100); do
    curl -sf "$api_url/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "gateway did not start; see $work/gateway.log" >&2
  exit 1
}
