#!/usr/bin/env bash
# Threshold keys end to end on a 4-node dev cluster, through the HTTP API (docs/api.md "Keys"):
# create (DKG on the ledger), datakey, encrypt, decrypt (and every refusal: another context, a
# tampered ciphertext, the wrong type, an unknown version, the wrong usage, a non-admin key op),
# rewrap, sign (the signature also verifies with an independent Schnorr check), derive (same
# context and version: same key), rotate by consensus (old ciphertexts still decrypt), refresh
# (new epoch, same public key, old and new ciphertexts decrypt), a keeper killed (-9) in the
# middle of a stream of decrypts (every one succeeds through a spare), a keeper whose store is
# wiped (restored by resharing: with another keeper down it is needed and serves), scheduled
# deletion with cancel.
# Usage: keys_cluster.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
SRC=$(readlink -f "$2")
# shellcheck source=dev_cluster.bash
source "$SRC/tests/node/dev_cluster.bash"
ADMIN=(curl -sS --max-time 40 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY")
addr() { echo "$KQ_ADDRS" | cut -d' ' -f"$1"; }
# post <node> <path> <json>: prints "<status> <body>"
post() { "${ADMIN[@]}" -o "$D/body" -w '%{http_code}' -H 'Content-Type: application/json' -X POST --data "$3" "$(addr "$1")$2" >"$D/code"; echo "$(cat "$D/code") $(cat "$D/body")"; }
get() { "${ADMIN[@]}" "$(addr "$1")$2"; }
del() { "${ADMIN[@]}" -o "$D/body" -w '%{http_code}' -X DELETE "$(addr "$1")$2" >"$D/code"; echo "$(cat "$D/code") $(cat "$D/body")"; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().split(' ',1)[1]); print($1)"; }
status() { cut -d' ' -f1; }
expect() { # expect <want status> <what> <"status body">
    local got; got=$(echo "$3" | status)
    [ "$got" = "$1" ] || fail "$2: want HTTP $1, got $3"
}
wait_version_active() { # <name> <version>
    for _ in $(seq 1 400); do
        s=$(get 1 "/v1/keys/$1" | json "[v['state'] for v in d['versions'] if v['version']==$2][0] if any(v['version']==$2 for v in d['versions']) else ''")
        [ "$s" = active ] && return 0
        sleep 0.05
    done
    fail "key $1 version $2 not active: $(get 1 "/v1/keys/$1")"
}

echo "-- create: DKG over the ledger, version 1 active with 4 keepers"
r=$(post 1 /v1/keys '{"name":"orders","usage":"encrypt","n":4,"t":3}')
expect 201 "create orders" "$r"
[ "$(echo "$r" | field 'd["key"]["versions"][0]["state"]')" = active ] || fail "v1 not active: $r"
[ "$(echo "$r" | field 'len(d["key"]["versions"][0]["keepers"])')" = 4 ] || fail "not 4 keepers: $r"
S1=$(echo "$r" | field 'd["key"]["versions"][0]["public_key"]')
expect 409 "a second create of the same name" "$(post 2 /v1/keys '{"name":"orders","usage":"encrypt"}')"
expect 400 "a bad usage" "$(post 1 /v1/keys '{"name":"x","usage":"fly"}')"
expect 400 "t > n" "$(post 1 /v1/keys '{"name":"x","usage":"encrypt","n":2,"t":3}')"
get 2 /v1/keys | json '[k["name"] for k in d["keys"]]' | grep -q orders || fail "list lacks orders"
[ "$(get 3 /v1/keys/orders | json 'd["versions"][0]["public_key"]')" = "$S1" ] || fail "node 3 disagrees on S"

echo "-- a client without the admin role may use keys but not create them"
"$BIN" pki issue-client --dir "$D" --name bob >/dev/null
BOB=(curl -sS --max-time 20 --cacert "$KQ_CACERT" --cert "$D/bob.crt" --key "$D/bob.key" -H 'Content-Type: application/json')
code=$("${BOB[@]}" -o /dev/null -w '%{http_code}' -X POST --data '{"name":"b","usage":"sign"}' "$KQ_ADDR/v1/keys")
[ "$code" = 403 ] || fail "non-admin create: HTTP $code"
code=$(curl -sS --cacert "$KQ_CACERT" -o /dev/null -w '%{http_code}' "$KQ_ADDR/v1/keys")
[ "$code" = 401 ] || fail "anonymous list: HTTP $code"

echo "-- datakey, decrypt; another context, a tampered ciphertext, the wrong type are refused"
r=$(post 1 /v1/keys/orders/datakey '{"context":{"tenant":"acme","table":"orders"}}')
expect 200 datakey "$r"
CT=$(echo "$r" | field 'd["ciphertext"]')
PT=$(echo "$r" | field 'd["plaintext"]')
case "$CT" in kq:v1:*) ;; *) fail "ciphertext form: $CT" ;; esac
r=$(post 2 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT\",\"context\":{\"table\":\"orders\",\"tenant\":\"acme\"}}")
expect 200 decrypt "$r"
[ "$(echo "$r" | field 'd["plaintext"]')" = "$PT" ] || fail "decrypt gave another key"
r=$(post 3 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT\",\"context\":{\"tenant\":\"evil\",\"table\":\"orders\"}}")
expect 400 "decrypt under another context" "$r"
TAMPERED=$(python3 -c "import base64,sys; p,v,b=sys.argv[1].split(':'); x=bytearray(base64.b64decode(b)); x[-1]^=1; print(p+':'+v+':'+base64.b64encode(bytes(x)).decode())" "$CT")
expect 400 "a tampered ciphertext" "$(post 1 /v1/keys/orders/decrypt "{\"ciphertext\":\"$TAMPERED\",\"context\":{\"tenant\":\"acme\",\"table\":\"orders\"}}")"
expect 400 "garbage" "$(post 1 /v1/keys/orders/decrypt '{"ciphertext":"kq:v1:AAAA","context":{}}')"
V9=$(echo "$CT" | sed 's/^kq:v1:/kq:v9:/')
r=$(post 1 /v1/keys/orders/decrypt "{\"ciphertext\":\"$V9\",\"context\":{\"tenant\":\"acme\",\"table\":\"orders\"}}")
case "$(echo "$r" | status)" in 400|404) ;; *) fail "unknown version: $r" ;; esac
r=$(post 1 /v1/keys/orders/encrypt '{"plaintext":"aGVsbG8gd29ybGQ=","context":{"k":"v"}}')
expect 200 encrypt "$r"
DCT=$(echo "$r" | field 'd["ciphertext"]')
r=$(post 4 /v1/keys/orders/decrypt "{\"ciphertext\":\"$DCT\",\"context\":{\"k\":\"v\"}}")
expect 200 "decrypt data" "$r"
[ "$(echo "$r" | field 'd["plaintext"]')" = aGVsbG8gd29ybGQ= ] || fail "data round trip: $r"
r=$("${BOB[@]}" -w ' %{http_code}' -X POST --data "{\"ciphertext\":\"$DCT\",\"context\":{\"k\":\"v\"}}" "$KQ_ADDR/v1/keys/orders/decrypt")
case "$r" in *' 200') ;; *) fail "a user-role client may decrypt: $r" ;; esac
expect 400 "sign with an encrypt key" "$(post 1 /v1/keys/orders/sign '{"message":"aGk="}')"

