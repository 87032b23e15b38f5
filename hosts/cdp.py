"""A small synchronous Chrome DevTools Protocol client for the browser host.

Chromium in the browser container exposes CDP on 127.0.0.1:<port>. Each call opens a
websocket to the first page target, sends commands and closes; nothing is kept in the
web process between requests, so any web or worker process can drive any session.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import websocket

from hosts.loopback import http


class CdpError(Exception):
    pass


def wait_ready(port: int, *, timeout: float = 30, alive: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Poll /json/version until Chromium answers; returns its version info.

    `alive` (optional) is asked between polls so a container that exited fails at once.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise CdpError("the browser container exited during start")
        try:
            response = http().get(f"http://127.0.0.1:{port}/json/version", timeout=2)
            if response.status_code == 200:
                return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            last = exc
        time.sleep(0.1)
    raise CdpError(f"Chromium on port {port} did not answer within {timeout}s: {last}")


class Page:
    """One page target; use as a context manager."""

    def __init__(self, port: int, *, timeout: float = 30):
        self.port, self.timeout = port, timeout
        self._ids = itertools.count(1)
        self.ws: websocket.WebSocket | None = None

    def __enter__(self) -> Page:
        targets = http().get(f"http://127.0.0.1:{self.port}/json/list", timeout=5).json()
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            target = http().put(f"http://127.0.0.1:{self.port}/json/new?about:blank", timeout=5).json()
        else:
            target = pages[0]
        # Connect to the port we know (the URL may name an inner port behind a forwarder).
        path = target["webSocketDebuggerUrl"].split("/devtools/", 1)[1]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/devtools/{path}", timeout=self.timeout,
                                              suppress_origin=True, enable_multithread=False)
        self.call("Page.enable")
        self.call("Runtime.enable")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ws is not None:
            self.ws.close()

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> dict:
        assert self.ws is not None
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if time.monotonic() > deadline:
                raise CdpError(f"{method} timed out")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                raise CdpError(f"{method} timed out") from None
            message = json.loads(raw)
            if message.get("id") == msg_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if result.get("exceptionDetails"):
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CdpError(f"script error: {text}")
        return result.get("result", {}).get("value")

    def wait_load(self, *, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            if self.evaluate("document.readyState") == "complete":
                return
            time.sleep(0.05)
        raise CdpError("the page did not finish loading")

    # --- operations -------------------------------------------------------------------
    def goto(self, url: str) -> dict[str, Any]:
        result = self.call("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigation failed: {result['errorText']}")
        self.wait_load()
        return self.info()

    def info(self) -> dict[str, Any]:
        return self.evaluate("({url: location.href, title: document.title})") or {}

    def set_viewport(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def html(self) -> str:
        return self.evaluate("document.documentElement.outerHTML") or ""

    def extract(self, selector: str | None) -> dict[str, Any]:
        if not selector:
            return {"text": self.evaluate("document.body ? document.body.innerText : ''") or "", "items": []}
        items = self.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)})).slice(0, 500).map(e => ("
            "{text: e.innerText, html: e.outerHTML.slice(0, 5000), href: e.href || null}))"
        ) or []
        return {"text": "\n".join(i["text"] or "" for i in items), "items": items}

    def click(self, selector: str) -> None:
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
            " e.scrollIntoView({block: 'center'}); e.click(); return true; })()"
        )
        if not found:
            raise CdpError(f"no element matches {selector}")

    def type(self, selector: str | None, text: str) -> None:
        if selector:
            found = self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return false;"
                " e.focus(); return true; })()"
            )
            if not found:
                raise CdpError(f"no element matches {selector}")
        self.call("Input.insertText", {"text": text})

    def scroll(self, x: int, y: int) -> None:
        self.evaluate(f"window.scrollBy({int(x)}, {int(y)})")

    def screenshot(self) -> bytes:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)

    def pdf(self) -> bytes:
        data = self.call("Page.printToPDF", {"printBackground": True})["data"]
        return base64.b64decode(data)
