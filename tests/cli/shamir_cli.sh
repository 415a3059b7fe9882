# keyquorum shamir split/combine end to end: every k-subset round-trips, k-1 shares do not, bad
# input exits 2 with a message, and shares made by HashiCorp Vault's own code combine.
# Usage: bash shamir_cli.sh <keyquorum-binary> <source-dir>
set -euo pipefail

KQ=$1
SRC=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

die() {
    echo "FAIL: $*" >&2
    exit 1
}

randhex() { # randhex BYTES
    head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'
}

# expect_fail NAME STDIN-FILE ARGS...: exit code 2 and a message on stderr.
expect_fail() {
    local name=$1 input=$2 rc=0
    shift 2
    "$KQ" shamir "$@" <"$input" >"$TMP/out" 2>"$TMP/err" || rc=$?
    [ "$rc" -eq 2 ] || die "$name: exit $rc, want 2"
    [ -s "$TMP/err" ] || die "$name: no message on stderr"
    [ ! -s "$TMP/out" ] || die "$name: printed something on stdout"
}

# lines FILE I J ...: the given 1-based lines of FILE.
lines() {
    local f=$1
    shift
    for i in "$@"; do sed -n "${i}p" "$f"; done
}

# ---- round trips -------------------------------------------------------------------------
secret=$(randhex 32)
echo "$secret" | "$KQ" shamir split -k 3 -n 5 >"$TMP/shares"
[ "$(wc -l <"$TMP/shares")" -eq 5 ] || die "split printed $(wc -l <"$TMP/shares") shares, want 5"
[ "$(sort -u "$TMP/shares" | wc -l)" -eq 5 ] || die "shares not distinct"
for a in 1 2 3 4 5; do
    for b in $(seq $((a + 1)) 5); do
        for c in $(seq $((b + 1)) 5); do
            got=$(lines "$TMP/shares" "$a" "$b" "$c" | "$KQ" shamir combine)
            [ "$got" = "$secret" ] || die "shares $a $b $c did not give the secret"
        done
        # k - 1 = 2 shares combine to something else
        got=$(lines "$TMP/shares" "$a" "$b" | "$KQ" shamir combine)
        [ "$got" != "$secret" ] || die "2 of a 3-of-5 split gave the secret"
    done
done
got=$("$KQ" shamir combine <"$TMP/shares")
[ "$got" = "$secret" ] || die "all 5 shares did not give the secret"
got=$(lines "$TMP/shares" 5 1 4 2 | "$KQ" shamir combine)
[ "$got" = "$secret" ] || die "4 shares in another order did not give the secret"
# blank lines and surrounding blanks (CRLF too) are ignored
got=$(printf '\n  %s \r\n\n%s\r\n%s\n\n' "$(lines "$TMP/shares" 1)" "$(lines "$TMP/shares" 3)" \
    "$(lines "$TMP/shares" 5)" | "$KQ" shamir combine)
[ "$got" = "$secret" ] || die "blank lines were not ignored"
# uppercase hex in, lowercase hex out
got=$(lines "$TMP/shares" 1 2 3 | tr a-f A-F | "$KQ" shamir combine)
[ "$got" = "$secret" ] || die "uppercase shares did not combine"

# sizes and extremes: 1 byte 2-of-2, 255-of-255, and the largest secret
secret=ab
got=$(echo "$secret" | "$KQ" shamir split -n 2 -k 2 | "$KQ" shamir combine)
[ "$got" = "$secret" ] || die "1-byte 2-of-2 round trip"
secret=$(randhex 32)
echo "$secret" | "$KQ" shamir split -k 255 -n 255 >"$TMP/many"
[ "$(wc -l <"$TMP/many")" -eq 255 ] || die "255 shares expected"
[ "$("$KQ" shamir combine <"$TMP/many")" = "$secret" ] || die "255-of-255 round trip"
[ "$(head -n 254 "$TMP/many" | "$KQ" shamir combine)" != "$secret" ] || die "254 of 255 shares"
randhex 65536 >"$TMP/big"
echo >>"$TMP/big"
"$KQ" shamir split -k 2 -n 3 <"$TMP/big" >"$TMP/bigshares"
got=$(lines "$TMP/bigshares" 3 1 | "$KQ" shamir combine)
[ "$got" = "$(head -c 131072 "$TMP/big")" ] || die "64 KiB round trip"

