#!/usr/bin/env bash
# The install test must be able to fail: plant a wrong apt package name in a copy of the installer and
# check that pi/test.sh fails, naming both its own step and the installer's.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
need_root
mkdir -p "$PI_BUILD"
PI_BUILD="$(cd "$PI_BUILD" && pwd)"
COPY="$PI_BUILD/broken-src"

step "a copy of the project whose installer asks apt for a package that does not exist"
rm -rf "$COPY"
copy_checkout "$(cd "$HERE/.." && pwd)" "$COPY"
sed -i 's/python3 python3-venv python3-pip ca-certificates/python3 python3-venv python3-pip python3-no-such-package ca-certificates/' \
    "$COPY/systemd/install.sh"
grep -q python3-no-such-package "$COPY/systemd/install.sh" || fail "could not plant the broken package name"

step "pi/test.sh on the broken copy must fail, naming the step"
rc=0
PI_SRC="$COPY" PI_RUN=broken bash "$HERE/test.sh" >"$PI_BUILD/broken.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "pi/test.sh passed with a broken installer (log: $PI_BUILD/broken.log)"
grep -q 'FAILED in step "running the installer' "$PI_BUILD/broken.log" || \
    fail "pi/test.sh failed, but not in the installer step (log: $PI_BUILD/broken.log)"
grep -q 'failed during step: installing system packages' "$PI_BUILD/broken.log" || \
    fail "the failure does not name the installer's step (log: $PI_BUILD/broken.log)"
grep 'FAILED in step' "$PI_BUILD/broken.log" | head -1
rm -rf "$COPY"
remove_root "$PI_BUILD/broken/root"
rm -rf "$PI_BUILD/broken"
CURRENT_STEP=done
echo "[pi-test] the broken installer was caught, by step name"
