#!/usr/bin/env bash
# Sealed delivery with a lying keeper, multi-process: node 4's keeper signs wrong partials
# (keyquorum dev --byzantine-keeper 4) and node 1 is stopped, so every quorum of 3 includes keeper
# 4. A client with a registered X25519 key decrypts through the library: the orchestrator only
# relays sealed partials, so the client finds the liar itself, reports its signed response
# (POST /v1/evidence), and the validators quarantine keeper 4; the key is reshared away from it and
# the client's retry succeeds. A response whose proof holds is refused as evidence (400).
# Usage: keys_sealed_evidence.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
SRC=$(readlink -f "$2")
DEV_ARGS="--nodes 4 --byzantine-keeper 4"
# shellcheck source=dev_cluster.bash
source "$SRC/tests/node/dev_cluster.bash"
export KQ_ENV="$D/env" KQ_DEV_DIR="$D"
addr() { echo "$KQ_ADDRS" | cut -d' ' -f"$1"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ADMIN=(curl -sS --max-time 30 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY" -H 'Content-Type: application/json')

echo "-- a key and a sealed-delivery client (carol)"
"$BIN" key create k -usage encrypt -n 4 -t 3 >/dev/null
sealed_client carol
CT=$("$BIN" datakey k -context a=b | field '["ciphertext"]')

echo "-- what is not a keeper's signed false response is refused as evidence (400)"
R=$("${ADMIN[@]}" --data '{"key":"k","version":1,"epoch":1,"keeper":2,"response":"AAAA"}' -o /dev/null -w '%{http_code}' "$KQ_ADDR/v1/evidence")
[ "$R" = 400 ] || fail "junk evidence: HTTP $R"

echo "-- node 1 stops: every quorum includes the lying keeper 4"
kill -TERM "$(cat "$D/node-1/node.pid")"
CAROL=(env KQ_TOKEN= KQ_ADDR="$(addr 2)" KQ_CLIENT_CERT="$D/carol.crt" KQ_CLIENT_KEY="$D/carol.key" KQ_X25519_KEY="$D/carol.x.hex")
set +e
"${CAROL[@]}" "$BIN" decrypt k -ciphertext "$CT" -context a=b >"$D/out" 2>"$D/err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'keeper 4 sealed a false partial; it was reported as evidence' "$D/err" ||
    fail "the client did not catch and report keeper 4: rc $rc $(cat "$D/err") $(cat "$D/out")"

echo "-- the validators quarantine keeper 4 on the client's evidence; the retry succeeds"
for _ in $(seq 1 200); do
    q=$("${ADMIN[@]}" "$(addr 2)/v1/keepers" | json '[k["quarantined"] for k in d["keepers"] if k["id"]==4][0]' 2>/dev/null || true)
    [ "$q" = True ] && break
    sleep 0.05
done
[ "$q" = True ] || fail "keeper 4 not quarantined"
"$BIN" server --config "$D/node-1/config.json" >>"$D/node-1/node.log" 2>&1 &
for _ in $(seq 1 400); do
    k=$("${ADMIN[@]}" "$(addr 2)/v1/keys/k" | json 'd["versions"][0]["keepers"]' 2>/dev/null || true)
    case "$k" in *4*|"") sleep 0.05 ;; *) break ;; esac
done
case "$k" in *4*|"") fail "not reshared away from keeper 4: $k" ;; esac
PT=$("${CAROL[@]}" "$BIN" decrypt k -ciphertext "$CT" -context a=b | field '["plaintext"]')
[ -n "$PT" ] || fail "carol's retry"
echo "ok"
