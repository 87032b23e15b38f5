"""Browser container entry: headless Chromium with the DevTools protocol on $PORT.

Chromium binds its DevTools endpoint to 127.0.0.1 only. With host networking (the
default) that is exactly $PORT on the host's loopback. With TAKOS_LISTEN_ALL=1 (bridge
networking, published port) Chromium listens on an inner port and a small forwarder
exposes it on 0.0.0.0:$PORT inside the container's own network namespace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading


def chromium_command(port: int) -> list[str]:
    binary = os.environ.get("TAKOS_CHROMIUM", "chromium")
    width, height = os.environ.get("TAKOS_VIEWPORT", "1280x800").split("x")
    # A fresh profile per container ($TMPDIR is the container's own folder with the local driver).
    profile = os.environ.get("TAKOS_BROWSER_PROFILE") or tempfile.mkdtemp(prefix="takos-chromium-")
    return [
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
        f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1",
        "--remote-allow-origins=*", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "about:blank",
    ]


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def forward(listen_port: int, target_port: int) -> None:
    server = socket.create_server(("0.0.0.0", listen_port), reuse_port=False)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def main() -> None:
    port = int(os.environ.get("PORT", "9222"))
    chrome_port = port
    if os.environ.get("TAKOS_LISTEN_ALL") == "1":
        chrome_port = port + 1 if port < 65535 else port - 1
        threading.Thread(target=forward, args=(port, chrome_port), daemon=True).start()
    proc = subprocess.Popen(chromium_command(chrome_port), stdout=sys.stdout, stderr=sys.stderr)

    def stop(signum: int, frame: object) -> None:
        proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.exit(proc.wait())


if __name__ == "__main__":
    main()
