"""make service-test: the service as users run it — booted by systemd, under its own hardening.

An amd64 Debian bookworm root (debootstrap, cached in build/service/base) is installed with the
unchanged ``systemd/install.sh`` (as ``sudo`` from the ``pi`` user's clone), given a config with the
demo visits as a replayed camera, a JSON event log and MQTT to a mosquitto on the host's 127.0.0.1,
and booted with ``systemd-nspawn`` (systemd as PID 1, sharing the host's network). Then, through
``systemctl`` and ``journalctl`` inside: READY before active, XNNPACK and no cpuinfo error under the
unit's sandbox, per-stage times against the same config run outside the service, events in the log
file and on the broker, reload (applied by name, or refused with the service still running), the
watchdog restarting a stopped main process, a clean stop, and a photo dropped in by the enrolling
user being picked up. Native, so seccomp, cgroup limits and timings are real.

Needs root (debootstrap, chroot, nspawn). Every step prints its name; a failure names the step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent
sys.path.insert(0, str(SRC))
from tests.mqtt_broker import Broker, Subscriber  # noqa: E402 - the same broker the MQTT tests use

BUILD = Path(os.environ.get("SERVICE_BUILD", SRC / "build" / "service")).resolve()
BASE, ROOT, LOGS = BUILD / "base", BUILD / "root", BUILD / "logs"
VAR = "/var/lib/siamese-edge"
SE = "/opt/siamese-edge/.venv/bin/siamese-edge"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STATS = re.compile(r"stats fps=[\d.]+ detect=([\d.]+)ms align=([\d.]+)ms embed=([\d.]+)ms")
WITHIN = 1.5  # in-service per-stage time against the same config outside the service

_step = ["start"]
_cleanup: list = []


def step(name: str) -> None:
    _step[0] = name
    print(f"\n[service-test] ==> {name}", flush=True)


def fail(message: str) -> None:
    raise SystemExit(f'[service-test] FAILED in step "{_step[0]}": {message}')


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-800:]}")
    return r


def wait_until(what: str, cond, timeout: float, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    fail(f"{what}: not within {timeout:.0f} s")


# --------------------------------------------------------------------------- the root


def mounted_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(prefix)]


def unmount_all(path: Path) -> None:
    for m in sorted(mounted_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def remove_root(path: Path) -> None:
    """Delete a root only when nothing is mounted inside it (never through a bind of /dev)."""
    if not path.exists():
        return
    unmount_all(path)
    if mounted_under(path):
        fail(f"still mounted under {path}: unmount by hand, then run again")
    run("rm", "-rf", "--one-file-system", str(path))


def build_base() -> None:
    if (BASE / ".complete").exists():
        print(f"[service-test] cached amd64 root: {BASE} (delete it to rebuild)")
        return
    t0 = time.monotonic()
    tmp = BUILD / "base.tmp"
    remove_root(tmp)
    BUILD.mkdir(parents=True, exist_ok=True)
    r = run("debootstrap", "--arch=amd64", "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus,python3,ca-certificates,sudo,procps,iproute2",
            "bookworm", str(tmp), check=False)
    (BUILD / "debootstrap.log").write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        fail(f"debootstrap failed (log: {BUILD / 'debootstrap.log'})")
    chroot(tmp, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", "pi")
    (tmp / "etc/hostname").write_text("door\n")
    # this network's local CAs and apt settings, exactly as a machine on it would have them
    for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(crt, tmp / "usr/local/share/ca-certificates")
        chroot(tmp, "update-ca-certificates")
    for conf in Path("/etc/apt/apt.conf.d").glob("*"):
        if conf.is_file() and "Check-Valid-Until" in conf.read_text(errors="replace"):
            shutil.copy(conf, tmp / "etc/apt/apt.conf.d")
    for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    (tmp / ".complete").touch()
    tmp.rename(BASE)
    print(f"[service-test] amd64 root built in {time.monotonic() - t0:.0f} s")


def chroot(root: Path, *cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
             "PIP_DEFAULT_TIMEOUT": "180", **(env or {})}
    return run("chroot", str(root), *cmd, env=clean)


def mount_for_install(root: Path) -> None:
    for what, where, opts in (("proc", "proc", ["-t", "proc"]), ("/sys", "sys", ["--rbind"]),
                              ("/dev", "dev", ["--rbind"])):
        run("mount", *opts, what, str(root / where))
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    (BUILD / "pip-cache").mkdir(exist_ok=True)
    (root / "root/.cache/pip").mkdir(parents=True, exist_ok=True)
    run("mount", "--bind", str(BUILD / "pip-cache"), str(root / "root/.cache/pip"))


def copy_checkout(dest: Path) -> None:
    """The project as a clone has it: tracked and untracked-but-not-ignored files."""
    files = run("git", "-C", str(SRC), "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    dest.mkdir(parents=True)
    for name in filter(None, files.split("\0")):
        src = SRC / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def install() -> None:
    remove_root(ROOT)
    run("cp", "-a", str(BASE), str(ROOT))
    mount_for_install(ROOT)
    try:
        copy_checkout(ROOT / "home/pi/siamese-edge")
        chroot(ROOT, "chown", "-R", "pi:pi", "/home/pi/siamese-edge")
        # as `sudo systemd/install.sh` from pi's clone starts it (no systemd running yet: it enables)
        t0 = time.monotonic()
        r = subprocess.run(["chroot", str(ROOT), "bash", "-c", "cd /home/pi/siamese-edge && systemd/install.sh"],
                           capture_output=True, text=True,
                           env={"HOME": "/root", "PATH": PATH, "LANG": "C.UTF-8", "SUDO_USER": "pi",
                                "SUDO_UID": "1000", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        (LOGS / "install.log").write_text(r.stdout + r.stderr)
        if r.returncode != 0:
            fail(f"systemd/install.sh failed: {r.stderr.strip()[-800:]}")
        print(f"[service-test] installed in {time.monotonic() - t0:.0f} s")
    finally:
        unmount_all(ROOT)


def uid_of(name: str) -> tuple[int, int]:
    for line in (ROOT / "etc/passwd").read_text().splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    fail(f"user {name} missing in the root")
    raise AssertionError


def service_config(port: int, **changes: str) -> str:
    return f"""device_name: door
