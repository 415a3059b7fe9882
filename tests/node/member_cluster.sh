#!/usr/bin/env bash
# Membership drives the peer set, multi-process: a 4-node dev cluster with one spare node (in the
# PKI, not in the genesis). Started, the spare reaches nobody (no node has it in its set, and it
# dials no lower id). `keyquorum member add` commits its record; every node then dials it against
# the ledger's pin and it connects to all four, heard alive both ways. A non-admin's add and a
# second add of the same id are refused. A genesis node restarted with a config that does not
# name the new node still connects to it: its peer set comes from the restored ledger state.
# The new node syncs the chain, becomes a validator at the height after its record committed and
# votes: its id shows in later certificates, and with node 4 killed (-9) commits need it (q(5) =
# 4 of 1, 2, 3, 5). Node 4 restarted catches up; the CLI's verified reads follow the set change
# and every node's chain re-verifies from genesis. `member update` retires node 1 (keeper only)
# and `member remove` drops node 4: the set shrinks to 2, 3, 5, which go on committing.
# Usage: member_cluster.sh <keyquorum binary> <source dir>
set -euo pipefail
BIN=$(readlink -f "$1")
DEV_ARGS="--nodes 4 --spare 1"
# shellcheck source=dev_cluster.bash
source "$(dirname "$0")/dev_cluster.bash"
export KQ_ENV="$D/env" KQ_DEV_DIR="$D"
CURL=(curl -sS --max-time 10 --cacert "$KQ_CACERT" --cert "$KQ_CLIENT_CERT" --key "$KQ_CLIENT_KEY")
API5=https://$(json 'd["api"]["listen"]' <"$D/node-5/config.json")
addr() { echo "$KQ_ADDRS" | cut -d' ' -f"$1"; }
health() { "${CURL[@]}" "$1/v1/sys/health"; }
# connected and heard alive: "<id>:<connected>:<alive>" for each peer a node lists
links() { health "$1" | json '" ".join("%d:%d:%d" % (p["id"], p["connected"], p["alive"]) for p in sorted(d["peers"], key=lambda p: p["id"]))'; }
wait_links() { # url expected
    local got=""
    for _ in $(seq 1 300); do
        got=$(links "$1" 2>/dev/null || true)
        [ "$got" = "$2" ] && return 0
        sleep 0.05
    done
    fail "$1 links: '$got', want '$2'"
}

echo "-- the genesis nodes are the members"
[ "$("$BIN" member list -format json | json 'sorted(n["id"] for n in d["nodes"])')" = "[1, 2, 3, 4]" ] ||
    fail "member list: $("$BIN" member list)"

echo "-- the spare starts, and reaches nobody"
"$BIN" server --config "$D/node-5/config.json" >>"$D/node-5/node.log" 2>&1 &
for _ in $(seq 1 200); do health "$API5" >/dev/null 2>&1 && break; sleep 0.05; done
health "$API5" >/dev/null || fail "node 5 does not answer"
[ "$(health "$API5" | json 'd["connected_peers"]')" = 0 ] || fail "node 5 connected before it was added"
[ "$(links "$(addr 1)")" = "2:1:1 3:1:1 4:1:1" ] || fail "node 1 lists a node outside the ledger"

echo "-- a non-admin may not add a node"
"$BIN" pki issue-client --dir "$D" --name bob >/dev/null
set +e
KQ_CLIENT_CERT="$D/bob.crt" KQ_CLIENT_KEY="$D/bob.key" KQ_ENV= KQ_ADDR="$KQ_ADDR" \
    "$BIN" member add --id 5 --roles validator --from-pki "$D" 2>"$D/err"
rc=$?
set -e
[ $rc = 1 ] && grep -q 'forbidden' "$D/err" || fail "non-admin member add: exit $rc: $(cat "$D/err")"

echo "-- member add: every node dials node 5 against the ledger's pin"
"$BIN" member add --id 5 --roles validator,keeper --from-pki "$D" >"$D/out" || fail "member add: $(cat "$D/out")"
grep -q 'node 5 added: tx .* committed at height' "$D/out" || fail "no commit reported: $(cat "$D/out")"
cp "$D/out" "$D/out.add"
"$BIN" member list | grep -q '^node-5 .*\["validator","keeper"\]' || fail "member list lacks node 5"
wait_links "$API5" "1:1:1 2:1:1 3:1:1 4:1:1"
for i in 1 2 3 4; do
    want=$(for j in 1 2 3 4 5; do [ "$j" = "$i" ] || printf '%s:1:1 ' "$j"; done)
    wait_links "$(addr "$i")" "${want% }"
done

echo "-- a second add of the same id is refused"
set +e
"$BIN" member add --id 5 --roles validator --from-pki "$D" >"$D/out" 2>"$D/err"
rc=$?
set -e
[ $rc = 1 ] && grep -qi 'exists' "$D/err" || fail "second add: exit $rc: $(cat "$D/err")"

