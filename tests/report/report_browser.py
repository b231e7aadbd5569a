"""Headless chromium driven over the DevTools protocol on a pipe (stdlib only).

``chromium --remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3 and writes
replies and events on fd 4, so no websocket library is needed. :func:`open_page` loads a
file, collects console messages and uncaught exceptions, evaluates an expression in the page
and takes a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


#: Debian's /usr/bin/chromium is a shell launcher that does not pass fds 3 and 4 on; the
#: browser it starts is this one.
DEBIAN_BINARY = Path("/usr/lib/chromium/chromium")


def find_chromium() -> str | None:
    """The chromium executable (Debian's real binary rather than its launcher), or None."""
    if DEBIAN_BINARY.is_file() and os.access(DEBIAN_BINARY, os.X_OK):
        return str(DEBIAN_BINARY)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """What the browser saw: console messages (level, text), exceptions, a value, a PNG."""

    console: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    value: Any = None
    png: bytes = b""

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions."""
        return [t for level, t in self.console if level in ("error", "assert")] + self.exceptions


def _profile() -> Path:
    """A throwaway browser profile folder for this test process."""
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"dbfold-chromium-{os.getpid()}"


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer."""


class _Pipe:
    def __init__(self, exe: str) -> None:
        to_r, self._to_w = os.pipe()  # commands: we write, chromium reads on fd 3
        self._from_r, from_w = os.pipe()  # replies: chromium writes on fd 4
        args = [
            exe,
            "--headless",
            "--no-sandbox",  # root in a container: the sandbox cannot start
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={_profile()}",
            "about:blank",
        ]

        def fds() -> None:
            a, b = os.dup(to_r), os.dup(from_w)  # out of the way of 3 and 4 first
            os.dup2(a, 3)
            os.dup2(b, 4)

        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=fds,  # the dup2'd 3 and 4 are inheritable; the rest close at exec
                close_fds=False,  # (Python's own descriptors are close-on-exec anyway)
            )
        except OSError as exc:
            raise BrowserError(f"{exe}: cannot start ({exc})") from exc
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> int:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        return self._next

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise BrowserError(f"chromium closed the pipe: {err[-800:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return dict(json.loads(raw))

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        want = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == want:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)
        shutil.rmtree(_profile(), ignore_errors=True)


def open_page(
    exe: str,
    path: Path,
    expression: str = "null",
    *,
    width: int = 1400,
    height: int = 1000,
    full_page: bool = False,
    settle: float = 0.5,
) -> Page:
    """Load ``path``, wait for it, evaluate ``expression`` (JSON-able) and screenshot it."""
    pipe = _Pipe(exe)
    page = Page()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            pipe.call(domain, session=session)
        pipe.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.call("Page.navigate", {"url": path.absolute().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired")
        time.sleep(settle)
        result = pipe.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        page.value = result.get("result", {}).get("value")
        if "exceptionDetails" in result:
            page.exceptions.append(f"evaluate: {result['exceptionDetails']}")
        shot: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = pipe.call("Page.getLayoutMetrics", session=session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot["clip"] = {"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1}
            shot["captureBeyondViewport"] = True
        page.png = base64.b64decode(
            pipe.call("Page.captureScreenshot", shot, session=session)["data"]
        )
        for ev in pipe.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                )
                page.console.append((params.get("type", ""), text))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                page.exceptions.append(
                    str(details.get("exception", {}).get("description") or details.get("text"))
                )
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                page.console.append((entry.get("level", ""), str(entry.get("text", ""))))
    finally:
        pipe.close()
    return page
