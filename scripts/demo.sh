#!/usr/bin/env bash
# `make demo`: the main flows on a local cluster. Starts a 4-node dev cluster, shows that every
# node is healthy and connected over mutually authenticated TLS, that the API refuses a caller
# without credentials, commits a client identity on the BFT ledger and reads it back verified
# (certificate and state proof), re-verifies the chain, adds a fifth node to the validators by a
# membership transaction (it syncs and votes), then the keys: create (DKG over the ledger),
# datakey, a local wrap, decrypt, a replay under another context refused, sign and verify, derive,
# rotate by consensus, refresh, old and new ciphertexts decrypting, and the ledger records of it
# all verified by proof; then the narrated threshold-cryptography demo, and stops the cluster.
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
echo "== 6. threshold keys end to end: no machine ever holds the master key"
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
echo "-- create: the DKG runs over the ledger (deals, complaints and deadlines in blocks)"
"$BIN" key create orders -usage encrypt -n 4 -t 3 |
    J '"  key %s: version %d active, public key %s, keepers %s, epoch %d" % (d["key"]["name"], d["key"]["active_version"], d["key"]["versions"][0]["public_key"], d["key"]["versions"][0]["keepers"], d["key"]["versions"][0]["epoch"])'
echo "-- datakey through the cluster, and a data key wrapped locally (no round trip)"
"$BIN" datakey orders -context tenant=acme -context table=orders >"$D/dk1"
"$BIN" datakey orders -local -context tenant=acme >"$D/dk2"
CT1=$(J 'd["ciphertext"]' <"$D/dk1"); PT1=$(J 'd["plaintext"]' <"$D/dk1")
CT2=$(J 'd["ciphertext"]' <"$D/dk2"); PT2=$(J 'd["plaintext"]' <"$D/dk2")
echo "  cluster datakey: ${CT1:0:48}...  local wrap: ${CT2:0:48}..."
echo "-- decrypt through 3 of 4 keepers (each checks the wrapper's proof and the context first)"
[ "$("$BIN" decrypt orders -ciphertext "$CT2" -context tenant=acme | J 'd["plaintext"]')" = "$PT2" ] &&
    echo "  the locally wrapped key decrypts through the cluster: same data key"
echo "-- the same ciphertext replayed under another context is refused"
if "$BIN" decrypt orders -ciphertext "$CT1" -context tenant=evil -context table=orders 2>"$D/err"; then
    echo "demo: a replay under another context was not refused" >&2; exit 1
fi
sed 's/^/  /' "$D/err"
echo "-- sign with FROST (t of n keepers), verify here and with an independent verifier"
"$BIN" key create releases -usage sign >/dev/null
SIG=$("$BIN" sign releases -message cmVsZWFzZSAxLjAuMA== | J 'd["signature"]')
"$BIN" verify releases -message cmVsZWFzZSAxLjAuMA== -signature "$SIG" | sed 's/^/  verify: /'
PK=$("$BIN" key show releases -format json | J 'd["versions"][0]["public_key"]')
hex() { python3 -c "import base64,sys; print(base64.b64decode(sys.argv[1]).hex())" "$1"; }
python3 "$(dirname "$0")/../tests/tools/schnorr_verify.py" "$(hex "$PK")" "$(hex "$SIG")" \
    "$(hex cmVsZWFzZSAxLjAuMA==)" && echo "  independent RFC 9591 verifier: valid"
echo "-- derive per-context keys (a threshold PRF; every keeper's proof verified)"
"$BIN" key create sessions -usage derive >/dev/null
echo "  user 42: $("$BIN" derive sessions -context user=42 | J 'd["key"]')"
echo "  user 42: $("$BIN" derive sessions -context user=42 | J 'd["key"]') (the same)"
echo "  user 43: $("$BIN" derive sessions -context user=43 | J 'd["key"]')"
echo "-- rotate by consensus: version 2 is generated by a new DKG and activates at a committed height"
"$BIN" key watch orders -count 2 >"$D/watch" &
WATCH=$!
sleep 0.3
"$BIN" key rotate orders | J '"  rotation proposed: version %d generating" % d["version"]'
wait "$WATCH"
sed 's/^/  watch: /' "$D/watch"
echo "-- refresh: every key's shares are re-randomized into a new epoch; public keys unchanged"
E0=$("$BIN" key show orders -format json | J 'd["versions"][0]["epoch"]')
curl -sS --max-time 30 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY" \
    -X POST "$KQ_ADDR/v1/sys/refresh" | J '"  refresh committed: the ledger is now in epoch %d" % d["epoch"]'
for _ in $(seq 1 200); do
    E1=$("$BIN" key show orders -format json | J 'min(v["epoch"] for v in d["versions"])')
    [ "$E1" -gt "$E0" ] && break
    sleep 0.05
done
"$BIN" key show orders -format json |
    J '"\n".join("  version %d: %s, epoch %d, public key %s" % (v["version"], v["state"], v["epoch"], v["public_key"]) for v in d["versions"])'
echo "-- ciphertexts made before the rotation and before the refresh still decrypt"
[ "$("$BIN" decrypt orders -ciphertext "$CT1" -context tenant=acme -context table=orders | J 'd["plaintext"]')" = "$PT1" ] &&
    echo "  version-1 ciphertext (epoch $E0) decrypts after the refresh"
CT3=$("$BIN" encrypt orders -plaintext aGVsbG8gd29ybGQ= -context k=v | J 'd["ciphertext"]')
echo "  new ciphertext ${CT3:0:10}... decrypts to: $("$BIN" decrypt orders -ciphertext "$CT3" -context k=v | J 'd["plaintext"]')"
echo "-- the ledger entries that record it all, each verified by its proof against a certified block"
for k in key/orders keyv/orders/1 keyv/orders/2 epoch; do
    "$BIN" ledger proof --key "$k" | head -1 | sed 's/^/  /'
done
"$BIN" ledger head | sed 's/^/  /'

echo
echo "== 7. the threshold cryptography the keepers run (narrated, every claim checked)"
"$BIN" demo

echo
echo "== 8. stopping the cluster"
kill -TERM "$N5_PID"
wait "$N5_PID" || true
N5_PID=
kill -TERM "$DEV_PID"
wait "$DEV_PID"
DEV_PID=
echo "demo: done"
