# Shared helpers for the arm64 install test (sourced by pi/*.sh). Why a library: every step prints
# its name before it runs, and a failure names the step, so a broken install says where it broke.
set -euo pipefail

PI_BUILD="${PI_BUILD:-build/pi}"
PI_SUITE=bookworm
PI_ARCH=arm64

CURRENT_STEP=start
step() { CURRENT_STEP="$1"; printf '\n[pi-test] ==> %s\n' "$1"; }
fail() { printf '[pi-test] FAILED in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2; exit 1; }
PI_CLEANUP=()   # commands run at exit, last registered first (unmounts)
on_exit() {
    local rc=$? i
    for (( i=${#PI_CLEANUP[@]}-1; i>=0; i-- )); do eval "${PI_CLEANUP[i]}" || true; done
    [ $rc -eq 0 ] || printf '[pi-test] FAILED in step "%s" (exit %s)\n' "$CURRENT_STEP" "$rc" >&2
}
trap on_exit EXIT

need_root() { [ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, mount): run it as root or with sudo"; }

# Host tools: debootstrap builds the root, qemu-user-static runs its aarch64 binaries through binfmt_misc.
host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || fail "cannot mount binfmt_misc"
    fi
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        update-binfmts --enable qemu-aarch64 || update-binfmts --import qemu-aarch64 || true
    fi
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || fail "qemu-aarch64 is not registered with binfmt_misc"
    grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || \
        fail "qemu-aarch64 binfmt lacks the F flag: chroot cannot find the interpreter"
}

# Bind the kernel file systems the installer and Python need; unmounted again by umount_root.
mount_root() {
    local root="$1"
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    mountpoint -q "$root/sys" || mount --rbind /sys "$root/sys"
    mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # /proc is the host's, so /proc/cpuinfo describes x86 cores; LiteRT's cpuinfo library (used by
    # XNNPACK and ruy) then finds no ARM cores and crashes in allocate_tensors/invoke. A Raspberry
    # Pi 4's cpuinfo (Cortex-A72, one entry per host CPU) is bound over it, and QEMU_CPU (in_root)
    # emulates that core, so kernels use only the instructions a Pi 4 has.
    if ! mountpoint -q "$root/proc/cpuinfo"; then
        pi4_cpuinfo >"$PI_BUILD/cpuinfo.pi4"
        mount --bind "$PI_BUILD/cpuinfo.pi4" "$root/proc/cpuinfo"
    fi
}

pi4_cpuinfo() {
    local i
    for i in $(seq 0 $(( $(nproc --all) - 1 ))); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B (emulated by pi/test.sh)\n'
}

umount_root() {
    local root="$1" m
    for m in root/.cache/pip dev sys proc; do
        if mountpoint -q "$root/$m"; then umount -R "$root/$m" 2>/dev/null || umount -lR "$root/$m" || true; fi
    done
}

# Copy a checkout the way a clone would have it: its tracked and untracked-but-not-ignored files (no
# venv, no build output); a folder that is not a git work tree is copied whole, minus those.
copy_checkout() {
    local src="$1" dest="$2"
    mkdir -p "$dest"
    if [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$src" ]; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
            | tar --null -T - -cf -) | tar -C "$dest" -xf -
    else
        tar -C "$src" --exclude=./.venv --exclude=./build --exclude=./.git -cf - . | tar -C "$dest" -xf -
    fi
}

# Delete a root only when nothing is mounted inside it: a stale bind of /dev or of pip's cache would
# otherwise be deleted through the mount point (the host's /dev, the cache).
remove_root() {
    local root="$1"
    [ -e "$root" ] || return 0
    umount_root "$root"
    root="$(cd "$root" && pwd -P)"
    if awk '{print $2}' /proc/mounts | grep -q "^$root/"; then
        fail "still mounted under $root (see /proc/mounts); unmount it by hand, then run again"
    fi
    rm -rf --one-file-system "$root"
}

# Run a command inside the root as root, with a clean, Pi-like environment.
in_root() {
    local root="$1"; shift
    env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        QEMU_CPU=cortex-a72 \
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        chroot "$root" "$@"
}
