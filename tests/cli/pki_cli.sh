#!/usr/bin/env bash
# `keyquorum pki` end to end: init writes the documented layout with private keys 0600, every
# certificate verifies under ca.crt with `openssl verify` (strict), profiles are as documented,
# identities in the output and nodes.json match the keys; a second init and bad names exit 2.
# usage: bash pki_cli.sh <keyquorum-binary> <source-dir>
set -euo pipefail

KQ=${1:?keyquorum binary}
TMP=$(mktemp -d /tmp/kq_pki_cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
D="$TMP/pki"
fails=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# expect CODE CMD...: run CMD, check its exit status.
expect() {
    local want=$1 got=0
    shift
    "$@" >/dev/null 2>&1 || got=$?
    [ "$got" -eq "$want" ] || fail "expected exit $want, got $got: $*"
}

# Raw Ed25519 public key (hex) of a PEM key or certificate, computed by openssl alone.
pubhex() {
    local pem=$1
    if grep -q 'BEGIN CERTIFICATE' "$pem"; then
        openssl x509 -in "$pem" -noout -pubkey
    else
        openssl pkey -in "$pem" -pubout
    fi | openssl pkey -pubin -outform DER | tail -c 32 | od -An -tx1 -v | tr -d ' \n'
}

out=$("$KQ" pki init --dir "$D" --nodes 3) || fail "pki init"
for f in ca.crt ca.key node-1.crt node-1.key node-2.crt node-2.key node-3.crt node-3.key \
    admin.crt admin.key nodes.json; do
    [ -f "$D/$f" ] || fail "missing $f"
done
[ ! -e "$D/node-4.crt" ] || fail "--nodes 3 wrote node-4"
[ "$(stat -c %a "$D")" = 700 ] || fail "dir mode $(stat -c %a "$D")"
for k in ca node-1 node-2 node-3 admin; do
    [ "$(stat -c %a "$D/$k.key")" = 600 ] || fail "$k.key mode $(stat -c %a "$D/$k.key")"
    head -1 "$D/$k.key" | grep -qx -- '-----BEGIN PRIVATE KEY-----' || fail "$k.key is not PKCS#8"
    openssl pkey -in "$D/$k.key" -noout -text 2>/dev/null | grep -q ED25519 || fail "$k not Ed25519"
done
for c in node-1 node-2 node-3 admin; do
    openssl verify -x509_strict -CAfile "$D/ca.crt" "$D/$c.crt" >/dev/null 2>&1 ||
        fail "openssl verify $c.crt"
done
# never any key material on stdout
grep -q 'PRIVATE' <<<"$out" && fail "private key material in the output"

# profiles (docs/pki.md)
ca_text=$(openssl x509 -in "$D/ca.crt" -noout -text)
grep -q 'Subject: CN = keyquorum cluster CA' <<<"$ca_text" || fail "CA subject"
grep -q 'CA:TRUE, pathlen:0' <<<"$ca_text" || fail "CA basic constraints"
grep -q 'Certificate Sign, CRL Sign' <<<"$ca_text" || fail "CA key usage"
n1=$(openssl x509 -in "$D/node-1.crt" -noout -text)
grep -q 'Subject: CN = node-1' <<<"$n1" || fail "node subject"
grep -q 'DNS:localhost, IP Address:127.0.0.1' <<<"$n1" || fail "node SAN"
grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' <<<"$n1" || fail "node EKU"
grep -q 'CA:FALSE' <<<"$n1" || fail "node basic constraints"
openssl verify -purpose sslserver -CAfile "$D/ca.crt" "$D/node-2.crt" >/dev/null 2>&1 ||
    fail "node cert not a server cert"
openssl verify -purpose sslclient -CAfile "$D/ca.crt" "$D/node-2.crt" >/dev/null 2>&1 ||
    fail "node cert not a client cert"
adm=$(openssl x509 -in "$D/admin.crt" -noout -text)
grep -q 'Subject: CN = admin' <<<"$adm" || fail "admin subject"
grep -q 'TLS Web Server' <<<"$adm" && fail "admin has serverAuth"
openssl verify -purpose sslserver -CAfile "$D/ca.crt" "$D/admin.crt" >/dev/null 2>&1 &&
    fail "client cert verifies as a server cert"
s1=$(openssl x509 -in "$D/node-1.crt" -noout -serial)
s2=$(openssl x509 -in "$D/node-2.crt" -noout -serial)
[ "$s1" != "$s2" ] || fail "equal serials"

# identities: printed, in nodes.json, and equal to what openssl reads from the keys
for i in 1 2 3; do
    pk=$(pubhex "$D/node-$i.key")
    [ "${#pk}" -eq 64 ] || fail "node-$i public key"
    [ "$(pubhex "$D/node-$i.crt")" = "$pk" ] || fail "node-$i cert key differs from its key"
    grep -q "node-$i .*identity $pk" <<<"$out" || fail "node-$i identity not printed"
    python3 - "$D/nodes.json" "$i" "$pk" <<'EOF' || fail "nodes.json entry $i"
import json, sys
nodes = json.load(open(sys.argv[1]))["nodes"]
i = int(sys.argv[2])
assert [n["id"] for n in nodes] == [1, 2, 3]
n = nodes[i - 1]
assert n == {"id": i, "name": "node-%d" % i, "identity": sys.argv[3]}, n
EOF
done

# a second init is refused with exit 2 and changes nothing
before=$(sha256sum "$D"/*)
err=$("$KQ" pki init --dir "$D" 2>&1 >/dev/null) && fail "second init succeeded"
grep -q "ca.key exists; refusing to overwrite" <<<"$err" || fail "second init message: $err"
expect 2 "$KQ" pki init --dir "$D" --nodes 3
[ "$(sha256sum "$D"/*)" = "$before" ] || fail "second init changed files"

# issue-client
cout=$("$KQ" pki issue-client --dir "$D" --name bob.smith_2) || fail "issue-client"
[ "$(stat -c %a "$D/bob.smith_2.key")" = 600 ] || fail "client key mode"
openssl verify -x509_strict -purpose sslclient -CAfile "$D/ca.crt" "$D/bob.smith_2.crt" \
    >/dev/null 2>&1 || fail "openssl verify client"
grep -q "identity $(pubhex "$D/bob.smith_2.key")" <<<"$cout" || fail "client identity printed"
expect 2 "$KQ" pki issue-client --dir "$D" --name bob.smith_2 # exists
expect 2 "$KQ" pki issue-client --dir "$D" --name admin       # exists
for bad in "" node-1 node-x "a b" "a/b" '$x' "é" \
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; do
    expect 2 "$KQ" pki issue-client --dir "$D" --name "$bad"
done
err=$("$KQ" pki issue-client --dir "$D" --name node-7 2>&1 >/dev/null || true)
grep -q "bad client name" <<<"$err" || fail "bad name message: $err"
expect 0 "$KQ" pki issue-client --dir "$D" --name aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
expect 2 "$KQ" pki issue-client --dir "$TMP/nowhere" --name carol # no CA

# usage errors
expect 2 "$KQ" pki
expect 2 "$KQ" pki bogus
expect 2 "$KQ" pki init
expect 2 "$KQ" pki init --dir "$TMP/x" --nodes 0
expect 2 "$KQ" pki init --dir "$TMP/x" --nodes 65
expect 2 "$KQ" pki init --dir "$TMP/x" --nodes 3x
expect 2 "$KQ" pki init --dir "$TMP/x" --nodes -1
expect 2 "$KQ" pki init --dir "$TMP/x" --dir "$TMP/y"
expect 2 "$KQ" pki init --dir "$TMP/x" --bogus 1
expect 2 "$KQ" pki issue-client --dir "$D"
[ ! -e "$TMP/x" ] || fail "a refused init created its directory"
expect 0 "$KQ" pki --help
# default node count, and the largest
"$KQ" pki init --dir "$TMP/four" >/dev/null || fail "init with the default count"
[ -f "$TMP/four/node-4.key" ] && [ ! -e "$TMP/four/node-5.key" ] || fail "default is 4 nodes"
expect 0 "$KQ" pki init --dir "$TMP/big" --nodes 64

if [ "$fails" -ne 0 ]; then
    echo "pki_cli: $fails failure(s)" >&2
    exit 1
fi
echo "pki_cli: ok"
