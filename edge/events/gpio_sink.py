"""Drive GPIO pins from recognitions (gpiozero; the pin factory comes from the environment —
lgpio on Pi OS — or ``GPIOZERO_PIN_FACTORY=mock`` / an explicit factory in tests).

Rule modes:
* ``pulse`` — on for exactly ``seconds`` from the first matching event; events during the pulse do
  not stretch it (a door strike opens once per visit, it is not held open).
* ``hold`` — on from a matching event until ``seconds`` pass without another (an indicator LED).

Several rules may share a pin: the pin is on while any of its rules is active. On close every pin
is driven to its off state and released.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.events import Event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpioRule:
    on: str  # a person's name, "any_known" or "unknown"
    pin: int
    mode: str = "pulse"  # "pulse" or "hold"
    seconds: float = 2.0
    active_high: bool = True

    def matches(self, event: Event) -> bool:
        if event.type == "unknown":
            return self.on == "unknown"
        if event.type == "recognized":
            return self.on == "any_known" or self.on == event.name
        return False


class GpioSink:
    name = "gpio"

    def __init__(self, rules: list[GpioRule], pin_factory=None, tick_s: float = 0.01,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock``: seconds, monotonic; pulses and holds are timed on it (a test hands in one it
        moves by hand, so a pulse's length is checked exactly rather than against a busy machine's
        scheduler)."""
        from gpiozero import OutputDevice

        self.rules = list(rules)
        self._clock = clock
        self._until = [0.0] * len(self.rules)
        self._cause: dict[int, str] = {}  # pin → what last switched it on (for the log)
        self._lock = threading.Lock()
        self.devices: dict[int, OutputDevice] = {}
        for rule in self.rules:
            if rule.pin in self.devices:
                if self.devices[rule.pin].active_high != rule.active_high:
                    raise ValueError(f"GPIO{rule.pin}: rules disagree on active_high")
                continue
            self.devices[rule.pin] = OutputDevice(rule.pin, active_high=rule.active_high, initial_value=False,
                                                  pin_factory=pin_factory)
        self._stop = threading.Event()
        self._tick_s = tick_s
        self._thread = threading.Thread(target=self._run, name="gpio", daemon=True)
        self._thread.start()

    def handle(self, event: Event) -> None:
        now = self._clock()
        self._apply(now)  # a pulse that has run out ends first: the next one is a fresh edge for the relay
        with self._lock:
            for i, rule in enumerate(self.rules):
                if not rule.matches(event):
                    continue
                if rule.mode == "hold" or self._until[i] <= now:
                    self._until[i] = now + rule.seconds
                    self._cause[rule.pin] = f"{rule.mode} {rule.seconds:g} s: {event.type} {event.name or ''}".rstrip()
        self._apply(now)

    def _apply(self, now: float) -> None:
        """Drive each pin to what its rules want; every change is logged (on a device, "did the door
        strike fire?" is answered by the log)."""
        with self._lock:
            wanted = {pin: False for pin in self.devices}
            for rule, until in zip(self.rules, self._until, strict=True):
                if until > now:
                    wanted[rule.pin] = True
            for pin, on in wanted.items():
                dev = self.devices[pin]
                if bool(dev.value) != on:
                    dev.on() if on else dev.off()
                    log.info("GPIO%d %s", pin, f"on ({self._cause.get(pin, '')})" if on else "off")

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            self._apply(self._clock())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        with self._lock:
            for dev in self.devices.values():
                dev.off()
                dev.close()
            self.devices.clear()
