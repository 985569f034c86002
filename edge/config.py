"""config.yaml → frozen dataclasses, validated once at start.

Every error names the key path, the value found and what was expected, e.g.
``recognition -> cooldown_s: -5 is below the minimum 0``, and is raised as :class:`ConfigError`
(the CLI exits 2) before any camera, model or pin is touched. Unknown keys are errors too: a typo
must never silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edge.errors import ConfigError
from edge.printable import has_control


def opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    """A config field with bounds (checked by :func:`_build`)."""
    return field(default=default, metadata={"min": lo, "max": hi, "doc": doc})


@dataclass(frozen=True)
class CameraConfig:
    source: Literal["picamera2", "opencv", "replay"] = "replay"
    device: str = "0"  # opencv: /dev/videoN index, a device path, an RTSP/HTTP URL or a video file
    path: str = "demo/replay"  # replay: a folder of images or a video file
    timestamps: str | None = None  # a raw stream's frame times (rpicam-vid --save-pts); null: <name>.pts beside it
    fps: float = opt(10.0, 0.1, 120)
    width: int = opt(640, 64, 4096)
    height: int = opt(480, 64, 4096)
    loop: bool = False  # replay: start again at the end instead of stopping
    realtime: bool = True  # replay: pace at fps and drop frames when behind; false = every frame, video clock
    reconnect_max_s: float = opt(30.0, 0.1, 3600)


MIN_TILE = 128  # a tile smaller than the detector's own input only multiplies the work
MAX_TILE = 4096


@dataclass(frozen=True)
class DetectorConfig:
    model: Literal["auto", "full", "short"] = "full"
    min_score: float = opt(0.5, 0.05, 0.99)
    tile: int = opt(0, 0, MAX_TILE)  # 0 (off) or a tile side of at least MIN_TILE pixels


@dataclass(frozen=True)
class MotionConfig:
    gate: bool | None = None  # null: on for live cameras (picamera2, opencv), off for replays
    min_area: float = opt(0.002, 0.0, 1.0)
    pixel_threshold: int = opt(12, 1, 255)
    max_interval_s: float = opt(2.0, 0.1, 3600)
    idle_interval_s: float = opt(30.0, 0.1, 3600)


@dataclass(frozen=True)
class SnapshotsConfig:
    announcements: tuple[Literal["unknown", "recognized"], ...] = ("unknown",)  # () = never
    folder: str | None = None  # null: a folder "snapshots" beside state_dir
    margin: float = opt(0.5, 0.0, 3.0)  # the face box grown by this fraction of its size on every side
    max_count: int = opt(500, 1, 100_000)  # the oldest snapshots are deleted beyond this many …
    max_age_days: float = opt(30.0, 0.01, 3650)  # … and after this many days


@dataclass(frozen=True)
class MetricsConfig:
    textfile: str | None = None  # a *.prom file in node_exporter's textfile-collector folder; null = off


@dataclass(frozen=True)
class ModelConfig:
    path: str | None = None  # null: the shipped models/face_resnet29_int8.tflite
    threads: int = opt(1, 1, 16)


@dataclass(frozen=True)
class RecognitionConfig:
    threshold: float | None = opt(None, -1.0, 1.0)  # null: the model card's calibrated value
    margin: float | None = opt(None, 0.0, 1.0)
    min_face_px: float = opt(40.0, 0, 2000)
    votes_needed: int = opt(3, 1, 100)
    votes_window: int = opt(5, 1, 100)
    cooldown_s: float = opt(60.0, 0, 86400)
    unknown_after_frames: int = opt(5, 1, 1000)
    track_iou: float = opt(0.3, 0.01, 0.99)
    track_timeout_s: float = opt(2.0, 0.1, 600)
    adaptive_mirror: bool = True  # embed the mirror image only for close calls (the card's mirror_band)
    reidentify_every: int = opt(5, 1, 1000)  # 1: every face identified afresh on every frame
    identity_change_below: float | None = opt(0.87, -1.0, 1.0)  # null: a track keeps its person until it ends


@dataclass(frozen=True)
class GalleryConfig:
    folder: str = "gallery"
    watch: bool = True
    poll_interval_s: float = opt(1.0, 0.1, 60)
    multiple_faces: Literal["reject", "largest"] = "reject"
    min_face_px: float = opt(40.0, 0, 4000)
    min_sharpness: float = opt(6.0, 0, 10000)
    max_pixels: int = opt(40_000_000, 10_000, 500_000_000)
    max_file_mb: float = opt(50.0, 0.1, 2000)  # larger files are refused from their size, never read


@dataclass(frozen=True)
class LoggingConfig:
    format: Literal["plain", "json"] = "plain"
    level: Literal["debug", "info", "warning", "error"] = "info"
    stats_interval_s: float = opt(30.0, 0.5, 86400)


@dataclass(frozen=True)
class GpioRuleConfig:
    pin: int = opt(17, 0, 53)
    on: str = "any_known"  # a person's name, "any_known" or "unknown"
    mode: Literal["pulse", "hold"] = "pulse"
    seconds: float = opt(2.0, 0.01, 3600)
    active_high: bool = True


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = opt(1883, 1, 65535)
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    tls: bool = False
    ca_file: str | None = None
    prefix: str = "siamese-edge"
    discovery_prefix: str = "homeassistant"
    queue_size: int = opt(1000, 1, 1_000_000)
    off_delay_s: int = opt(60, 1, 86400)
    cooldown_s: float = opt(0.0, 0, 86400)


@dataclass(frozen=True)
class HookConfig:
    command: str | None = None  # an executable (no shell); the event arrives as JSON on stdin
    args: tuple[str, ...] = ()
    timeout_s: float = opt(10.0, 0.1, 3600)
    types: tuple[str, ...] = ("recognized", "unknown")
    cooldown_s: float = opt(0.0, 0, 86400)


@dataclass(frozen=True)
class EventsConfig:
    log_stdout: bool = True  # JSON lines on stdout (journald)
    log_file: str | None = None  # and/or a rotating JSON-lines file
    queue_size: int = opt(1000, 1, 1_000_000)
    gpio: tuple[GpioRuleConfig, ...] = ()
    gpio_cooldown_s: float = opt(0.0, 0, 86400)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    hook: HookConfig = field(default_factory=HookConfig)


@dataclass(frozen=True)
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    recognition: RecognitionConfig = field(default_factory=RecognitionConfig)
    gallery: GalleryConfig = field(default_factory=GalleryConfig)
    snapshots: SnapshotsConfig = field(default_factory=SnapshotsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    state_dir: str = "state"
    device_name: str = "siamese-edge"


def snapshots_folder(cfg: Config) -> Path:
    """Where snapshots go: ``snapshots.folder``, or ``snapshots`` beside ``state_dir`` (the Pi install:
    /var/lib/siamese-edge/snapshots next to …/state)."""
    if cfg.snapshots.folder is not None:
        return Path(cfg.snapshots.folder)
    return Path(cfg.state_dir).absolute().parent / "snapshots"


def _where(path: tuple[str, ...]) -> str:
    return " -> ".join(path) if path else "(top level)"


def _check_type(tp: Any, value: Any, path: tuple[str, ...]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(inner[0], value, path)
    if origin is tuple:
        (inner, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{_where(path)}: {value!r} should be a list")
        if dataclasses.is_dataclass(inner):
            return tuple(_build(inner, item, path + (f"[{i}]",)) for i, item in enumerate(value))
        return tuple(_check_type(inner, item, path + (f"[{i}]",)) for i, item in enumerate(value))
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{_where(path)}: {value!r} is not one of {', '.join(map(repr, choices))}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(path)}: {value!r} should be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{_where(path)}: {value!r} should be a whole number")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{_where(path)}: {value!r} should be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{_where(path)}: {value!r} should be a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{_where(path)}: {value!r} should be text")
        return str(value)
    raise ConfigError(f"{_where(path)}: unsupported type {tp}")


def _build(cls: type, data: Any, path: tuple[str, ...]) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_where(path)}: expected a section of keys, got {data!r}")
    # YAML 1.1 reads an unquoted key `on:` as the boolean true; our keys are words, so map it back
    data = {({True: "on", False: "off"}.get(k, k) if isinstance(k, bool) else k): v for k, v in data.items()}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in data:
        if not isinstance(k, str):  # `1: x` or `[a]: x` — not a key we could ever have
            raise ConfigError(f"{_where(path + (str(k),))}: unknown key {k!r} (valid keys: {', '.join(fields)})")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{_where(path + (str(unknown[0]),))}: unknown key (valid keys: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, data[name], path + (name,))
            continue
        value = _check_type(tp, data[name], path + (name,))
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if value is not None and lo is not None and value < lo:
            raise ConfigError(f"{_where(path + (name,))}: {value!r} is below the minimum {lo}")
        if value is not None and hi is not None and value > hi:
            raise ConfigError(f"{_where(path + (name,))}: {value!r} is above the maximum {hi}")
        values[name] = value
    return cls(**values)


def _check_cross(cfg: Config) -> None:
    from edge.events import EVENT_TYPES

    for i, t in enumerate(cfg.events.hook.types):
        if t not in EVENT_TYPES:
            raise ConfigError(f"events -> hook -> types -> [{i}]: {t!r} is not one of {', '.join(EVENT_TYPES)}")
    pins: dict[int, bool] = {}
    for i, rule in enumerate(cfg.events.gpio):
        if pins.setdefault(rule.pin, rule.active_high) != rule.active_high:
            raise ConfigError(f"events -> gpio -> [{i}] -> active_high: rules for pin {rule.pin} disagree")
    _check_topic_level("device_name", cfg.device_name)
    m = cfg.events.mqtt
    for key in ("prefix", "discovery_prefix"):
        for level in getattr(m, key).split("/"):
            _check_topic_level(f"events -> mqtt -> {key}", level, whole=getattr(m, key))
    if sum(x is not None for x in (m.password, m.password_file, m.password_env)) > 1:
        raise ConfigError("events -> mqtt: give only one of password, password_file, password_env")
    r = cfg.recognition
    if r.votes_needed > r.votes_window:
        raise ConfigError(f"recognition -> votes_needed: {r.votes_needed} cannot exceed votes_window "
                          f"({r.votes_window})")
    if 0 < cfg.detector.tile < MIN_TILE:
        raise ConfigError(f"detector -> tile: {cfg.detector.tile} is too small (0 turns tiling off; "
                          f"otherwise at least {MIN_TILE} pixels)")


def _check_topic_level(key: str, value: str, whole: str | None = None) -> None:
    """MQTT topic rules for a name that becomes one topic level: no wildcard (``+``, ``#``), no
    separator, no NUL, not empty, within the protocol's length (the broker drops a client whose
    last-will topic breaks them, and it would retry forever)."""
    shown = whole if whole is not None else value
    if not value.strip() or any(c in value for c in "+#/\0") or len(value.encode("utf-8", "surrogatepass")) > 200:
        raise ConfigError(f"{key}: {shown!r} cannot be used in MQTT topics (no '+', '#', '/', not empty, "
                          f"at most 200 bytes)")
    if has_control(value):
        raise ConfigError(f"{key}: {shown!r} contains a control character")



def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_ca_file(m: MqttConfig) -> None:
    """``ca_file`` must hold certificates TLS can load (else paho fails at start with a traceback)."""
    if not (m.enabled and m.tls and m.ca_file):
        return
    import ssl

    try:
        ssl.create_default_context(cafile=m.ca_file)
    except ssl.SSLError as exc:  # an OSError too: first
        raise ConfigError(f"events -> mqtt -> ca_file: {m.ca_file!r} holds no certificate TLS can use "
                          f"({exc.reason or exc})") from None
    except OSError as exc:
        raise ConfigError(f"events -> mqtt -> ca_file: {m.ca_file!r} cannot be read ({exc.strerror})") from None


MQTT_MAX_PASSWORD = 65535  # the protocol's limit (a two-byte length)


def mqtt_password(m: MqttConfig) -> str | None:
    """The MQTT password from the config, a file, or an environment variable."""
    if m.password_file:
        key = f"events -> mqtt -> password_file: {m.password_file!r}"
        try:
            with open(m.password_file, "rb") as f:  # bounded: MQTT allows 65,535 bytes; /dev/zero has no end
                raw = f.read(MQTT_MAX_PASSWORD + 1)
        except OSError as exc:
            raise ConfigError(f"{key} cannot be read ({exc.strerror})") from None
        try:
            password = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise ConfigError(f"{key} is not UTF-8 text") from None
        if len(password.encode()) > MQTT_MAX_PASSWORD:
            raise ConfigError(f"{key} holds more than {MQTT_MAX_PASSWORD} bytes, more than MQTT allows")
        return password
    if m.password_env:
        if m.password_env not in os.environ:
            raise ConfigError(f"events -> mqtt -> password_env: ${m.password_env} is not set")
        return os.environ[m.password_env]
    return m.password


def check_paths(cfg: Config) -> None:
    """Folders and files named by the config that must be what they claim (gallery commands too)."""
    gallery, state = Path(cfg.gallery.folder).resolve(), Path(cfg.state_dir).resolve()
    if Path(cfg.gallery.folder).exists() and not Path(cfg.gallery.folder).is_dir():
        raise ConfigError(f"gallery -> folder: {cfg.gallery.folder!r} is a file, not a folder")
    if Path(cfg.state_dir).exists() and not Path(cfg.state_dir).is_dir():
        raise ConfigError(f"state_dir: {cfg.state_dir!r} is a file, not a folder")
    if _inside(state, gallery) or _inside(gallery, state):
        raise ConfigError(f"state_dir: {cfg.state_dir!r} and gallery -> folder {cfg.gallery.folder!r} must be "
                          f"separate folders, neither inside the other (the cache is private, the photos shared)")
    snaps = snapshots_folder(cfg).resolve()
    if _inside(snaps, gallery) or _inside(gallery, snaps):
        raise ConfigError(f"snapshots -> folder: {str(snapshots_folder(cfg))!r} and gallery -> folder "
                          f"{cfg.gallery.folder!r} must be separate folders (a snapshot in the gallery would be "
                          f"enrolled as a person)")
    prom = cfg.metrics.textfile
    if prom is not None and not prom.endswith(".prom"):
        raise ConfigError(f"metrics -> textfile: {prom!r} should end in .prom (node_exporter reads only those)")
    log_file = cfg.events.log_file
    if log_file is not None and (Path(log_file).is_dir() or log_file.endswith(os.sep)):
        raise ConfigError(f"events -> log_file: {log_file!r} is a folder; give a file name inside it")
    if log_file is not None and Path(log_file).parent.exists() and not Path(log_file).parent.is_dir():
        raise ConfigError(f"events -> log_file: {log_file!r}: {str(Path(log_file).parent)!r} is not a folder")


def check_files(cfg: Config) -> None:
    """Files the daemon needs (checked by ``run`` and ``check-config``, not by gallery commands),
    including the model card, whose every field is validated here rather than at the first face."""
    check_paths(cfg)
    if cfg.events.hook.command and not os.access(cfg.events.hook.command, os.X_OK):
        raise ConfigError(f"events -> hook -> command: {cfg.events.hook.command!r} is not an executable file")
    mqtt_password(cfg.events.mqtt)
    check_ca_file(cfg.events.mqtt)
    if cfg.model.path is not None and not Path(cfg.model.path).is_file():
        raise ConfigError(f"model -> path: {cfg.model.path!r} does not exist")
    if cfg.camera.source == "replay" and not Path(cfg.camera.path).exists():
        raise ConfigError(f"camera -> path: {cfg.camera.path!r} does not exist (a folder of images or a video)")
    check_timestamps(cfg.camera)
    from edge.errors import ModelFileError
    from edge.vision.card import load_card

    try:
        load_card(cfg.model.path or default_model_path())
    except ModelFileError as exc:
        raise ConfigError(f"model -> path: {exc}") from None


def check_timestamps(camera: CameraConfig) -> None:
    """``camera.timestamps`` is read here, before the run: a file the camera could not use would
    otherwise show only as a camera that keeps "retrying", and one given to a camera that times its
    own frames (picamera2, a live opencv device, a container) would be ignored without a word."""
    if camera.timestamps is None:
        return
    from edge.camera import is_recording
    from edge.camera.replay import RAW_STREAM_SUFFIXES, timecodes_misplaced
    from edge.camera.timecodes import TimecodeError, read_timecodes

    given = repr(camera.timestamps)
    if not is_recording(camera):
        live = f"the opencv device {camera.device!r}" if camera.source == "opencv" else "the picamera2 camera"
        raise ConfigError(f"camera -> timestamps: {given} is for a recorded raw stream (source replay, or an "
                          f"opencv device that is a video file); {live} times its own frames")
    recording = Path(camera.path if camera.source == "replay" else camera.device)
    what = timecodes_misplaced(recording)
    if what:
        raise ConfigError(f"camera -> timestamps: {given} is for a raw stream "
                          f"({', '.join(sorted(RAW_STREAM_SUFFIXES))}); {str(recording)!r} is {what}")
    if not Path(camera.timestamps).exists():
        raise ConfigError(f"camera -> timestamps: {given} does not exist (rpicam-vid --save-pts FILE writes it)")
    try:
        read_timecodes(Path(camera.timestamps))
    except TimecodeError as exc:
        raise ConfigError(f"camera -> {exc}") from None


def resolve(cfg: Config, base: Path) -> Config:
    """Make relative paths relative to the config file's folder."""
    def absolute(p: str | None) -> str | None:
        return None if p is None else str(p if os.path.isabs(p) else (base / p))

    return dataclasses.replace(
        cfg,
        camera=dataclasses.replace(cfg.camera, path=absolute(cfg.camera.path),
                                   timestamps=absolute(cfg.camera.timestamps)),
        model=dataclasses.replace(cfg.model, path=absolute(cfg.model.path)),
        gallery=dataclasses.replace(cfg.gallery, folder=absolute(cfg.gallery.folder)),
        state_dir=absolute(cfg.state_dir),
        snapshots=dataclasses.replace(cfg.snapshots, folder=absolute(cfg.snapshots.folder)),
        metrics=dataclasses.replace(cfg.metrics, textfile=absolute(cfg.metrics.textfile)),
        events=dataclasses.replace(cfg.events, log_file=absolute(cfg.events.log_file)),
    )


DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
"""The documented defaults in a checkout; an installed wheel has no config.yaml and uses the same
values, which are the dataclasses' own defaults (a test keeps the two equal)."""


def parse_config(text: str, source: str = "<config>", base: Path | None = None) -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}:{where} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    cfg = _build(Config, data, ())
    _check_cross(cfg)
    return resolve(cfg, base or Path("."))


def default_model_path() -> Path:
    from edge.vision.embedder import DEFAULT_MODEL

    return Path(DEFAULT_MODEL)


MAX_CONFIG_BYTES = 1_000_000


def config_file(path: str | Path | None = None) -> Path:
    """The file :func:`load_config` reads for ``path``: it, ``$SIAMESE_EDGE_CONFIG``, or the repo's."""
    return Path(path or os.environ.get("SIAMESE_EDGE_CONFIG") or DEFAULT_CONFIG)


def secret_warnings(cfg: Config, path: Path) -> list[str]:
    """The MQTT password where other users of the machine can read it — in a config file (the
    installed one is 0644: it holds nothing else secret) or a ``password_file`` readable by
    everyone. Warnings, not errors: the service still runs, and the message says what to change."""
    m = cfg.events.mqtt
    found = []
    for key, file in (("password", path if m.password is not None else None),
                      ("password_file", Path(m.password_file) if m.password_file else None)):
        try:
            mode = file.stat().st_mode if file is not None else 0
        except OSError:
            continue
        if mode & 0o004:
            where = f"is written in {file}" if key == "password" else f"{file}"
            fix = ("move it to a password_file only the service's user can read (chmod 600), or to password_env"
                   if key == "password" else f"chmod 600 {file} (owned by the service's user)")
            found.append(f"events -> mqtt -> {key}: {where}, which every user of this machine can read "
                         f"(mode {oct(mode & 0o777)[2:]}): {fix}")
    return found


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate ``path`` (default: ``$SIAMESE_EDGE_CONFIG`` or the repo's config.yaml).

    Whatever the file holds, the only exception is :class:`ConfigError`."""
    path = config_file(path)
    if path == DEFAULT_CONFIG and not path.exists():  # an installed wheel: the documented defaults
        return parse_config("{}", "<defaults>", Path.cwd())
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder, not a config file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size} bytes is too large for a config file")
        with open(path, "rb") as f:  # bounded: /dev/zero or a file still growing has no end
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: more than {MAX_CONFIG_BYTES} bytes is too large for a config file")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          f"save it as UTF-8") from None
    try:
        return parse_config(text, str(path), path.resolve().parent)
    except ConfigError:
        raise
    except (RecursionError, ValueError, TypeError) as exc:  # anything YAML lets through that we missed
        raise ConfigError(f"{path}: cannot be read as a configuration ({type(exc).__name__}: {exc})") from None
