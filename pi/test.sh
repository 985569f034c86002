#!/usr/bin/env bash
# make pi-test: install siamese-edge on an emulated Raspberry Pi and check what a user would get.
#
# An arm64 Debian bookworm root (pi/build_root.sh, cached) stands in for a freshly flashed Pi OS Lite;
# the project is copied in as a user's clone and `sudo systemd/install.sh` runs in it as the pi user,
# unchanged. Then: unit enabled, users and groups, config, directory owners and modes, an aarch64
# venv that imports LiteRT and the project, a second install that changes nothing, `identify` (a JPEG
# and an iPhone's HEIC) and `run` under emulation giving the right name, and --uninstall keeping the photos.
# What it cannot prove: timings (qemu is 10-50x slower), the camera, GPIO pins, a real boot.
#
#   PI_SRC=DIR   install this copy of the project instead of the checkout (pi/test_broken.sh uses it)
#   PI_RUN=NAME  work in $PI_BUILD/NAME (default: run), so a second run does not wipe the first's logs
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/lib.sh"
need_root
SRC="$(cd "${PI_SRC:-$HERE/..}" && pwd)"
mkdir -p "$PI_BUILD"
PI_BUILD="$(cd "$PI_BUILD" && pwd)"
RUN="$PI_BUILD/${PI_RUN:-run}"   # this run's root and logs (the cached base stays untouched)
ROOT="$RUN/root"
LOGS="$RUN/logs"
T0=$(date +%s)

step "host tools and the cached arm64 root"
host_tools
PI_BUILD="$PI_BUILD" bash "$HERE/build_root.sh"

step "a freshly flashed Pi (a copy of the cached root)"
remove_root "$ROOT"
rm -rf "$LOGS"
mkdir -p "$LOGS"
cp -a "$PI_BUILD/base" "$ROOT"
mount_root "$ROOT"
PI_CLEANUP+=("umount_root '$ROOT'")
# pip's download cache survives between runs (only a speed-up: what gets installed is unchanged)
mkdir -p "$PI_BUILD/pip-cache" "$ROOT/root/.cache/pip"
mount --bind "$PI_BUILD/pip-cache" "$ROOT/root/.cache/pip"  # unmounted by umount_root

step "copying the project to /home/pi/siamese-edge (as a clone)"
DEST="$ROOT/home/pi/siamese-edge"
copy_checkout "$SRC" "$DEST"
in_root "$ROOT" chown -R pi:pi /home/pi/siamese-edge
[ -f "$DEST/models/face_resnet29_int8.tflite" ] || fail "the shipped model is missing from the copy"

# a login shell for pi, keeping QEMU_CPU: under qemu's default CPU ("max") LiteRT's XNNPACK picks
# int8 kernels that qemu 7.2 computes wrongly (embeddings come out garbage), see lib.sh's in_root
as_pi() { in_root "$ROOT" su - pi --whitelist-environment=QEMU_CPU -c "$1"; }

# `sudo` cannot gain root under qemu-user (binfmt without the C flag ignores setuid bits), so the
# installer runs as root the way sudo would start it for the pi user: from pi's clone, SUDO_USER=pi.
as_sudo_from_pi() { in_root "$ROOT" env SUDO_USER=pi SUDO_UID=1000 bash -c "cd /home/pi/siamese-edge && $1"; }

install_once() {  # $1: log name
    if ! as_sudo_from_pi systemd/install.sh >"$LOGS/$1.log" 2>&1; then
        tail -25 "$LOGS/$1.log" >&2
        fail "systemd/install.sh failed: $(grep -h 'failed during step' "$LOGS/$1.log" || echo 'see log') (log: $LOGS/$1.log)"
    fi
}

# Everything the installer owns: paths, types, modes, owners, sizes, link targets and content hashes.
manifest() {
    in_root "$ROOT" bash -c '
        set -e
        paths="/opt/siamese-edge /etc/siamese-edge /var/lib/siamese-edge /etc/systemd/system"
        find $paths -printf "%p %y %m %u %g %s %l\n" | sort
        find $paths -type f -print0 | sort -z | xargs -0 sha256sum
        getent passwd siamese-edge; getent group siamese-edge video gpio; id -nG pi'
}

