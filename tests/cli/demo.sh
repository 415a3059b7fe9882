#!/usr/bin/env bash
# The narrated demo checks every claim it prints and exits non-zero on any surprise; run it.
# Usage: bash demo.sh <keyquorum-binary> <source-dir>
set -euo pipefail
bin=$1
out=$("$bin" demo)
grep -q 'demo complete: every step behaved as narrated' <<<"$out"
grep -q 'keeper 2 named' <<<"$out"
# no data-key bytes are printed: only fingerprints
! grep -qi 'data key [0-9a-f]\{16\}' <<<"$out"
"$bin" demo extra-arg >/dev/null 2>&1 && { echo "demo accepted a stray argument"; exit 1; }
echo "demo: 1 passed, 0 failed"
