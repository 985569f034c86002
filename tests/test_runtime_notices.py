"""What LiteRT writes to stderr from native code: its one INFO line is held back, nothing else is.

The filter swaps file descriptor 2 while a model loads, so these run in a child process whose
stderr is a real pipe, as the daemon's is under systemd."""

from __future__ import annotations

import select
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, cwd=REPO,
                          timeout=120)


def test_every_other_line_written_while_a_model_loads_is_passed_on_in_order():
    """Lines from native code and from Python's logging in another thread, an error raised inside:
    all of it reaches stderr, after the block, in the order written; only the notice is gone."""
    r = _child("""
        import logging, os, threading
        from edge.vision.runtime import XNNPACK_NOTICE, delegate_notice_held_back, xnnpack_delegate_created
        logging.basicConfig(format="%(message)s")
        assert xnnpack_delegate_created() is None
        try:
            with delegate_notice_held_back():
                os.write(2, b"ERROR: first native line\\n")
                os.write(2, XNNPACK_NOTICE + b"\\n")
                t = threading.Thread(target=lambda: logging.warning("a warning from another thread"))
                t.start(); t.join()
                os.write(2, b"last line without a newline")
                raise ValueError("the model did not load")
        except ValueError:
            pass
        os.write(2, b"\\nafter\\n")
        print(xnnpack_delegate_created())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stderr == (b"ERROR: first native line\na warning from another thread\nlast line without a newline"
                        b"\nafter\n")
    assert r.stdout == b"True\n"


def test_a_real_model_load_says_it_created_the_delegate_and_prints_nothing():
    r = _child("""
        from edge.vision.runtime import TFLiteModel, xnnpack_delegate_created
        print(xnnpack_delegate_created())
        TFLiteModel("models/face_resnet29_int8.tflite")
        print(xnnpack_delegate_created())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"None\nTrue\n"
    assert r.stderr == b""


def test_what_native_code_wrote_before_a_crash_still_gets_out():
    """Lines are forwarded as they come, not held until the load ends: a process that dies inside
    the load (as LiteRT does on a CPU it cannot use) has already told its error. The child aborts
    only once its line has been read from its stderr."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys
        from edge.vision.runtime import delegate_notice_held_back
        with delegate_notice_held_back():
            os.write(2, b"ERROR: the last words\\n")
            sys.stdin.readline()  # the parent has seen the line
            os.abort()
    """)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([child.stderr], [], [], 60)
        assert ready, "nothing reached stderr while the load was running"
        assert child.stderr.readline() == b"ERROR: the last words\n"
        child.stdin.write(b"go\n")
        child.stdin.flush()
        assert child.wait(timeout=60) != 0
        assert child.stderr.read() == b""
    finally:
        child.kill()


def test_without_the_notice_nothing_is_claimed():
    r = _child("""
        import os
        from edge.vision.runtime import delegate_notice_held_back, xnnpack_delegate_created
        with delegate_notice_held_back():
            os.write(2, b"INFO: something else\\n")
        print(xnnpack_delegate_created())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"False\n"
    assert r.stderr == b"INFO: something else\n"
