#!/usr/bin/env bash
# libkeyquorum installs with its header and pkg-config file, and a program built only from those
# (cc $(pkg-config --cflags --libs keyquorum)) links and runs: opening a client and a verified read
# without a trust root fails with its reason, not a crash.
# Usage: install.sh <keyquorum binary> <source dir>
set -euo pipefail
BUILD=$(dirname "$(readlink -f "$1")")
P=$(mktemp -d /tmp/kq-install.XXXXXX)
trap 'rm -rf "$P"' EXIT
cmake --install "$BUILD" --prefix "$P/prefix" >/dev/null
[ -f "$P/prefix/include/keyquorum.h" ] && [ -f "$P/prefix/lib/libkeyquorum.a" ] &&
    [ -f "$P/prefix/lib/pkgconfig/keyquorum.pc" ] || { echo "FAIL: install incomplete" >&2; exit 1; }
cat >"$P/t.c" <<'C'
#include <keyquorum.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    kq_client *c = NULL;
    struct kq_client_config cfg = {.url = "https://127.0.0.1:1", .ca_file = "/nonexistent"};
    if (kq_client_open(&c, &cfg) != 0)
        return 1;
    unsigned char pk[KQ_PUBLIC_KEY_BYTES];
    int rc = kq_key_public(c, "orders", 0, pk, NULL);
    int ok = rc != 0 && strstr(kq_client_error(c), "genesis") != NULL;
    printf("%s\n", kq_client_error(c));
    kq_client_close(c);
    return ok ? 0 : 1;
}
C
# an instrumented (ASan/UBSan) library needs its runtime in the program too
SAN=()
grep -q '^KQ_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" && SAN=(-fsanitize=address,undefined)
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "${SAN[@]}" "$P/t.c" -o "$P/t" $(PKG_CONFIG_PATH="$P/prefix/lib/pkgconfig" pkg-config --cflags --libs keyquorum)
"$P/t" | grep -q "genesis" || { echo "FAIL: the installed library misbehaves" >&2; exit 1; }
echo "ok"