echo "-- sign (FROST): the signature verifies as Schnorr under the version's key"
expect 201 "create a sign key" "$(post 1 /v1/keys '{"name":"releases","usage":"sign"}')"
r=$(post 2 /v1/keys/releases/sign '{"message":"cmVsZWFzZSAxLjAuMA=="}')
expect 200 sign "$r"
SIG=$(echo "$r" | field 'd["signature"]')
SPK=$(echo "$r" | field 'd["public_key"]')
r=$(post 3 /v1/keys/releases/verify "{\"message\":\"cmVsZWFzZSAxLjAuMA==\",\"signature\":\"$SIG\"}")
[ "$(echo "$r" | field 'd["valid"]')" = True ] || fail "verify: $r"
r=$(post 3 /v1/keys/releases/verify "{\"message\":\"cmVsZWFzZSAxLjAuMQ==\",\"signature\":\"$SIG\"}")
[ "$(echo "$r" | field 'd["valid"]')" = False ] || fail "verify of another message: $r"
hex() { python3 -c "import base64,sys; print(base64.b64decode(sys.argv[1]).hex())" "$1"; }
python3 "$SRC/tests/tools/schnorr_verify.py" "$(hex "$SPK")" "$(hex "$SIG")" "$(hex cmVsZWFzZSAxLjAuMA==)" ||
    fail "independent Schnorr check"