step "running the installer: sudo systemd/install.sh (for the pi user)"
t=$(date +%s)
install_once install-1
echo "[pi-test] installed in $(( $(date +%s) - t )) s"
grep -q "python3-picamera2 is not in this system's apt sources" "$LOGS/install-1.log" || \
    fail "the installer did not explain the missing picamera2 (a Pi without Raspberry Pi's repository)"

step "idempotence: a second install changes nothing"
manifest >"$LOGS/manifest-1.txt"
install_once install-2
manifest >"$LOGS/manifest-2.txt"
diff -u "$LOGS/manifest-1.txt" "$LOGS/manifest-2.txt" >"$LOGS/manifest.diff" || {
    head -40 "$LOGS/manifest.diff" >&2
    fail "the second install changed $(grep -c '^[-+]/' "$LOGS/manifest.diff") entries (diff: $LOGS/manifest.diff)"
}

step "checks: unit installed and enabled"
[ -f "$ROOT/etc/systemd/system/siamese-edge.service" ] || fail "unit file missing"
link="$ROOT/etc/systemd/system/multi-user.target.wants/siamese-edge.service"
[ -L "$link" ] || fail "not enabled: $link missing"
[ "$(readlink "$link")" = /etc/systemd/system/siamese-edge.service ] || fail "enable link points to $(readlink "$link")"
grep -q '^Type=notify' "$ROOT/etc/systemd/system/siamese-edge.service" || fail "unit is not Type=notify"

step "checks: service user, groups, config, directories"
groups_of_service="$(in_root "$ROOT" id -nG siamese-edge)"
for g in video gpio siamese-edge; do
    [[ " $groups_of_service " == *" $g "* ]] || fail "user siamese-edge is not in group $g ($groups_of_service)"
