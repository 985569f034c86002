"""The layers a newcomer can see, kept by a test: every import in the project (lazy ones inside
functions included) goes downwards only.

    base       edge.errors, edge.printable,           imports nothing of the project
               edge.cli_args, edge.private_files,
               edge.native_stderr
    vision     edge.vision.*                          base
    gallery    gallery.*  (enrolment)                 base, vision
    converter  converter.* (workstation, TensorFlow)  base, vision, gallery (datasets are folders
                                                      of people, read by the gallery's own rules)
    app        every other edge.* module              anything below; of the converter only its
                                                      argument parser (converter.cli)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

BASE = {"edge.errors", "edge.printable", "edge.cli_args", "edge.private_files", "edge.native_stderr"}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    for prefix, name in (("edge.vision", "vision"), ("gallery", "gallery"), ("converter", "converter")):
        if module == prefix or module.startswith(prefix + "."):
            return name
    return "app" if module == "edge" or module.startswith("edge.") else "outside"


ALLOWED = {
    "base": {"base"},
    "vision": {"base", "vision"},
    "gallery": {"base", "vision", "gallery"},
    "converter": {"base", "vision", "gallery", "converter"},
    "app": {"base", "vision", "gallery", "app", "converter"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a project module in ``path``, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            # `from edge import cli` imports the module edge.cli
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                    if (REPO / node.module.replace(".", "/") / f"{a.name}.py").exists()]
    return [(line, m) for line, m in out if m.split(".")[0] in ("edge", "gallery", "converter")]


SOURCES = sorted(p for folder in ("edge", "gallery", "converter") for p in (REPO / folder).rglob("*.py"))


def violations(path: Path, me: str) -> list[str]:
    mine = layer(me)
    wrong = []
    for line, target in project_imports(path):
        theirs = layer(target)
        if theirs not in ALLOWED[mine]:
            wrong.append(f"{me}:{line} ({mine}) imports {target} ({theirs})")
        elif mine == "app" and theirs == "converter" and target != "converter.cli":
            wrong.append(f"{me}:{line} (app) imports {target}: only converter.cli")
    return wrong


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_go_down_the_layers_only(path):
    wrong = violations(path, module_name(path))
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_imports_against_the_layers(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def later():\n    from edge.daemon import Daemon\n")  # a lazy import counts too
    assert violations(probe, "edge.vision.probe") == ["edge.vision.probe:2 (vision) imports edge.daemon (app)"]
    probe.write_text("from converter.train import train\n")
    assert violations(probe, "gallery.probe") == ["gallery.probe:1 (gallery) imports converter.train (converter)"]
    assert violations(probe, "edge.daemon") == ["edge.daemon:1 (app) imports converter.train: only converter.cli"]


# the tests of what a user runs every day work on a plain clone: they take their faces from the
# demo portraits (tests/portraits.py), never from ../shared (LFW, the seed's photos)
ANY_CLONE = ("test_daemon.py", "test_gallery.py", "test_identify.py", "test_events.py", "test_home_assistant.py",
             "test_hostile_input.py", "test_tracking.py", "test_package.py")
SHARED_FIXTURES = re.compile(r"\b(shared_lfw|seed_dir|groups_dir|LFW_IMAGES|LFW|SEED|GROUPS|SHARED)\b")


@pytest.mark.parametrize("name", ANY_CLONE)
def test_daemon_gallery_and_identify_tests_need_no_shared_data(name):
    used = sorted(set(SHARED_FIXTURES.findall((REPO / "tests" / name).read_text())))
    assert not used, f"tests/{name} uses {used}: take real faces from the `faces` fixture instead"