camera: {{source: replay, path: {VAR}/replay, fps: 10, loop: true}}
detector: {{model: full}}
recognition: {{votes_needed: 3, votes_window: 5, cooldown_s: 60}}
gallery: {{folder: {VAR}/gallery}}
state_dir: {VAR}/state
logging: {{stats_interval_s: 4, format: {changes.get('log_format', 'plain')}}}
events: {{log_file: {VAR}/state/{changes.get('log_file', 'events.jsonl')},
          mqtt: {{enabled: true, host: 127.0.0.1, port: {port}}}}}
"""


def stage_the_demo(port: int) -> None:
    """The demo visits as the camera, its two people as the gallery (their photos owned by pi, as
    if pi had copied them in), and the test config."""
    demo = SRC / "demo"
    if not (demo / "replay").is_dir():
        fail("demo/ is missing: run `make demo` (make service-test depends on it)")
    pi_uid, _ = uid_of("pi")
    _, se_gid = uid_of("siamese-edge")
    shutil.copytree(demo / "replay", ROOT / VAR.lstrip("/") / "replay")
    gallery = ROOT / VAR.lstrip("/") / "gallery"
    for person in (demo / "gallery").iterdir():
        shutil.copytree(person, gallery / person.name)
        for p in [gallery / person.name, *(gallery / person.name).iterdir()]:
            os.chown(p, pi_uid, se_gid)
        os.chmod(gallery / person.name, 0o2750)
    shutil.copy(demo / "probes" / "obama2.jpg", ROOT / "home/pi/pat.jpg")
    os.chown(ROOT / "home/pi/pat.jpg", pi_uid, pi_uid)
    (ROOT / "etc/siamese-edge/config.yaml").write_text(service_config(port))


# --------------------------------------------------------------------------- booted


class Machine:
    """The root booted with systemd-nspawn; commands run inside through nsenter."""

    def __init__(self) -> None:
        self.log = open(LOGS / "boot.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["systemd-nspawn", "-D", str(ROOT), "-b", "--register=no", "--keep-unit",
                                      "--quiet", "--console=passive"], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.pid1 = wait_until("systemd running as the container's PID 1", self._find_pid1, 60)
        except BaseException:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise

    def _find_pid1(self) -> int | None:
        """The container's init: nspawn's child running systemd (its /proc/PID/root reads "/" from
        here, as it lives in its own mount namespace, so it is found by parentage)."""
        if self.proc.poll() is not None:
            fail(f"systemd-nspawn exited {self.proc.returncode}: {(LOGS / 'boot.log').read_text()[-800:]}")
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    status = (d / "status").read_text()
                except OSError:
                    continue
                ppid = re.search(r"^PPid:\s+(\d+)", status, re.M)
                if ppid and int(ppid.group(1)) == self.proc.pid and (d / "comm").read_text().strip() == "systemd":
                    return int(d.name)
        return None

    def sh(self, command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return run("nsenter", "-t", str(self.pid1), "-a", "env", "-i", f"PATH={PATH}", "LANG=C.UTF-8",
                   "SYSTEMD_PAGER=", "bash", "-c", command, check=check, timeout=timeout)

    def prop(self, name: str) -> str:
        return self.sh(f"systemctl show -p {name} --value siamese-edge").stdout.strip()

    def journal(self, since_cursor: str | None = None) -> list[dict]:
        after = f"--after-cursor='{since_cursor}'" if since_cursor else ""
        out = self.sh(f"journalctl -u siamese-edge -o json --no-pager {after}").stdout
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    def messages(self, since_cursor: str | None = None) -> list[str]:
        return [m if isinstance(m := e.get("MESSAGE"), str) else bytes(m).decode("utf-8", "replace")
                for e in self.journal(since_cursor) if e.get("MESSAGE") is not None]

    def cursor(self) -> str:
        entries = self.journal()
        return entries[-1]["__CURSOR"] if entries else ""

    def stop(self) -> None:
        subprocess.run(["nsenter", "-t", str(self.pid1), "-a", "systemctl", "poweroff"], capture_output=True)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()
        unmount_all(ROOT)


def stage_ms(lines: list[str]) -> list[float]:
    """detect + align + embed per frame from each stats line, the first (start-up) one dropped."""
    values = [sum(map(float, m.groups())) for line in lines if (m := STATS.search(line))]
    return values[1:]


# --------------------------------------------------------------------------- checks


def check_ready_and_accelerated(m: Machine) -> None:
    step("the service is active only after READY, with XNNPACK and no cpuinfo error")
    wait_until("siamese-edge active", lambda: m.prop("ActiveState") == "active", 120)
    active_at = int(m.prop("ActiveEnterTimestampMonotonic"))
    entries = m.journal()
    def logged_at(text: str) -> list[int]:
        return [int(e["__MONOTONIC_TIMESTAMP"]) for e in entries if text in str(e.get("MESSAGE"))]

    # journald stamps a stderr line when it reads it, which can be a fraction of a millisecond after
    # systemd has handled the READY=1 sent right after "running:" — so the proof is a line the daemon
    # writes well before it is ready ("models loaded: … with its XNNPACK delegate", once the models
    # load): with Type=simple the unit would be active at exec, long before that line
    loaded, running = logged_at("with its XNNPACK delegate"), logged_at("running: camera")
    if not running:
        fail("the daemon never said 'running'")
    if not loaded or loaded[0] > active_at:
        fail(f"active at {active_at} µs, before the models were loaded (XNNPACK delegate at {loaded[:1]} µs)")
    text = "\n".join(m.messages())
    if "with its XNNPACK delegate" not in text:
        fail("no XNNPACK delegate in the journal")
    if "cpuinfo" in text:
        fail("the journal mentions cpuinfo: " + next(line for line in text.splitlines() if "cpuinfo" in line))


def check_events(m: Machine, sub: Subscriber) -> None:
    step("events arrive in the log file and on the broker")
    log_file = ROOT / VAR.lstrip("/") / "state/events.jsonl"
    wait_until("a recognized event in the log file", lambda: log_file.exists() and '"recognized"' in
               log_file.read_text(), 90)
    wait_until("a recognized event on the broker", lambda: any(
        t == "siamese-edge/door/event" and '"recognized"' in p for t, p, _ in sub.topics("siamese-edge/")), 30)


def side_by_side(m: Machine, seconds: int = 30) -> tuple[list[float], list[float]]:
    """Per-stage times of the service and of the same config run outside it, over the same seconds.

    "Outside" is a plain transient unit in the same container (root, none of the unit's sandboxing),
    so both processes share one systemd, one slice and the same background load: on a busy machine
    the comparison stays fair (one after the other, or one in the host's crowded cgroup, the load of
    the moment would decide it)."""
    step(f"per-stage times: the service and the same config outside it, side by side for {seconds} s")
    outside_cfg = (service_config(1).replace("mqtt: {enabled: true", "mqtt: {enabled: false")
                   .replace(f"{VAR}/state", "/root/outside-state"))
    (ROOT / "root/outside.yaml").write_text(outside_cfg)
    cursor = m.cursor()
    m.sh(f"systemd-run --quiet --wait --collect --unit=outside -p RuntimeMaxSec={seconds} "
         f"-p StandardOutput=null -p StandardError=file:/root/outside.log "
         f"{SE} run --config /root/outside.yaml", check=False, timeout=seconds + 90)
    inside = stage_ms([x for x in m.messages(cursor) if STATS.search(x)])
    outside = stage_ms((ROOT / "root/outside.log").read_text().splitlines())
    return inside, outside


def check_reload(m: Machine, port: int) -> None:
    step("reload: events and logging applied and named; an invalid config refused, still running")
    config = ROOT / "etc/siamese-edge/config.yaml"
    cursor = m.cursor()
    config.write_text(service_config(port, log_format="json", log_file="events2.jsonl"))
    m.sh("systemctl reload siamese-edge")
    wait_until("'configuration reloaded … applied logging, events'", lambda: any(
        "configuration reloaded" in x and "applied logging, events" in x for x in m.messages(cursor)), 30)
    events2 = ROOT / VAR.lstrip("/") / "state/events2.jsonl"
    wait_until("events in the new log file", lambda: events2.exists() and events2.stat().st_size > 0, 90)
    cursor = m.cursor()
    config.write_text("recognition: {votes_needed: many}\n")
    m.sh("systemctl reload siamese-edge")
    wait_until("'reload refused'", lambda: any("reload refused" in x for x in m.messages(cursor)), 30)
    time.sleep(2)
    if m.prop("ActiveState") != "active":
        fail("the service stopped after an invalid reload")
    config.write_text(service_config(port))
    m.sh("systemctl reload siamese-edge")


def check_gallery_drop(m: Machine) -> None:
    step("a photo dropped in by the enrolling user (pi) is picked up")
    cursor = m.cursor()
    m.sh(f"runuser -u pi -- sh -c 'mkdir {VAR}/gallery/Pat && cp /home/pi/pat.jpg {VAR}/gallery/Pat/'")
    wait_until("'gallery changed: 3 people'", lambda: any(
        "gallery changed: 3 people" in x for x in m.messages(cursor)), 60)


def check_watchdog(m: Machine) -> None:
    step("watchdog: the main process stopped with SIGSTOP is restarted after WatchdogSec")
    before = int(m.prop("NRestarts"))
    old_pid = m.prop("MainPID")
    m.sh(f"kill -STOP {old_pid}")
    seconds = re.fullmatch(r"(\d+)s", m.prop("WatchdogUSec"))
    watchdog_s = int(seconds.group(1)) if seconds else 30
    wait_until("a restart", lambda: int(m.prop("NRestarts")) > before and m.prop("ActiveState") == "active"
               and m.prop("MainPID") not in (old_pid, "0"), watchdog_s + 90, 1)
    if not any("atchdog timeout" in x for x in m.messages()):
        fail("restarted, but the journal does not say the watchdog fired")


def check_stop(m: Machine) -> None:
    step("systemctl stop completes within TimeoutStopSec with a clean exit")
    m.sh("systemctl stop siamese-edge", timeout=60)
    result, status = m.prop("Result"), m.prop("ExecMainStatus")
    if result != "success" or status != "0":
        fail(f"Result={result} ExecMainStatus={status} (a stop past TimeoutStopSec gives Result=timeout)")


def main() -> int:
    if os.geteuid() != 0:
        fail("needs root (debootstrap, chroot, systemd-nspawn)")
    t0 = time.monotonic()
    step("host tools (debootstrap, systemd-nspawn)")
    missing = [pkg for tool, pkg in (("debootstrap", "debootstrap"), ("systemd-nspawn", "systemd-container"))
               if not shutil.which(tool)]
    if missing:
        run("apt-get", "update", "-q")
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    step("the cached amd64 bookworm root")
    build_base()
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    step("installing with the unchanged systemd/install.sh (as sudo from pi's clone)")
    install()
    broker = Broker(LOGS).start()
    sub = Subscriber(broker.port, ["siamese-edge/#"]).wait_ready()
    stage_the_demo(broker.port)
    step("booting with systemd-nspawn")
    try:
        machine = Machine()
    except BaseException:
        sub.close()
        broker.stop()
        unmount_all(ROOT)
        raise
    try:
        state = machine.sh("systemctl is-system-running --wait", check=False, timeout=120).stdout.strip()
        print(f"[service-test] system {state}")
        check_ready_and_accelerated(machine)
        check_events(machine, sub)
        inside, outside = side_by_side(machine)
        if not inside or not outside:
            fail(f"no stats to compare (inside {inside}, outside {outside})")
        a, b = statistics.median(inside), statistics.median(outside)
        print(f"[service-test] detect+align+embed per frame: in the service {a:.2f} ms, outside {b:.2f} ms "
              f"(medians of {len(inside)} and {len(outside)} stats lines)")
        if not (a <= WITHIN * b and b <= WITHIN * a):
            fail(f"in-service {a:.2f} ms vs outside {b:.2f} ms: more than {WITHIN}× apart")
        check_reload(machine, broker.port)
        check_gallery_drop(machine)
        check_watchdog(machine)
        check_stop(machine)
        (LOGS / "journal.txt").write_text("\n".join(machine.messages()))
    finally:
        machine.stop()
        sub.close()
        broker.stop()
    print(f"\n[service-test] PASSED in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
