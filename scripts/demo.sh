#!/usr/bin/env bash
# `make demo`: the main flows on a local cluster. Starts a 4-node dev cluster, shows that every
# node is healthy and connected over mutually authenticated TLS, that the API refuses a caller
# without credentials, commits a client identity on the BFT ledger and reads it back verified
# (certificate and state proof), re-verifies the chain, adds a fifth node to the validators by a
# membership transaction (it syncs and votes), runs the narrated threshold-cryptography demo, and
# stops the cluster.
# Usage: scripts/demo.sh <build dir>
set -euo pipefail
BUILD=${1:-build}
BIN=$(readlink -f "$BUILD/keyquorum")
D=$(mktemp -d /tmp/kq-demo.XXXXXX)
DEV_PID=
N5_PID=
cleanup() {
    if [ -n "$N5_PID" ]; then kill -TERM "$N5_PID" 2>/dev/null || true; wait "$N5_PID" 2>/dev/null || true; fi
    if [ -n "$DEV_PID" ]; then kill -TERM "$DEV_PID" 2>/dev/null || true; wait "$DEV_PID" 2>/dev/null || true; fi
    rm -rf "$D"
}
trap cleanup EXIT

echo "== 1. a local cluster: keyquorum dev --nodes 4 (and a spare fifth node, not started)"
"$BIN" dev --nodes 4 --spare 1 --dir "$D" &
DEV_PID=$!
for _ in $(seq 1 600); do
    [ -f "$D/env" ] && break
    kill -0 "$DEV_PID" 2>/dev/null || { echo "demo: the dev cluster failed to start" >&2; exit 1; }
    sleep 0.05
done
[ -f "$D/env" ] || { echo "demo: the dev cluster was not healthy in 30 s" >&2; exit 1; }
# shellcheck disable=SC1091
source "$D/env"
CURL=(curl -sS --max-time 5 --cacert "$KQ_CACERT")

echo
echo "== 2. health of every node, with the admin client certificate"
for a in $KQ_ADDRS; do
    "${CURL[@]}" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY" "$a/v1/sys/health" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("  %s  status=%s  peers %d/%d  incarnation %d  roles %s" % (d["name"], d["status"], d["connected_peers"], d["peers_expected"], d["incarnation"], ",".join(d["roles"])))'
done

echo
echo "== 3. the same request with the bearer token, then with no credentials at all"
"${CURL[@]}" -o /dev/null -w '  with the token:          HTTP %{http_code}\n' -H "Authorization: Bearer $KQ_TOKEN" "$KQ_ADDR/v1/sys/health"
"${CURL[@]}" -w '\n' -o /tmp/kq-demo-401.$$ "$KQ_ADDR/v1/sys/health" >/dev/null || true
code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$KQ_ADDR/v1/sys/health")
echo "  without credentials:     HTTP $code  $(cat /tmp/kq-demo-401.$$)"
rm -f /tmp/kq-demo-401.$$
[ "$code" = 401 ] || { echo "demo: an unauthenticated request was not refused" >&2; exit 1; }

echo
echo "== 4. the BFT ledger: a client identity committed by consensus, read back with a proof"
export KQ_ENV="$D/env" KQ_DEV_DIR="$D"
"$BIN" client set --id alice --roles user --trust 80 --cert "$KQ_CLIENT_CERT" | sed 's/^/  /'
"$BIN" client show --id alice | sed 's/^/  /'
"$BIN" ledger head | sed 's/^/  /'
"$BIN" ledger verify | sed 's/^/  /'

echo
echo "== 5. membership: node 5 joins the validators by a transaction the ledger commits"
"$BIN" server --config "$D/node-5/config.json" >>"$D/node-5/node.log" 2>&1 &
N5_PID=$!
"$BIN" member add --id 5 --roles validator,keeper | sed 's/^/  /'
API5=https://$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"]["listen"])' "$D/node-5/config.json")
ADMIN=(--cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY")
for _ in $(seq 1 200); do
    v=$("${CURL[@]}" "${ADMIN[@]}" "$API5/v1/sys/health" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ledger"]["validator"])' 2>/dev/null || true)
    [ "$v" = True ] && break
    sleep 0.05
done
[ "$v" = True ] || { echo "demo: node 5 did not become a validator" >&2; exit 1; }
"$BIN" client set --id bob --roles user --trust 60 --token-sha256 "$(printf '%064d' 5)" | sed 's/^/  /'
signed=""
for _ in $(seq 1 100); do
    signed=$("${CURL[@]}" "${ADMIN[@]}" "$API5/v1/ledger/head" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("  node 5 at height %d, one of %d validators; the head block is certified by %s" % (d["height"], d["validators"], d["head"]["signers"]))')
    case "$signed" in *5]*|*" 5,"*) break ;; esac
    sleep 0.1
done
echo "$signed"
"$BIN" member list | sed 's/^/  /'

echo
echo "== 6. the threshold cryptography the keepers will run (narrated, every claim checked)"
"$BIN" demo

echo
echo "== 7. stopping the cluster"
kill -TERM "$N5_PID"
wait "$N5_PID" || true
N5_PID=
kill -TERM "$DEV_PID"
wait "$DEV_PID"
DEV_PID=
echo "demo: done"
