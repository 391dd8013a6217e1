"""Headless Chromium driven through chromedriver's WebDriver HTTP API (standard library only),
and a static file server on 127.0.0.1, for the browser test of `nnc web`.

Debian's `chromium` and `chromium-driver` packages (scripts/conformance/install.sh) provide the
two binaries. Chromium starts with an empty profile and without the background services that
would reach the network; the page fetches from the local server only.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
]


def find() -> tuple[str | None, str | None]:
    """(chromium, chromedriver) paths, None where missing."""
    browser = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    return browser, shutil.which("chromedriver")


def version() -> str:
    """The browser's version, e.g. "Chromium 156.0.8078.114" (its user agent reduces it)."""
    browser, _ = find()
    if not browser:
        return "?"
    out = subprocess.run([browser, "--version"], capture_output=True, text=True, timeout=60)
    words = out.stdout.split()
    return " ".join(words[:2]) if len(words) >= 2 else "?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(folder: Path):
    """A static HTTP server for `folder` on 127.0.0.1; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        extensions_map = {
            **http.server.SimpleHTTPRequestHandler.extensions_map,
            ".wasm": "application/wasm",
            ".mjs": "text/javascript",
            ".js": "text/javascript",
        }

        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """One Chromium session: open a URL, run scripts, click, wait."""

    def __init__(self, profile: Path, downloads: Path, timeout: float = 60):
        browser, driver = find()
        if not browser or not driver:
            raise RuntimeError(
                "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
            )
        self.port = _free_port()
        self.driver = subprocess.Popen(
            [driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.driver.kill()
                    raise
                time.sleep(0.1)
        options = {
            "binary": browser,
            "args": [*FLAGS, f"--user-data-dir={profile}"],
            "prefs": {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
            },
        }
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": options}}}
        try:
            self.session = self._call("POST", "/session", caps)["sessionId"]
        except Exception:
            self.driver.kill()
            raise

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=600) as resp:
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            detail = json.loads(e.read() or b"{}").get("value", {})
            raise RuntimeError(f"WebDriver {method} {path}: {detail.get('message', e)}") from e
        value = answer.get("value", answer)
        return {"sessionId": answer["sessionId"], **value} if "sessionId" in answer else value

    def _session(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        """The value of a function body run in the page (`return ...`)."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def click(self, css: str) -> None:
        found = self._session("POST", "/element", {"using": "css selector", "value": css})
        element = next(iter(found.values()))
        self._session("POST", f"/element/{element}/click", {})

    def wait(self, script: str, timeout: float, every: float = 0.25):
        """Polls `script` until it returns a true value; -> that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:g} s for: {script}")
            time.sleep(every)

    def close(self) -> None:
        try:
            self._session("DELETE", "")
        finally:
            self.driver.terminate()
            try:
                self.driver.wait(10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