echo "-- a restarted genesis node takes its peers from the restored state, not its config"
grep -q '"id": 5' "$D/node-1/config.json" && fail "node 1's config names node 5"
kill -TERM "$(cat "$D/node-1/node.pid")"
for _ in $(seq 1 200); do [ -f "$D/node-1/node.pid" ] || break; sleep 0.05; done
"$BIN" server --config "$D/node-1/config.json" >>"$D/node-1/node.log" 2>&1 &
wait_links "$(addr 1)" "2:1:1 3:1:1 4:1:1 5:1:1"
wait_links "$API5" "1:1:1 2:1:1 3:1:1 4:1:1"
echo "-- node 5 syncs the chain and votes"
head_of() { "${CURL[@]}" "$1/v1/ledger/head"; }
added=$(sed -n 's/.*committed at height \([0-9]*\).*/\1/p' "$D/out.add")
[ -n "$added" ] || fail "no add height"
for _ in $(seq 1 300); do
    h5=$(head_of "$API5" 2>/dev/null | json 'd["height"]' || echo 0)
    [ "$h5" -gt "$added" ] && break
    sleep 0.05
done
[ "$h5" -gt "$added" ] || fail "node 5 did not sync past block $added (at $h5)"
[ "$(health "$API5" | json 'd["ledger"]["validator"]')" = True ] || fail "node 5 is not a validator"
[ "$(head_of "$(addr 1)" | json 'd["validators"]')" = 5 ] || fail "the set is not 5 validators"
"$BIN" client set --id dave --roles user --token-sha256 "$(printf '%064d' 7)" >/dev/null || fail "client set"
signed=""
for _ in $(seq 1 100); do
    signed=$("${CURL[@]}" "$(addr 1)/v1/ledger/blocks?from=$((added + 1))&limit=64" |
        json 'any(5 in b["signers"] for b in d["blocks"])')
    [ "$signed" = True ] && break
    sleep 0.1
done
[ "$signed" = True ] || fail "node 5 signed no certificate after block $added"
kill -KILL "$(cat "$D/node-4/node.pid")"
"$BIN" client set --id erin --roles user --token-sha256 "$(printf '%064d' 8)" >"$D/out" ||
    fail "no commit with node 4 down: node 5 must be voting ($(cat "$D/out"))"
"$BIN" server --config "$D/node-4/config.json" >>"$D/node-4/node.log" 2>&1 &
target=$(head_of "$(addr 1)" | json 'd["height"]')
for _ in $(seq 1 300); do
    h4=$(head_of "$(addr 4)" 2>/dev/null | json 'd["height"]' || echo 0)
    [ "$h4" -ge "$target" ] && break
    sleep 0.05
done
[ "$h4" -ge "$target" ] || fail "node 4 did not catch up ($h4 < $target)"

echo "-- verified reads follow the set change; every chain re-verifies from genesis"
"$BIN" client show --id erin | grep -q 'verified against block' || fail "client show erin"
"$BIN" ledger head >/dev/null || fail "ledger head"
[ "$("${CURL[@]}" "$(addr 2)/v1/ledger/valsets" | json 'len(d["changes"])')" = 1 ] || fail "valsets"
for i in 1 2 3 4; do
    "$BIN" ledger verify --addr "$(addr "$i")" >/dev/null || fail "node $i's chain does not verify"
done
"$BIN" ledger verify --addr "$API5" >/dev/null || fail "node 5's chain does not verify"

echo "-- member update retires node 1 as a validator; member remove drops node 4"
"$BIN" member update --id 1 --roles keeper >"$D/out" || fail "member update: $(cat "$D/out")"
grep -q 'node 1 updated: tx .* committed' "$D/out" || fail "no update reported: $(cat "$D/out")"
[ "$(head_of "$(addr 2)" | json 'd["validators"]')" = 4 ] || fail "the set is not 4 after the update"
[ "$(health "$(addr 1)" | json 'd["ledger"]["validator"]')" = False ] || fail "node 1 still validates"
"$BIN" member list | grep -q '^node-1 .*\["keeper"\]' || fail "member list: node 1 is not a keeper only"
"$BIN" member remove --id 4 >"$D/out" || fail "member remove: $(cat "$D/out")"
"$BIN" member list -format json | json 'sorted(n["id"] for n in d["nodes"])' | grep -qx '\[1, 2, 3, 5\]' ||
    fail "member list after remove: $("$BIN" member list)"
[ "$(head_of "$(addr 2)" | json 'd["validators"]')" = 3 ] || fail "the set is not 3 after the removal"
"$BIN" client set --id frank --roles user --token-sha256 "$(printf '%064d' 9)" >/dev/null ||
    fail "no commit by validators 2, 3 and 5"
set +e
"$BIN" member update --id 4 --roles keeper >"$D/out" 2>"$D/err"
rc=$?
"$BIN" member update --id 2 >"$D/out" 2>>"$D/err"
rc2=$?
set -e
[ $rc = 1 ] && grep -q 'no such node' "$D/err" || fail "update of a removed node: exit $rc: $(cat "$D/err")"
[ $rc2 = 2 ] || fail "update without a change: exit $rc2"
"$BIN" ledger verify --addr "$(addr 2)" >/dev/null || fail "node 2's chain does not verify"
echo "PASS"
