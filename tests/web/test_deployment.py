"""The console where operators start things: `docker compose up` runs it (docker-compose.yml, parsed
here: no Docker engine runs on this machine), `make demo` says how to reach it, and `voc web` serves
it for real (a child process on a free port, logged in with a user `voc users add` made)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from support.smtp import free_port

REPO = Path(__file__).resolve().parents[2]


def test_compose_starts_the_console_behind_loopback():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    web = compose["services"]["voc-web"]
    assert web["command"][:2] == ["voc", "web"] and "0.0.0.0" in web["command"]
    assert web["ports"] == ["127.0.0.1:8080:8080"]
    assert web["depends_on"]["voc-setup"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(web["healthcheck"]["test"])
    assert compose["services"]["voc"]["environment"]["VOC_WEB__URL"].endswith(":8080}")


def test_make_demo_says_how_to_reach_the_console():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "voc users add admin --role admin" in demo and "voc web" in demo and "8080" in demo


def test_voc_web_serves_the_console(tmp_path):
    env = {**os.environ, "VOC_STORE__PATH": str(tmp_path / "voc.db"),
           "VOC_APP__VAR_DIR": str(tmp_path / "var")}
    env.pop("VOC_SETTINGS", None)
    voc = [sys.executable, "-m", "voc.cli"]
    made = subprocess.run([*voc, "users", "add", "admin", "--role", "admin"], input="admin-pass-9\n",
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = subprocess.Popen([*voc, "web", "--port", str(port)], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    assert reply.read() == b"ok"
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "voc web did not answer"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as reply:
            page = reply.read().decode()
        assert 'name="username"' in page and 'name="csrf_token"' in page
    finally:
        server.terminate()
        server.wait(timeout=20)
    bad = subprocess.run([*voc, "users", "add", "x y", "--role", "viewer"], input="whatever-1\n",
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert bad.returncode == 2 and "user name" in bad.stderr and "Traceback" not in bad.stderr
