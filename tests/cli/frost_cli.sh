#!/usr/bin/env bash
# `keyquorum frost` end to end: dealer-sign signatures for several t/n and messages verify under
# `frost verify` AND the independent pure-Python verifier; tampered signatures, other messages
# and other keys are refused by both; usage errors exit 2; the RFC 9591 vector verifies.
# usage: bash frost_cli.sh <keyquorum-binary> <source-dir>
set -euo pipefail

KQ=${1:?keyquorum binary}
SRC=${2:?source dir}
PYV="$SRC/tests/tools/schnorr_verify.py"
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

# Flip the lowest bit of hex digit number $2 of $1.
flip() {
    local s=$1 i=$2
    local c=${s:i:1}
    local v=$(((16#$c) ^ 1))
    printf '%s%x%s' "${s:0:i}" "$v" "${s:i+1}"
}

python3 "$PYV" --self-test >/dev/null || fail "python verifier self-test"

# RFC 9591 Appendix E.3 (FROST(ristretto255, SHA-512)), message "test".
RFC_PK=e2a62f39eede11269e3bd5a7d97554f5ca384f9f6d3dd9c3c0d05083c7254f57
RFC_SIG=fc45655fbc66bbffad654ea4ce5fdae253a49a64ace25d9adb62010dd9fb25552164141787162e5b4cab915b4aa45d94655dbb9ed7c378a53b980a0be220a802
expect 0 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$RFC_SIG" --msg 74657374
expect 0 python3 "$PYV" "$RFC_PK" "$RFC_SIG" 74657374
expect 1 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$RFC_SIG" --msg 74657375
expect 1 python3 "$PYV" "$RFC_PK" "$RFC_SIG" 74657375

LONG=$(head -c 1000 /dev/zero | od -An -tx1 -v | tr -d ' \n' | sed 's/00/a5/g')
runs=("1 1 " "2 3 74657374" "3 5 deadbeef" "5 7 $LONG" "4 4 00" "2 10 ")
for run in "${runs[@]}"; do
    read -r t n msg <<<"$run" || true
    msg=${msg:-}
    out=$("$KQ" frost dealer-sign -t "$t" -n "$n" --msg "$msg") || {
        fail "dealer-sign -t $t -n $n"
        continue
    }
    pk=$(awk '$1 == "pubkey" { print $2 }' <<<"$out")
    sig=$(awk '$1 == "sig" { print $2 }' <<<"$out")
    [ "${#pk}" -eq 64 ] || fail "pubkey line ($t of $n)"
    [ "${#sig}" -eq 128 ] || fail "sig line ($t of $n)"
    [ "$(wc -l <<<"$out")" -eq 2 ] || fail "exactly two output lines ($t of $n)"
    expect 0 "$KQ" frost verify --pubkey "$pk" --sig "$sig" --msg "$msg"
    expect 0 python3 "$PYV" "$pk" "$sig" "$msg"
    # tampered R, tampered z, another message, another key: refused by both verifiers
    for bad in "$(flip "$sig" 5)" "$(flip "$sig" 70)"; do
        expect 1 "$KQ" frost verify --pubkey "$pk" --sig "$bad" --msg "$msg"
        expect 1 python3 "$PYV" "$pk" "$bad" "$msg"
    done
    expect 1 "$KQ" frost verify --pubkey "$pk" --sig "$sig" --msg "${msg}01"
    expect 1 python3 "$PYV" "$pk" "$sig" "${msg}01"
    expect 1 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$sig" --msg "$msg"
    expect 1 python3 "$PYV" "$RFC_PK" "$sig" "$msg"
done

# Two runs over the same message: fresh keys and hedged nonces, different signatures.
a=$("$KQ" frost dealer-sign -t 2 -n 3 --msg 74657374)
b=$("$KQ" frost dealer-sign -t 2 -n 3 --msg 74657374)
[ "$a" != "$b" ] || fail "two dealer-sign runs gave the same output"

# Usage errors: exit 2 with a message on stderr.
expect 2 "$KQ" frost
expect 2 "$KQ" frost bogus
expect 2 "$KQ" frost dealer-sign -t 2 -n 3
expect 2 "$KQ" frost dealer-sign -t 4 -n 3 --msg 00
expect 2 "$KQ" frost dealer-sign -t 0 -n 3 --msg 00
expect 2 "$KQ" frost dealer-sign -t 2 -n 256 --msg 00
expect 2 "$KQ" frost dealer-sign -t x -n 3 --msg 00
expect 2 "$KQ" frost dealer-sign -t 2 -n 3 --msg 0g
expect 2 "$KQ" frost dealer-sign -t 2 -n 3 --msg 123
expect 2 "$KQ" frost dealer-sign -t 2 -t 2 -n 3 --msg 00
expect 2 "$KQ" frost verify --pubkey "$RFC_PK" --msg 74657374
expect 2 "$KQ" frost verify --pubkey "$RFC_PK" --sig "${RFC_SIG:0:126}" --msg 74657374
expect 2 "$KQ" frost verify --pubkey "${RFC_PK}00" --sig "$RFC_SIG" --msg 74657374
expect 2 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$RFC_SIG" --msg 7465737
expect 2 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$RFC_SIG" --msg xx
expect 2 "$KQ" frost verify --pubkey "$RFC_PK" --sig "$RFC_SIG" --msg 74657374 --extra 1
err=$("$KQ" frost verify --pubkey zz --sig "$RFC_SIG" --msg 00 2>&1 >/dev/null || true)
[ -n "$err" ] || fail "usage error without a message on stderr"
# An invalid (but well-formed) public key is an invalid signature, not a usage error.
expect 1 "$KQ" frost verify --pubkey "$(printf 'f%.0s' {1..64})" --sig "$RFC_SIG" --msg 74657374
expect 1 python3 "$PYV" "$(printf 'f%.0s' {1..64})" "$RFC_SIG" 74657374
expect 2 python3 "$PYV" "$RFC_PK" "$RFC_SIG"

if [ "$fails" -ne 0 ]; then
    echo "frost_cli: $fails failure(s)" >&2
    exit 1
fi
echo "frost_cli: ok"
