# Shared by the multi-process tests (sourced, not run: ctest runs *.sh only). Starts a 4-node
# `keyquorum dev` cluster in a fresh directory $D, waits for its env file and sources it; on exit
# stops the launcher and kills any node still running, then removes $D. Provides fail and json.
# Needs BIN (the keyquorum binary) set by the caller; DEV_ARGS (default "--nodes 4") may add
# launcher options such as --spare.
D=$(mktemp -d /tmp/kq-test.XXXXXX)
DEV_PID=
cleanup() {
    if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
        kill -TERM "$DEV_PID" 2>/dev/null || true
        wait "$DEV_PID" 2>/dev/null || true
    fi
    for f in "$D"/node-*/node.pid; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    rm -rf "$D"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for l in "$D"/node-*/node.log; do
        echo "== $l" >&2
        grep -v '"level":"debug"' "$l" | tail -n 20 >&2 || true
    done
    exit 1
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# shellcheck disable=SC2086
"$BIN" dev ${DEV_ARGS:---nodes 4} --dir "$D" >"$D/dev.out" 2>&1 &
DEV_PID=$!
for _ in $(seq 1 600); do
    [ -f "$D/env" ] && break
    kill -0 "$DEV_PID" 2>/dev/null || { cat "$D/dev.out" >&2; fail "dev exited early"; }
    sleep 0.05
done
[ -f "$D/env" ] || fail "dev cluster not healthy within 30 s"
# shellcheck disable=SC1091
source "$D/env"

# Issues a client certificate for $1 and an X25519 keypair ($D/$1.x.hex holds the secret, hex), and
# records $1 on the ledger with the user role and that key: its decryptions use sealed delivery.
# Needs KQ_ENV (the cluster's env file) exported.
sealed_client() {
    local name=$1
    "$BIN" pki issue-client --dir "$D" --name "$name" >/dev/null
    openssl genpkey -algorithm X25519 -out "$D/$name.x.pem" 2>/dev/null
    openssl pkey -in "$D/$name.x.pem" -noout -text 2>/dev/null | python3 -c '
import sys, re
t = sys.stdin.read()
def grab(label):
    m = re.search(label + r":\s*((?:[0-9a-f]{2}:?\s*)+)", t)
    return re.sub(r"[^0-9a-f]", "", m.group(1))
open(sys.argv[1], "w").write(grab("priv") + "\n")
open(sys.argv[2], "w").write(grab("pub") + "\n")' "$D/$name.x.hex" "$D/$name.xpub.hex"
    "$BIN" client set --id "$name" --roles user --trust 90 --cert "$D/$name.crt" \
        --x25519 "$(cat "$D/$name.xpub.hex")" >/dev/null
}
