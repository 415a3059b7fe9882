#!/usr/bin/env bash
# The ledger on a 4-node dev cluster, multi-process: client identities set, shown (verified by a
# state proof against a certified header) and listed; a non-admin refused; malformed submissions
# refused with JSON errors; kill -9 of one validator and commits go on, its restart catches up to
# a byte-identical chain and equal state roots; kill -9 of two validators stops progress without
# a fork or a loss, their restart resumes it and commits what was submitted meanwhile; every
# node's chain re-verifies from genesis.
# Usage: ledger_cluster.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
# shellcheck source=dev_cluster.bash
source "$(dirname "$0")/dev_cluster.bash"
export KQ_ENV="$D/env" KQ_DEV_DIR="$D"
CURL=(curl -sS --max-time 10 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY")
addr() { echo "$KQ_ADDRS" | cut -d' ' -f"$1"; }
height() { "${CURL[@]}" "$(addr "$1")/v1/ledger/head" | json 'd["height"]'; }
# The block hash covers the whole header (parent, tx root, state root, the carried certificate's
# hash), so equal hashes at a height mean byte-identical blocks. (The certificate stored beside a
# node's tip may legitimately differ: any quorum of precommits commits the block.)
hash_at() { "${CURL[@]}" "$(addr "$1")/v1/ledger/blocks?from=$2&limit=1" | json 'd["blocks"][0]["hash"]'; }

echo "-- client identities: set, show (verified), list"
"$BIN" client set --id alice --roles user --trust 80 --cert "$KQ_CLIENT_CERT" >"$D/out" || fail "client set: $(cat "$D/out")"
grep -q 'committed at height' "$D/out" || fail "no commit reported: $(cat "$D/out")"
"$BIN" client show --id alice | grep -q 'verified against block' || fail "client show alice"
"$BIN" client show --id nobody | grep -q '(absent)' || fail "client show of an absent id"
"$BIN" client list | grep -q '^alice' || fail "client list lacks alice"
[ "$("$BIN" client list -format json | json 'len(d["clients"])')" = 3 ] || fail "client list json (admin, dev, alice)"

echo "-- a non-admin may not set clients: refused, exit 1"
"$BIN" pki issue-client --dir "$D" --name bob >/dev/null
set +e
KQ_CLIENT_CERT="$D/bob.crt" KQ_CLIENT_KEY="$D/bob.key" KQ_ENV= KQ_ADDR="$KQ_ADDR" \
    "$BIN" client set --id eve --cert-sha256 "$(printf '%064d' 0)" 2>"$D/err"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'forbidden' "$D/err" || fail "non-admin client set: exit $rc: $(cat "$D/err")"

echo "-- malformed submissions: JSON errors"
code=$("${CURL[@]}" -o "$D/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"tx":"@@@not base64"}' "$KQ_ADDR/v1/ledger/tx")
[ "$code" = 400 ] || fail "bad base64 gave $code"
code=$("${CURL[@]}" -o "$D/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"tx":"AAAA","wait":true}' "$KQ_ADDR/v1/ledger/tx")
[ "$code" = 400 ] && json 'd["error"]["message"]' <"$D/body" >/dev/null || fail "garbage tx gave $code: $(cat "$D/body")"
code=$("${CURL[@]}" -o "$D/body" -w '%{http_code}' "$KQ_ADDR/v1/ledger/blocks?from=x")
[ "$code" = 400 ] || fail "bad from gave $code"

echo "-- kill -9 one validator: commits continue; restarted, it catches up byte for byte"
kill -KILL "$(cat "$D/node-4/node.pid")"
"$BIN" client set --id carol --token-sha256 "$(printf '%064d' 1)" >/dev/null || fail "no commit with one validator down"
"$BIN" server --config "$D/node-4/config.json" >>"$D/node-4/node.log" 2>&1 &
target=$(height 1)
for _ in $(seq 1 200); do
    h4=$(height 4 2>/dev/null || echo 0)
    [ "$h4" -ge "$target" ] && break
    sleep 0.05
done
[ "$h4" -ge "$target" ] || fail "node 4 did not catch up ($h4 < $target)"
[ "$(hash_at 1 "$target")" = "$(hash_at 4 "$target")" ] || fail "node 4's block $target differs from node 1's"
"$BIN" client show --id carol --addr "$(addr 4)" | grep -q 'verified' || fail "node 4 lacks carol"

echo "-- kill -9 two validators: no progress, no fork; restarted, progress resumes"
kill -KILL "$(cat "$D/node-3/node.pid")" "$(cat "$D/node-4/node.pid")"
sleep 0.3
h1=$(height 1)
"$BIN" client set --id dave --token-sha256 "$(printf '%064d' 2)" >"$D/dave.out" 2>&1 &
DAVE=$!
sleep 2
h1b=$(height 1)
[ "$h1b" = "$h1" ] || fail "height moved from $h1 to $h1b with 2 of 4 validators down"
kill -0 $DAVE 2>/dev/null || fail "a tx committed with 2 of 4 validators down: $(cat "$D/dave.out")"
"$BIN" client show --id dave | grep -q '(absent)' || fail "dave visible before a quorum is back"
"$BIN" server --config "$D/node-3/config.json" >>"$D/node-3/node.log" 2>&1 &
"$BIN" server --config "$D/node-4/config.json" >>"$D/node-4/node.log" 2>&1 &
wait $DAVE || fail "the tx submitted during the outage did not commit after the restart: $(cat "$D/dave.out")"
"$BIN" client show --id dave | grep -q 'verified' || fail "dave not committed after the restart"
target=$(height 1)
for n in 2 3 4; do
    for _ in $(seq 1 400); do [ "$(height $n)" -ge "$target" ] && break; sleep 0.05; done
    [ "$(height $n)" -ge "$target" ] || fail "node $n did not reach height $target"
done
for n in 2 3 4; do
    [ "$(hash_at 1 "$target")" = "$(hash_at $n "$target")" ] || fail "node $n differs from node 1 at height $target"
done

echo "-- every node's chain re-verifies from genesis"
for n in 1 2 3 4; do
    "$BIN" ledger verify --addr "$(addr $n)" >"$D/out" || fail "ledger verify on node $n: $(cat "$D/out")"
done
grep -q 'verified' "$D/out" || fail "no verification summary"

kill -TERM "$DEV_PID"
wait "$DEV_PID" || fail "dev exited non-zero"
DEV_PID=
echo "ledger cluster: all checks passed"
