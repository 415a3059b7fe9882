#!/usr/bin/env bash
# Multi-process test of the runtime: a 4-node dev cluster on loopback. Checks that every node is
# healthy and sees 3 peers; that the API refuses a caller without a client certificate or token
# and accepts either; JSON errors for malformed JSON, unknown paths and bad auth; that a half-sent
# request is cut by the read timeout while the node keeps serving; that a node killed with -9 is
# seen dead by the others, and once restarted is reconnected with a higher incarnation; and that
# SIGTERM to the launcher stops every node cleanly.
# Usage: cluster.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
# shellcheck source=dev_cluster.bash
source "$(dirname "$0")/dev_cluster.bash"
grep -q "4 nodes healthy" "$D/dev.out" || fail "no summary printed"
[ "$(stat -c %a "$D/env")" = 600 ] || fail "env file not 0600"
CURL=(curl -sS --max-time 5 --cacert "$KQ_CACERT")
AUTH=(--cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY")

echo "-- every node is healthy and sees 3 peers"
for a in $KQ_ADDRS; do
    h=$("${CURL[@]}" "${AUTH[@]}" "$a/v1/sys/health")
    [ "$(echo "$h" | json 'd["connected_peers"]')" = 3 ] || fail "$a sees fewer than 3 peers: $h"
    [ "$(echo "$h" | json 'd["status"]')" = ok ] || fail "$a not ok: $h"
    echo "$h" | json 'd["versions"]["keyquorum"], d["roles"]' >/dev/null
done

echo "-- keyquorum status: every node ok (text and -format json); no env: exit 2"
"$BIN" status --env "$D/env" >"$D/status" || fail "status exit $? on a healthy cluster: $(cat "$D/status")"
[ "$(grep -c ' ok ' "$D/status")" = 4 ] || fail "status does not list 4 ok nodes: $(cat "$D/status")"
[ "$("$BIN" status --env "$D/env" -format json | json 'd["ok"] and len(d["nodes"])')" = 4 ] || fail "status json"
set +e; (unset KQ_ENV KQ_ADDR KQ_CACERT; "$BIN" status >/dev/null 2>&1); rc=$?; set -e
[ $rc = 2 ] || fail "status without any cluster settings: exit $rc, want 2"

echo "-- no client certificate and no token: 401 with a JSON error"
code=$("${CURL[@]}" -o "$D/body" -w '%{http_code}' "$KQ_ADDR/v1/sys/health")
[ "$code" = 401 ] || fail "expected 401 without credentials, got $code"
[ "$(json 'd["error"]["code"]' <"$D/body")" = unauthenticated ] || fail "bad error body: $(cat "$D/body")"

echo "-- a bearer token works; a wrong one does not"
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KQ_TOKEN" "$KQ_ADDR/v1/sys/health")
[ "$code" = 200 ] || fail "token refused: $code"
code=$("${CURL[@]}" -o "$D/body" -w '%{http_code}' -H "Authorization: Bearer kqt_wrong" "$KQ_ADDR/v1/sys/health")
[ "$code" = 401 ] || fail "wrong token accepted: $code"

echo "-- a certificate from another CA is refused at the handshake"
"$BIN" pki init --dir "$D/other" --nodes 1 >/dev/null
if "${CURL[@]}" --cert "$D/other/admin.crt" --key "$D/other/admin.key" -o /dev/null "$KQ_ADDR/v1/sys/health" 2>/dev/null; then
    fail "a certificate from another CA was accepted"
fi

echo "-- malformed JSON: 400 with a JSON error; unknown path 404; wrong method 405"
code=$("${CURL[@]}" "${AUTH[@]}" -o "$D/body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data '{"level": "debug"' "$KQ_ADDR/v1/sys/log")
[ "$code" = 400 ] || fail "malformed JSON gave $code"
json 'd["error"]["code"], d["error"]["message"]' <"$D/body" >/dev/null || fail "400 body not JSON"
code=$("${CURL[@]}" "${AUTH[@]}" -o "$D/body" -w '%{http_code}' "$KQ_ADDR/v1/nope")
[ "$code" = 404 ] && json 'd["error"]["code"]' <"$D/body" >/dev/null || fail "unknown path gave $code"
code=$("${CURL[@]}" "${AUTH[@]}" -o "$D/body" -w '%{http_code}' -X POST "$KQ_ADDR/v1/sys/health")
[ "$code" = 405 ] || fail "wrong method gave $code"
code=$("${CURL[@]}" "${AUTH[@]}" -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    --data '{"level":"info"}' "$KQ_ADDR/v1/sys/log")
[ "$code" = 200 ] || fail "valid log level change gave $code"

echo "-- kill -9 a node: the others see it dead; restarted, it is reconnected"
victim=3
vpid=$(cat "$D/node-$victim/node.pid")
inc_before=$("${CURL[@]}" "${AUTH[@]}" "$(echo "$KQ_ADDRS" | cut -d' ' -f$victim)/v1/sys/health" | json 'd["incarnation"]')
kill -KILL "$vpid"
for _ in $(seq 1 200); do
    n=$("${CURL[@]}" "${AUTH[@]}" "$KQ_ADDR/v1/sys/health" | json 'd["connected_peers"]')
    [ "$n" = 2 ] && break
    sleep 0.05
done
[ "$n" = 2 ] || fail "node 1 still sees $n peers after node $victim was killed"
set +e; "$BIN" status --env "$D/env" >"$D/status"; rc=$?; set -e
[ $rc = 1 ] && grep -q DOWN "$D/status" || fail "status with a node down: exit $rc: $(cat "$D/status")"
"$BIN" server --config "$D/node-$victim/config.json" >>"$D/node-$victim/node.log" 2>&1 &
for _ in $(seq 1 200); do
    all=1
    for a in $KQ_ADDRS; do
        n=$("${CURL[@]}" "${AUTH[@]}" "$a/v1/sys/health" 2>/dev/null | json 'd["connected_peers"]' 2>/dev/null || echo x)
        [ "$n" = 3 ] || all=0
    done
    [ $all = 1 ] && break
    sleep 0.05
done
[ $all = 1 ] || fail "the restarted node was not reconnected to all peers"
inc_after=$("${CURL[@]}" "${AUTH[@]}" "$(echo "$KQ_ADDRS" | cut -d' ' -f$victim)/v1/sys/health" | json 'd["incarnation"]')
[ "$inc_after" -gt "$inc_before" ] || fail "incarnation did not increase ($inc_before -> $inc_after)"
grep -q '"event":"peer_restarted"' "$D/node-1/node.log" || grep -q '"event":"peer_alive","peer":3' "$D/node-1/node.log" ||
    fail "node 1 did not log the peer's return"

echo "-- logs are JSON lines and carry no token"
for l in "$D"/node-*/node.log; do
    python3 -c "
import json,sys
for line in open(sys.argv[1]):
    json.loads(line)
" "$l" || fail "$l has a line that is not JSON"
    ! grep -q "$KQ_TOKEN" "$l" || fail "$l contains the token"
done

echo "-- SIGTERM stops the launcher and every node"
pids=$(cat "$D"/node-*/node.pid)
kill -TERM "$DEV_PID"
wait "$DEV_PID" || fail "dev exited non-zero on SIGTERM"
DEV_PID=
for p in $pids; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$p" 2>/dev/null && fail "node pid $p still running after dev stopped"
done
[ ! -f "$D/env" ] || fail "env left behind after stop"
for l in "$D"/node-*/node.log; do
    grep -q '"event":"stopped"' "$l" || fail "$l: the node did not stop gracefully"
    # Every line, including what is written at exit (a sanitizer report would not be JSON).
    python3 -c "
import json,sys
for line in open(sys.argv[1]):
    json.loads(line)
" "$l" || fail "$l has a line that is not JSON after the stop"
done
echo "cluster: all checks passed"
