#!/usr/bin/env bash
# Installs every Debian package that building and testing keyquorum need. Idempotent; needs root
# (or sudo) on Debian 12. Does nothing when everything is already present.
# Usage: scripts/deps.sh [fuzz]   (fuzz adds clang, for `make fuzz`'s libFuzzer builds)
set -euo pipefail
PKGS=(build-essential cmake pkg-config libsodium-dev libdecaf-dev libcmocka-dev libssl-dev libevent-dev
      libjansson-dev libsqlite3-dev libcurl4-openssl-dev python3 curl openssl valgrind)
[ "${1:-}" = fuzz ] && PKGS+=(clang)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