echo "-- derive: the same context and version give the same key; another context another"
expect 201 "create a derive key" "$(post 1 /v1/keys '{"name":"sessions","usage":"derive"}')"
K1=$(post 1 /v1/keys/sessions/derive '{"context":{"user":"42"}}' | field 'd["key"]')
K2=$(post 4 /v1/keys/sessions/derive '{"context":{"user":"42"},"version":1}' | field 'd["key"]')
K3=$(post 2 /v1/keys/sessions/derive '{"context":{"user":"43"}}' | field 'd["key"]')
[ "$K1" = "$K2" ] && [ "$K1" != "$K3" ] || fail "derive: $K1 $K2 $K3"
E5=$(post 1 /v1/keys/sessions/derive '{"epoch":5}' | field 'd["key"]')
E5b=$(post 3 /v1/keys/sessions/derive '{"epoch":5,"version":1}' | field 'd["key"]')
E6=$(post 2 /v1/keys/sessions/derive '{"epoch":6}' | field 'd["key"]')
[ "$E5" = "$E5b" ] && [ "$E5" != "$E6" ] && [ "$E5" != "$K1" ] || fail "per-epoch keys: $E5 $E5b $E6"
expect 400 "a reserved context key" "$(post 1 /v1/keys/sessions/derive '{"context":{"keyquorum/epoch":"5"}}')"

echo "-- rotate by consensus: version 2 becomes active; version 1 ciphertexts still decrypt"
r=$(post 1 /v1/keys/orders/rotate '{}')
expect 202 rotate "$r"
wait_version_active orders 2
CT2=$(post 2 /v1/keys/orders/datakey '{"context":{"tenant":"acme"}}' | field 'd["ciphertext"]')
case "$CT2" in kq:v2:*) ;; *) fail "after rotation: $CT2" ;; esac
r=$(post 3 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT\",\"context\":{\"tenant\":\"acme\",\"table\":\"orders\"}}")
[ "$(echo "$r" | field 'd["plaintext"]')" = "$PT" ] || fail "v1 after rotation: $r"
r=$(post 1 /v1/keys/orders/rewrap "{\"ciphertext\":\"$CT\",\"context\":{\"tenant\":\"acme\",\"table\":\"orders\"}}")
expect 200 rewrap "$r"
echo "$r" | grep -q plaintext && fail "rewrap returned a plaintext"
RW=$(echo "$r" | field 'd["ciphertext"]')
case "$RW" in kq:v2:*) ;; *) fail "rewrap version: $RW" ;; esac
r=$(post 4 /v1/keys/orders/decrypt "{\"ciphertext\":\"$RW\",\"context\":{\"tenant\":\"acme\",\"table\":\"orders\"}}")
[ "$(echo "$r" | field 'd["plaintext"]')" = "$PT" ] || fail "rewrapped decrypt: $r"

echo "-- refresh: a new epoch, the same public keys, old and new ciphertexts decrypt"
E0=$(get 1 /v1/keys/orders | json 'd["versions"][1]["epoch"]')
expect 202 refresh "$(post 1 /v1/sys/refresh '{}')"
for _ in $(seq 1 400); do
    E1=$(get 1 /v1/keys/orders | json 'min(v["epoch"] for v in d["versions"])')
    [ "$E1" -gt "$E0" ] && break
    sleep 0.05
done
[ "$E1" -gt "$E0" ] || fail "no refresh: $(get 1 /v1/keys/orders)"
[ "$(get 2 /v1/keys/orders | json 'd["versions"][0]["public_key"]')" = "$S1" ] || fail "S changed"
for c in "$CT" "$CT2"; do
    r=$(post 2 /v1/keys/orders/decrypt "{\"ciphertext\":\"$c\",\"context\":{\"tenant\":\"acme\"$( [ "$c" = "$CT" ] && echo ',"table":"orders"')}}")
    expect 200 "decrypt after refresh" "$r"
