#!/usr/bin/env bash
# Build (once) and cache a Raspberry Pi OS-like arm64 Debian bookworm root: what a freshly flashed
# Pi OS Lite has that our installer relies on (python3, systemd, apt, users and groups), nothing more.
# The cache is $PI_BUILD/base; delete it to rebuild. Cold: debootstrap's second stage runs under qemu.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
need_root

BASE="$PI_BUILD/base"
if [ -f "$BASE/.complete" ]; then
    echo "[pi-test] cached arm64 root: $BASE (delete it to rebuild)"
    exit 0
fi

step "host tools (debootstrap, qemu-user-static, binfmt)"
host_tools

step "debootstrap --arch=$PI_ARCH $PI_SUITE (cold; several minutes under emulation)"
remove_root "$BASE"
mkdir -p "$PI_BUILD"
start=$(date +%s)
# The mirror is Debian's default (debootstrap's own), as on any Debian machine; the Pi-specific
# repository (picamera2) is deliberately absent: the installer must handle a Pi without it.
debootstrap --arch="$PI_ARCH" --variant=minbase \
    --include=systemd,python3,ca-certificates,sudo,procps,iproute2 \
    "$PI_SUITE" "$BASE" >"$PI_BUILD/debootstrap.log" 2>&1 || {
        tail -20 "$PI_BUILD/debootstrap.log" >&2
        fail "debootstrap failed (log: $PI_BUILD/debootstrap.log)"
    }

step "the Pi's first user (pi, in sudo, password-less sudo as Pi OS sets it up)"
in_root "$BASE" useradd --create-home --shell /bin/bash --groups sudo pi
echo "pi ALL=(ALL) NOPASSWD: ALL" > "$BASE/etc/sudoers.d/010_pi-nopasswd"
chmod 0440 "$BASE/etc/sudoers.d/010_pi-nopasswd"
echo "raspberrypi" > "$BASE/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n' > "$BASE/etc/hosts"

# Networks that intercept TLS (as this build machine's does) need their CA in the root too, exactly
# as a Pi on such a network would: local CAs go to /usr/local/share/ca-certificates.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    step "trusting this network's local CA certificates"
    cp /usr/local/share/ca-certificates/*.crt "$BASE/usr/local/share/ca-certificates/"
    in_root "$BASE" update-ca-certificates >/dev/null
fi
# apt on this network reads a pinned archive snapshot whose Release files are past Valid-Until.
for f in /etc/apt/apt.conf.d/*; do
    if grep -q 'Check-Valid-Until' "$f" 2>/dev/null; then cp "$f" "$BASE/etc/apt/apt.conf.d/"; fi
done
rm -rf "$BASE/var/cache/apt/archives/"*.deb
in_root "$BASE" python3 -c 'import platform, sys; assert platform.machine() == "aarch64", platform.machine(); print("python", sys.version.split()[0], platform.machine())'
touch "$BASE/.complete"
echo "[pi-test] arm64 root built in $(( $(date +%s) - start )) s: $BASE"
