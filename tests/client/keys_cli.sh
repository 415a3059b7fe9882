#!/usr/bin/env bash
# The key CLI (libkeyquorum's twins) on a 4-node dev cluster: key create/list/show (the active
# public key verified by proof), a data key wrapped locally (-local, no round trip) that decrypts
# through the cluster, another context refused (exit 1), sign and verify (a wrong message: exit 1),
# derive twice equal, key watch seeing a rotation, rewrap, usage errors (exit 2), min-version,
# delete (every operation refused) and cancel-deletion, an unknown key (exit 1), and sealed
# delivery: a client whose ledger record holds an X25519 key gets only sealed partials from the
# cluster (the HTTP reply carries no plaintext) and the library combines them.
# Usage: keys_cli.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
SRC=$(readlink -f "$2")
# shellcheck source=../node/dev_cluster.bash
source "$SRC/tests/node/dev_cluster.bash"
export KQ_ENV="$D/env" KQ_DEV_DIR="$D"
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "-- key create, list, show (verified)"
"$BIN" key create orders -usage encrypt -n 4 -t 3 >"$D/out" || fail "create: $(cat "$D/out")"
[ "$(field '["key"]["active_version"]' <"$D/out")" = 1 ] || fail "create: $(cat "$D/out")"
"$BIN" key list -format json | field '["keys"][0]["name"]' | grep -qx orders || fail "list"
"$BIN" key show orders | grep -q 'active version 1 public key .* (verified against a certified block)' || fail "show"

echo "-- a data key wrapped locally decrypts through the cluster; another context is refused"
"$BIN" datakey orders -local -context tenant=acme >"$D/dk"
CT=$(field '["ciphertext"]' <"$D/dk")
PT=$(field '["plaintext"]' <"$D/dk")
[ "$("$BIN" decrypt orders -ciphertext "$CT" -context tenant=acme | field '["plaintext"]')" = "$PT" ] ||
    fail "a local wrap does not decrypt"
set +e
"$BIN" decrypt orders -ciphertext "$CT" -context tenant=evil 2>"$D/err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q bad_proof "$D/err" || fail "another context: rc $rc $(cat "$D/err")"

echo "-- sign and verify; derive"
"$BIN" key create rel -usage sign >/dev/null
SIG=$("$BIN" sign rel -message aGVsbG8= | field '["signature"]')
"$BIN" verify rel -message aGVsbG8= -signature "$SIG" | grep -q '"valid":true' || fail "verify"
set +e
"$BIN" verify rel -message aGVsbG9v -signature "$SIG" >"$D/out"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q '"valid":false' "$D/out" || fail "verify of another message: rc $rc"
"$BIN" key create der -usage derive >/dev/null
K1=$("$BIN" derive der -context user=1 | field '["key"]')
K2=$("$BIN" derive der -context user=1 -version 1 | field '["key"]')
[ "$K1" = "$K2" ] || fail "derive is not repeatable"

echo "-- key watch sees a rotation; old ciphertexts rewrap to the new version"
"$BIN" key watch orders -count 2 >"$D/watch" &
W=$!
sleep 0.5
"$BIN" key rotate orders >/dev/null
wait "$W"
grep -q 'orders version 2 active' "$D/watch" || fail "watch: $(cat "$D/watch")"
RW=$("$BIN" rewrap orders -ciphertext "$CT" -context tenant=acme | field '["ciphertext"]')
case "$RW" in kq:v2:*) ;; *) fail "rewrap: $RW" ;; esac
[ "$("$BIN" decrypt orders -ciphertext "$RW" -context tenant=acme | field '["plaintext"]')" = "$PT" ] ||
    fail "rewrapped ciphertext"

echo "-- usage errors exit 2"
set +e
"$BIN" decrypt orders 2>/dev/null; [ $? = 2 ] || fail "decrypt without -ciphertext"
"$BIN" key create x -usage fly 2>/dev/null; [ $? = 2 ] || fail "a bad usage"
"$BIN" datakey 2>/dev/null; [ $? = 2 ] || fail "no name"
set -e

echo "-- sealed delivery: carol's partials are sealed to her X25519 key and combined by the library"
sealed_client carol
CURL=(curl -sS --max-time 20 --cacert "$KQ_CACERT" --cert "$D/carol.crt" --key "$D/carol.key" -H 'Content-Type: application/json')
"${CURL[@]}" --data "{\"ciphertext\":\"$RW\",\"context\":{\"tenant\":\"acme\"}}" "$KQ_ADDR/v1/keys/orders/decrypt" >"$D/raw"
grep -q '"sealed"' "$D/raw" || fail "carol's reply is not sealed: $(cat "$D/raw")"
grep -q '"plaintext"' "$D/raw" && fail "the orchestrator returned a plaintext to a sealed client"
GOT=$(KQ_TOKEN= KQ_CLIENT_CERT="$D/carol.crt" KQ_CLIENT_KEY="$D/carol.key" KQ_X25519_KEY="$D/carol.x.hex" \
    "$BIN" decrypt orders -ciphertext "$RW" -context tenant=acme | field '["plaintext"]')
[ "$GOT" = "$PT" ] || fail "carol's library did not combine the sealed partials"
set +e
KQ_TOKEN= KQ_CLIENT_CERT="$D/carol.crt" KQ_CLIENT_KEY="$D/carol.key" "$BIN" decrypt orders \
    -ciphertext "$RW" -context tenant=acme 2>"$D/err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'X25519' "$D/err" || fail "sealed without the secret: rc $rc $(cat "$D/err")"

echo "-- the version-1 ciphertext still decrypts after the rotation; min-version"
[ "$("$BIN" decrypt orders -ciphertext "$CT" -context tenant=acme | field '["plaintext"]')" = "$PT" ] ||
    fail "the version-1 ciphertext no longer decrypts after a rotation"
"$BIN" key min-version orders -version 2 | field '["at_ms"]' >/dev/null || fail "min-version"
set +e
"$BIN" key min-version orders 2>/dev/null; [ $? = 2 ] || fail "min-version without -version"
set -e

echo "-- delete refuses every operation until cancel-deletion"
state() { "$BIN" key show "$1" -format json | field '["state"]'; }
wait_state() { # NAME STATE: the committed state, polled (the DELETE reply is 202)
    for _ in $(seq 100); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.2; done
    fail "$1 never reached state $2 (now $(state "$1"))"
}
"$BIN" key delete orders | field '["delete_at_ms"]' >/dev/null || fail "delete"
wait_state orders pending_deletion
set +e
"$BIN" decrypt orders -ciphertext "$RW" -context tenant=acme 2>"$D/err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q pending_deletion "$D/err" || fail "decrypt while pending deletion: rc $rc $(cat "$D/err")"
"$BIN" key cancel-deletion orders >/dev/null || fail "cancel-deletion"
wait_state orders enabled
[ "$("$BIN" decrypt orders -ciphertext "$RW" -context tenant=acme | field '["plaintext"]')" = "$PT" ] ||
    fail "decrypt after cancel-deletion"
set +e
"$BIN" key show nosuchkey 2>"$D/err"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q not_found "$D/err" || fail "show of an unknown key: rc $rc $(cat "$D/err")"
echo "ok"
