"""A real mosquitto on 127.0.0.1 and a subscriber that records what it receives: shared by the MQTT
tests and ``systemd/service_test.py`` (which talks to the service inside its container)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def wait_until(cond, timeout=3.0) -> float:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached")
        time.sleep(0.005)
    return time.monotonic() - t0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path, name: str = "test CA") -> TlsFiles:
    """A throwaway CA and a certificate it signed for 127.0.0.1 (openssl), valid for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, csr, ext = folder / "server.crt", folder / "server.key", folder / "server.csr", folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "1",
        "-subj", f"/CN={name}")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "1", "-extfile", str(ext))
    return TlsFiles(ca, cert, key)


class Broker:
    """A real mosquitto on 127.0.0.1 with a generated config; can be stopped and restarted."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, tls: TlsFiles | None = None) -> None:
        """``users``: name → password; then only they may connect (mosquitto's own password file).
        ``tls``: the listener speaks only TLS, with this certificate."""
        self.port = _free_port()
        self.conf = folder / "mosquitto.conf"
        access = "allow_anonymous true\n"
        if tls:
            access += f"cafile {tls.ca}\ncertfile {tls.cert}\nkeyfile {tls.key}\n"
        if users:
            passwords = folder / "mosquitto.passwd"
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for i, (name, password) in enumerate(users.items()):
                subprocess.run([tool, *(["-c"] if i == 0 else []), "-b", str(passwords), name, password],
                               check=True, capture_output=True)
            access = access.replace("allow_anonymous true", f"allow_anonymous false\npassword_file {passwords}")
        if (users or tls) and os.geteuid() == 0:  # started as root, it reads these files as "mosquitto"
            access += "user root\n"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\n{access}persistence false\n")
        self.proc = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._listening, timeout=5)
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(5)


class Subscriber:
    """Records every message on ``topics`` as (topic, payload, retained flag). A message published
    before the subscription is in place is only seen if it was retained (then with the flag set):
    call :meth:`wait_ready` before anything is published that the test waits for."""

    _ids = itertools.count()

    def __init__(self, port: int, topics: list[str], username: str | None = None, password: str | None = None,
                 ca_file: Path | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []
        self.raw: list[tuple[str, bytes]] = []  # the same messages' payloads as bytes (images)
        self.times: list[float] = []  # wall-clock arrival of each message (compared with event timestamps)
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self._pending = len(topics)
        # a client id of its own: a second client with the same id would make the broker drop the first
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{os.getpid()}-{next(self._ids)}")
        self.c.on_message = lambda c, u, m: self._add(m)
        self.c.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics] or self._acked(0)
        self.c.on_subscribe = lambda c, u, mid, codes, p: self._acked(1)
        if username:
            self.c.username_pw_set(username, password)
        if ca_file:
            self.c.tls_set(ca_certs=str(ca_file))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _acked(self, n: int) -> None:
        self._pending -= n
        if self._pending <= 0:
            self.ready.set()

    def wait_ready(self, timeout: float = 10) -> Subscriber:
        if not self.ready.wait(timeout):
            raise AssertionError("the test subscriber's subscriptions were not acknowledged")
        return self

    def _add(self, m) -> None:
        with self.lock:
            self.messages.append((m.topic, m.payload.decode(errors="replace"), m.retain))
            self.raw.append((m.topic, bytes(m.payload)))
            self.times.append(time.time())

    def topics(self, prefix: str) -> list[tuple[str, str, bool]]:
        with self.lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