# ---- bad input: exit 2 and a message -----------------------------------------------------
echo 00112233 >"$TMP/ok"
: >"$TMP/empty"
echo zz >"$TMP/nothex"
echo 001 >"$TMP/odd"
printf '0011\n2233\n' >"$TMP/two"
randhex 65537 >"$TMP/toobig"
echo >>"$TMP/toobig"
head -c 200000 /dev/zero | tr '\0' 'a' >"$TMP/toolong"
echo >>"$TMP/toolong"
expect_fail "no subcommand" "$TMP/ok"
expect_fail "unknown subcommand" "$TMP/ok" splat
expect_fail "missing -n" "$TMP/ok" split -k 2
expect_fail "missing -k" "$TMP/ok" split -n 3
expect_fail "missing value" "$TMP/ok" split -k 2 -n
expect_fail "unknown option" "$TMP/ok" split -k 2 -n 3 -x 1
expect_fail "repeated option" "$TMP/ok" split -k 2 -k 2 -n 3
expect_fail "k not a number" "$TMP/ok" split -k two -n 3
expect_fail "negative k" "$TMP/ok" split -k -2 -n 3
expect_fail "k = 1" "$TMP/ok" split -k 1 -n 3
expect_fail "k > n" "$TMP/ok" split -k 4 -n 3
expect_fail "n = 256" "$TMP/ok" split -k 2 -n 256
expect_fail "n too many digits" "$TMP/ok" split -k 2 -n 0003
expect_fail "empty stdin" "$TMP/empty" split -k 2 -n 3
expect_fail "secret not hex" "$TMP/nothex" split -k 2 -n 3
expect_fail "secret odd hex" "$TMP/odd" split -k 2 -n 3
expect_fail "two secret lines" "$TMP/two" split -k 2 -n 3
expect_fail "secret over 64 KiB" "$TMP/toobig" split -k 2 -n 3
expect_fail "split line too long" "$TMP/toolong" split -k 2 -n 3
expect_fail "combine extra argument" "$TMP/shares" combine -k 3
expect_fail "combine empty" "$TMP/empty" combine
lines "$TMP/shares" 1 >"$TMP/one"
expect_fail "one share" "$TMP/one" combine
lines "$TMP/shares" 1 2 1 >"$TMP/dup"
expect_fail "duplicate share" "$TMP/dup" combine
{ lines "$TMP/shares" 1; lines "$TMP/shares" 2 | sed 's/..$/00/'; } >"$TMP/zero"
expect_fail "x = 0" "$TMP/zero" combine
{ lines "$TMP/shares" 1; lines "$TMP/shares" 2 | sed 's/^..//'; } >"$TMP/lens"
expect_fail "different lengths" "$TMP/lens" combine
{ lines "$TMP/shares" 1; lines "$TMP/shares" 2 | sed 's/^./g/'; } >"$TMP/badshare"
expect_fail "share not hex" "$TMP/badshare" combine
{ lines "$TMP/shares" 1; lines "$TMP/shares" 2 | sed 's/^.//'; } >"$TMP/oddshare"
expect_fail "share odd hex" "$TMP/oddshare" combine
printf '01\n02\n' >"$TMP/short"
expect_fail "shares too short" "$TMP/short" combine
expect_fail "combine line too long" "$TMP/toolong" combine
for i in $(seq 1 256); do printf '00%02x\n' $((i % 256)); done >"$TMP/toomany"
expect_fail "more than 255 shares" "$TMP/toomany" combine

# ---- HashiCorp Vault's shares -----------------------------------------------------------
vec="$SRC/tests/vectors/shamir_vault.txt"
cases=0
while read -r tag k n sec; do
    [ "$tag" = case ] || continue
    grep -A "$n" "^case $k $n $sec\$" "$vec" | tail -n "$n" | sed 's/^share //' >"$TMP/vault"
    [ "$(wc -l <"$TMP/vault")" -eq "$n" ] || die "vault case $k-of-$n: $n shares expected"
    got=$(head -n "$k" "$TMP/vault" | "$KQ" shamir combine)
    [ "$got" = "$sec" ] || die "vault case $k-of-$n: first $k shares"
    got=$(tail -n "$k" "$TMP/vault" | "$KQ" shamir combine)
    [ "$got" = "$sec" ] || die "vault case $k-of-$n: last $k shares"
    got=$("$KQ" shamir combine <"$TMP/vault")
    [ "$got" = "$sec" ] || die "vault case $k-of-$n: all shares"
    if [ "$k" -gt 2 ]; then
        got=$(head -n $((k - 1)) "$TMP/vault" | "$KQ" shamir combine)
        [ "$got" != "$sec" ] || die "vault case $k-of-$n: k-1 shares gave the secret"
    fi
    cases=$((cases + 1))
done <"$vec"
[ "$cases" -eq 5 ] || die "expected 5 vault cases, read $cases"

echo "shamir CLI: all checks passed"
