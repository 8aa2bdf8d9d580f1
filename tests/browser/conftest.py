"""Fixtures for the real-browser tests: the app served by `egov-abm app` and headless Debian Chromium.

The browser is Debian's Chromium (``/usr/bin/chromium``, or ``EGOV_CHROMIUM``)
driven by Playwright; Playwright's own browser download is never used. When
Chromium or Playwright is missing the tests are skipped with the reason, except
under CI (``CI`` set), where a missing browser is an error.

Screenshots and timings go to ``EGOV_ARTIFACTS`` (default
``test-artifacts/browser`` under the working directory).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("EGOV_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("EGOV_ARTIFACTS", "test-artifacts/browser")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(artifacts):
    """Start `egov-abm app` on a free local port; stop it after the session."""
    port = _free_port()
    log = (artifacts / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "egov_abm.scenarios.cli", "app", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"egov-abm app exited with {proc.returncode}; see {artifacts / 'server.log'}")
        try:
            with urllib.request.urlopen(url + "/", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"egov-abm app did not answer on {url} within 120 s")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, artifacts, request):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    pg.screenshot(path=str(artifacts / f"{request.node.name}-final.png"), full_page=True)
    context.close()


@pytest.fixture(scope="session")
def timings(artifacts):
    """A dict the tests fill with measured times; written to timings.json at the end."""
    record: dict = {}
    yield record
    (artifacts / "timings.json").write_text(json.dumps(record, indent=2))
