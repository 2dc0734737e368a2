"""`make demo` ends by saying how to reach `voc` (issue 16, item 6): it lives in `.venv/bin/`, not on
the PATH, so a new user who types `voc search ...` as the demo suggests gets "command not found"."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_ends_by_naming_both_ways_to_reach_voc() -> None:
    # -n prints the recipe without running it; STAMP= leaves out the install prerequisite
    # --no-print-directory: under `make test` this make is a sub-make and would print
    # "make[1]: Entering directory ..." around the recipe
    out = subprocess.run(["make", "--no-print-directory", "-n", "demo", "STAMP="], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    demo = lines.index(".venv/bin/voc demo")
    after = "\n".join(lines[demo + 1:])
    assert ".venv/bin/voc" in after and "source .venv/bin/activate" in after
    assert all(line.startswith("echo") for line in lines[demo + 1:])


def test_the_quick_start_says_it_too() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    start = readme.index("## Quick start")
    quick = readme[start:readme.index("\n## ", start + 1)]
    assert "`.venv/bin/voc`" in quick and "`source .venv/bin/activate`" in quick