done

echo "-- a keeper killed (-9) while decrypts run: every decrypt succeeds through a spare"
(
    for i in $(seq 1 30); do
        r=$(post 1 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT2\",\"context\":{\"tenant\":\"acme\"}}")
        echo "$r" | status
    done
) >"$D/stream" &
SP=$!
sleep 0.3
kill -KILL "$(cat "$D/node-4/node.pid")"
wait "$SP"
[ "$(grep -c '^200$' "$D/stream")" = 30 ] || fail "decrypts during the kill: $(sort "$D/stream" | uniq -c)"
"$BIN" server --config "$D/node-4/config.json" >>"$D/node-4/node.log" 2>&1 &

echo "-- a keeper whose store is wiped is restored by resharing"
kill -KILL "$(cat "$D/node-3/node.pid")"
sleep 0.2
rm -f "$D"/node-3/node.db*
"$BIN" server --config "$D/node-3/config.json" >>"$D/node-3/node.log" 2>&1 &
for _ in $(seq 1 600); do
    n=$(get 1 /v1/keys/orders | json 'd["versions"][1]["epoch"]')
    [ "$n" -gt "$E1" ] && break
    sleep 0.05
done
[ "$n" -gt "$E1" ] || fail "no reshare after the wipe: $(get 1 /v1/keys/orders)"
sleep 1
kill -KILL "$(cat "$D/node-4/node.pid")"   # keepers 1, 2, 3 must now serve: 3 holds a new share
r=$(post 1 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT2\",\"context\":{\"tenant\":\"acme\"}}")
expect 200 "decrypt needing the restored keeper" "$r"

echo "-- an admin reshares a key to a smaller committee: same public key, decrypts with t of the new n"
node_up() { # restart node 4 (killed above) so every keeper answers again
    "$BIN" server --config "$D/node-4/config.json" >>"$D/node-4/node.log" 2>&1 &
}
node_up
EB=$(get 1 /v1/keys/orders | json 'd["versions"][1]["epoch"]')
expect 202 reshare "$(post 1 /v1/keys/orders/reshare '{"n":3,"t":2}')"
for _ in $(seq 1 600); do
    n=$(get 1 /v1/keys/orders | json 'len(d["versions"][1]["keepers"]) if d["versions"][1]["epoch"] > '"$EB"' else 0')
    [ "$n" = 3 ] && break
    sleep 0.05
done
[ "$n" = 3 ] || fail "no reshare to 3 keepers: $(get 1 /v1/keys/orders)"
[ "$(get 2 /v1/keys/orders | json 'd["versions"][0]["public_key"]')" = "$S1" ] || fail "S changed by the reshare"
[ "$(get 2 /v1/keys/orders | json 'd["versions"][1]["t"]')" = 2 ] || fail "t after the reshare"
r=$(post 2 /v1/keys/orders/decrypt "{\"ciphertext\":\"$CT2\",\"context\":{\"tenant\":\"acme\"}}")
expect 200 "decrypt after the reshare" "$r"
expect 400 "a reshare with t > n" "$(post 1 /v1/keys/orders/reshare '{"n":2,"t":3}')"

echo "-- scheduled deletion, cancelled; then deleted"
expect 202 delete "$(del 1 /v1/keys/sessions)"
expect 409 "derive while pending deletion" "$(post 1 /v1/keys/sessions/derive '{"context":{"user":"42"}}')"
expect 200 "cancel deletion" "$(post 1 /v1/keys/sessions/cancel-deletion '{}')"
expect 200 "derive after cancel" "$(post 1 /v1/keys/sessions/derive '{"context":{"user":"42"}}')"
echo "-- no key material in any log: neither a data key nor a derived key appears"
for secret in "$PT" "$K1" "$E5"; do
    if grep -rqF "$secret" "$D"/node-*/node.log "$D/dev.out"; then
        fail "a secret reached a log: $secret"
    fi
done
echo "ok"