done
[[ " $(in_root "$ROOT" id -nG pi) " == *" siamese-edge "* ]] || fail "pi was not added to group siamese-edge"
[ "$(in_root "$ROOT" getent passwd siamese-edge | cut -d: -f7)" = /usr/sbin/nologin ] || fail "service user has a login shell"
expect_stat() {  # path, "owner:group mode"
    local got; got="$(in_root "$ROOT" stat -c '%U:%G %a' "$1")"
    [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
expect_stat /etc/siamese-edge/config.yaml "root:root 644"
expect_stat /var/lib/siamese-edge/gallery "siamese-edge:siamese-edge 2770"
expect_stat /var/lib/siamese-edge/state "siamese-edge:siamese-edge 700"
expect_stat /opt/siamese-edge "root:root 755"
grep -q '^  source: opencv ' "$ROOT/etc/siamese-edge/config.yaml" || fail "config camera.source is not opencv without picamera2"
grep -q '^  folder: /var/lib/siamese-edge/gallery' "$ROOT/etc/siamese-edge/config.yaml" || fail "config gallery.folder not set"
expect_stat /var/lib/siamese-edge/snapshots "siamese-edge:siamese-edge 2750"

step "a second camera: sudo systemd/install.sh --instance porch"
as_sudo_from_pi 'systemd/install.sh --instance porch' >"$LOGS/instance.log" 2>&1 || {
    tail -25 "$LOGS/instance.log" >&2; fail "install.sh --instance porch failed (log: $LOGS/instance.log)"; }
[ -f "$ROOT/etc/systemd/system/siamese-edge@.service" ] || fail "template unit siamese-edge@.service missing"
grep -q '^ExecStart=.* --config /etc/siamese-edge/%i.yaml$' "$ROOT/etc/systemd/system/siamese-edge@.service" || \
    fail "the template unit does not read /etc/siamese-edge/%i.yaml"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/siamese-edge@porch.service" ] || fail "siamese-edge@porch not enabled"
expect_stat /etc/siamese-edge/porch.yaml "root:root 644"
expect_stat /var/lib/siamese-edge/porch/snapshots "siamese-edge:siamese-edge 2750"
grep -q '^device_name: porch$' "$ROOT/etc/siamese-edge/porch.yaml" || fail "porch.yaml: device_name is not porch"
grep -q '^state_dir: /var/lib/siamese-edge/porch/state ' "$ROOT/etc/siamese-edge/porch.yaml" || fail "porch.yaml: own state_dir"
grep -q '^  folder: /var/lib/siamese-edge/gallery' "$ROOT/etc/siamese-edge/porch.yaml" || fail "porch.yaml: not the shared gallery"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/siamese-edge.service" ] || fail "the first camera's service went away"

step "checks: the venv is aarch64 and imports LiteRT and the project"
py="$ROOT$(in_root "$ROOT" readlink -f /opt/siamese-edge/.venv/bin/python)"  # resolved inside the root
machine="$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(20); print(struct.unpack("<H", d[18:20])[0])' "$py")"
[ "$machine" = 183 ] || fail "venv interpreter is not an aarch64 ELF (e_machine $machine)"
in_root "$ROOT" /opt/siamese-edge/.venv/bin/python -c '
import platform
assert platform.machine() == "aarch64", platform.machine()
from edge.vision.runtime import interpreter_class
import edge.daemon, gallery.sync, edge.events.mqtt_sink, edge.events.gpio_sink
print("runtime:", interpreter_class()[1], "python", platform.python_version(), platform.machine())
' || fail "the installed venv cannot import its runtime or the project"

step "enrolling: photos dropped into /var/lib/siamese-edge/gallery, and added with gallery add, as the pi user"
as_pi 'cd ~ && /opt/siamese-edge/.venv/bin/python -m edge.demo /home/pi/demo' >"$LOGS/demo.log" 2>&1 || {
    tail "$LOGS/demo.log" >&2; fail "could not fetch the demo photos"; }
as_pi 'cp -r ~/demo/gallery/"Joe Biden" /var/lib/siamese-edge/gallery/' || fail "pi cannot write the gallery folder"
# Barack Obama through `gallery add`, by a user whose umask is 077: the service must still read him
# (the run step below names him), and nobody outside the group may
as_pi 'umask 077 && /opt/siamese-edge/.venv/bin/siamese-edge gallery add --config /etc/siamese-edge/config.yaml \
        "Barack Obama" ~/demo/gallery/"Barack Obama"/obama.jpg' >"$LOGS/add.log" 2>&1 || {
    tail "$LOGS/add.log" >&2; fail "siamese-edge gallery add failed"; }
expect_stat "/var/lib/siamese-edge/gallery/Barack Obama" "pi:siamese-edge 2770"
expect_stat "/var/lib/siamese-edge/gallery/Barack Obama/obama.jpg" "pi:siamese-edge 640"
GALLERY_SUMS="$(cd "$ROOT/var/lib/siamese-edge/gallery" && find . -type f -print0 | sort -z | xargs -0 sha256sum)"

step "identify (emulated aarch64, shipped int8 model) names the right person, in a JPEG and an iPhone's HEIC"
# the HEIC is made on the host (x265 under emulation takes minutes); the Pi's venv reads it with its
# own aarch64 pillow-heif wheel, as the photo from a phone would be
HOST_PY="$HERE/../.venv/bin/python"
[ -x "$HOST_PY" ] || fail "no host venv to make the HEIC probe with: run make venv-dev first"
(cd "$HERE/.." && "$HOST_PY" -c 'import sys; from pathlib import Path; from tests.scenes import write_phone_heic
write_phone_heic(Path(sys.argv[1]), Path(sys.argv[2]))' "$ROOT/home/pi/demo/probes/obama2.jpg" \
    "$ROOT/home/pi/demo/probes/IMG_0042.HEIC") || fail "could not make the HEIC probe on the host"
in_root "$ROOT" chown pi:pi /home/pi/demo/probes/IMG_0042.HEIC
as_pi 'cd ~ && /opt/siamese-edge/.venv/bin/siamese-edge identify --json --gallery /var/lib/siamese-edge/gallery \
        demo/probes/obama2.jpg demo/probes/biden.jpg demo/probes/IMG_0042.HEIC' >"$LOGS/identify.json" \
        2>"$LOGS/identify.log" || { tail "$LOGS/identify.log" >&2; fail "siamese-edge identify failed"; }
python3 - "$LOGS/identify.json" <<'PY' || fail "identify named the wrong people (see $LOGS/identify.json)"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
names = {r["image"].rsplit("/", 1)[-1]: r["name"] for r in rows}
print("identify:", names)
assert names == {"obama2.jpg": "Barack Obama", "biden.jpg": "Joe Biden", "IMG_0042.HEIC": "Barack Obama"}, names
PY

step "annotated pictures: Pillow and a font with accented and Cyrillic letters (installed by install.sh)"
as_pi '/opt/siamese-edge/.venv/bin/python -c "
import PIL
from edge.annotate import font_file_for
font = font_file_for(\"Zo\u00eb \u0401\u0436\u0438\u043a\u043e\u0432 \u0141ukasz\")
assert font, \"no font with these letters\"
print(\"label font:\", font, \"Pillow\", PIL.__version__)
"' || fail "no Pillow or no font for names' own letters in the installed venv"

step "run: the daemon as the service user on a replayed camera makes a decision and exits cleanly"
mkdir -p "$ROOT/home/pi/replay"
for f in $(ls "$ROOT/home/pi/demo/replay" | head -6); do cp "$ROOT/home/pi/demo/replay/$f" "$ROOT/home/pi/replay/"; done
in_root "$ROOT" chmod -R a+rX /home/pi/replay
# under emulation a frame takes seconds; with realtime: false tracks run on the replay's own clock
# (frame / fps), so the shipped track_timeout_s holds a visit together however slow the machine is
sed -e '/^camera:/,/^[a-z]/{s|^  source: opencv .*|  source: replay|;s|^  path: .*|  path: /home/pi/replay|;s|^  realtime: true .*|  realtime: false|}' \
    "$ROOT/etc/siamese-edge/config.yaml" >"$ROOT/home/pi/replay.yaml"
in_root "$ROOT" chmod a+r /home/pi/replay.yaml
rc=0
in_root "$ROOT" runuser -u siamese-edge -- /opt/siamese-edge/.venv/bin/siamese-edge run --config /home/pi/replay.yaml \
    >"$LOGS/run.out" 2>"$LOGS/run.log" || rc=$?
[ $rc -eq 0 ] || { tail "$LOGS/run.log" >&2; fail "siamese-edge run exited $rc"; }
grep -q '"type": "recognized"' "$LOGS/run.out" && grep -q '"name": "Barack Obama"' "$LOGS/run.out" || {
    tail "$LOGS/run.log" >&2; fail "siamese-edge run made no recognition decision for Barack Obama"; }
grep -q 'camera stream ended' "$LOGS/run.log" || fail "run did not end at the end of the replay"

step "uninstall: service and code removed, photos and config kept"
as_sudo_from_pi 'systemd/install.sh --uninstall' >"$LOGS/uninstall.log" 2>&1 || {
    tail "$LOGS/uninstall.log" >&2; fail "install.sh --uninstall failed"; }
[ ! -e "$ROOT/etc/systemd/system/siamese-edge.service" ] || fail "unit file still there"
[ ! -L "$ROOT/etc/systemd/system/multi-user.target.wants/siamese-edge.service" ] || fail "enable link still there"
[ ! -e "$ROOT/opt/siamese-edge" ] || fail "/opt/siamese-edge still there"
[ ! -e "$ROOT/etc/systemd/system/siamese-edge@.service" ] || fail "template unit still there"
[ ! -L "$ROOT/etc/systemd/system/multi-user.target.wants/siamese-edge@porch.service" ] || fail "porch still enabled"
[ ! -e "$ROOT/var/lib/siamese-edge/snapshots" ] && [ ! -e "$ROOT/var/lib/siamese-edge/porch/snapshots" ] || \
    fail "snapshots (biometric data) left behind"
[ -f "$ROOT/etc/siamese-edge/config.yaml" ] || fail "config removed"
[ "$(cd "$ROOT/var/lib/siamese-edge/gallery" && find . -type f -print0 | sort -z | xargs -0 sha256sum)" = "$GALLERY_SUMS" ] || \
    fail "the gallery photos changed or went missing"

CURRENT_STEP=done
echo
echo "[pi-test] PASSED in $(( $(date +%s) - T0 )) s (logs: $LOGS)"
