#!/usr/bin/env bash
# A keeper that lies, multi-process: node 4's keeper signs wrong partials (keyquorum dev
# --byzantine-keeper 4, a fault-injection switch). Every decrypt still succeeds; the orchestrator
# that caught it names it and submits its own signed response as evidence; every validator
# re-verifies the evidence (the same fault count on all four nodes' committed state), the keeper
# is quarantined, and the key is reshared away from it (its public key unchanged).
# Usage: keys_byzantine.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
SRC=$(readlink -f "$2")
DEV_ARGS="--nodes 4 --byzantine-keeper 4"
# shellcheck source=dev_cluster.bash
source "$SRC/tests/node/dev_cluster.bash"
ADMIN=(curl -sS --max-time 40 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY" -H 'Content-Type: application/json')
addr() { echo "$KQ_ADDRS" | cut -d' ' -f"$1"; }

echo "-- a key whose committee includes the lying keeper"
r=$("${ADMIN[@]}" -X POST --data '{"name":"k","usage":"encrypt","n":4,"t":3}' "$KQ_ADDR/v1/keys")
S=$(echo "$r" | json 'd["key"]["versions"][0]["public_key"]')
echo "$r" | json 'd["key"]["versions"][0]["keepers"]' | grep -q 4 || fail "keeper 4 not chosen: $r"
CT=$("${ADMIN[@]}" -X POST --data '{"context":{"a":"b"}}' "$KQ_ADDR/v1/keys/k/datakey" | json 'd["ciphertext"]')

echo "-- every decrypt succeeds, through every orchestrator"
for i in $(seq 1 12); do
    n=$(( (i % 4) + 1 ))
    code=$("${ADMIN[@]}" -o "$D/out" -w '%{http_code}' -X POST --data "{\"ciphertext\":\"$CT\",\"context\":{\"a\":\"b\"}}" "$(addr $n)/v1/keys/k/decrypt")
    [ "$code" = 200 ] || fail "decrypt $i via node $n: HTTP $code $(cat "$D/out")"
done

echo "-- the evidence is committed and re-verified by every validator: keeper 4 quarantined"
for _ in $(seq 1 200); do
    q=$("${ADMIN[@]}" "$(addr 1)/v1/keepers" | json '[k["quarantined"] for k in d["keepers"] if k["id"]==4][0]')
    [ "$q" = True ] && break
    sleep 0.05
done
[ "$q" = True ] || fail "keeper 4 not quarantined: $("${ADMIN[@]}" "$(addr 1)/v1/keepers")"
for n in 1 2 3 4; do
    f=$("${ADMIN[@]}" "$(addr $n)/v1/keepers" | json '[k["faults"] for k in d["keepers"] if k["id"]==4][0]')
    [ "$f" -ge 1 ] || fail "node $n's state records no fault of keeper 4"
    f=$("${ADMIN[@]}" "$(addr $n)/v1/keepers" | json '[k["faults"] for k in d["keepers"] if k["id"]!=4]')
    [ "$f" = "[0, 0, 0]" ] || fail "honest keepers blamed on node $n: $f"
done
grep -h '"event":"keeper_faulty"' "$D"/node-*/node.log | grep -q '"keeper":4' || fail "no orchestrator named keeper 4 in its log"

echo "-- the key is reshared away from keeper 4, with the same public key"
for _ in $(seq 1 400); do
    k=$("${ADMIN[@]}" "$KQ_ADDR/v1/keys/k" | json 'd["versions"][0]["keepers"]')
    case "$k" in *4*) sleep 0.05 ;; *) break ;; esac
done
case "$k" in *4*) fail "still held by keeper 4: $k" ;; esac
[ "$("${ADMIN[@]}" "$KQ_ADDR/v1/keys/k" | json 'd["versions"][0]["public_key"]')" = "$S" ] || fail "S changed"
code=$("${ADMIN[@]}" -o "$D/out" -w '%{http_code}' -X POST --data "{\"ciphertext\":\"$CT\",\"context\":{\"a\":\"b\"}}" "$KQ_ADDR/v1/keys/k/decrypt")
[ "$code" = 200 ] || fail "decrypt after the reshare: HTTP $code $(cat "$D/out")"
echo "ok"
