"""`takos login-device` (and the helpers behind `takos login --device`): RFC 8628 device flow.

The CLI is the public OAuth client `takos-cli`. It asks for a device code, shows the person a
short code and a URL (opening the browser when it can), and polls the token endpoint at the
interval the server gives, backing off on `slow_down`. The access token goes into the normal
config; the refresh token is kept beside it (0600) so `takos auth refresh` can renew it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from takos.cli.client import ApiClient, CliError
from takos.cli.config import Config, config_path
from takos.cli.output import emit

CLI_CLIENT_ID = "takos-cli"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLI_SCOPES = "openid profile spaces:write repos:write threads:write agents:execute files:write memories:write"


def _oauth_post(url: str, path: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.post(f"{url}{path}", data=data, timeout=30, headers={"User-Agent": "takos-cli"})
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {"error": "server_error", "error_description": response.text[:200]}
    return response.status_code, body


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


def device_login(url: str, *, scope: str = CLI_SCOPES, client_id: str = CLI_CLIENT_ID, open_browser: bool = True,
                 announce: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Run the device flow against `url`; returns the token response (access_token, refresh_token, ...)."""
    status, start = _oauth_post(url, "/oauth/device/code", {"client_id": client_id, "scope": scope})
    if status != 200:
        raise CliError(f"device login refused: {start.get('error_description') or start.get('error')}", status=status)
    verify = start.get("verification_uri_complete") or start["verification_uri"]
    announce(f"To sign in, open {start['verification_uri']} and enter the code {format_user_code(start['user_code'])}")
    if open_browser:
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(verify)
    interval = max(int(start.get("interval") or 5), 1)
    deadline = time.monotonic() + int(start.get("expires_in") or 900)
    while time.monotonic() < deadline:
        sleep(interval)
        status, body = _oauth_post(url, "/oauth/token", {"grant_type": DEVICE_GRANT, "device_code": start["device_code"],
                                                         "client_id": client_id})
        if status == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            continue
        if error == "access_denied":
            raise CliError("sign-in was denied in the browser")
        if error == "expired_token":
            break
        raise CliError(f"device login failed: {body.get('error_description') or error}", status=status)
    raise CliError("the code expired before it was approved; run the command again")


def oauth_state_path() -> Path:
    return config_path().with_name("oauth.json")


def save_refresh_token(url: str, token: dict[str, Any]) -> Path:
    path = oauth_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": url, "client_id": CLI_CLIENT_ID, "refresh_token": token.get("refresh_token"),
                   "expires_at": int(time.time()) + int(token.get("expires_in") or 0)}, handle)
    return path


def refresh_saved(config: Config) -> bool:
    """Swap the saved refresh token for a new access token (rotation); True if the config was updated."""
    path = oauth_state_path()
    if not path.exists():
        return False
    state = json.loads(path.read_text())
    if state.get("url") != config.url or not state.get("refresh_token"):
        return False
    status, body = _oauth_post(config.url, "/oauth/token", {"grant_type": "refresh_token", "client_id": CLI_CLIENT_ID,
                                                            "refresh_token": state["refresh_token"]})
    if status != 200:
        return False
    config.token = body["access_token"]
    config.save()
    save_refresh_token(config.url, body)
    return True


def _login_device(args: argparse.Namespace, api: ApiClient) -> int:
    config = api.config
    if getattr(args, "url", None):
        config.url = args.url.rstrip("/")
    token = device_login(config.url, open_browser=not args.no_browser, announce=lambda m: print(m, file=sys.stderr))
    me = ApiClient(Config(url=config.url, token=token["access_token"])).get("/api/me")
    config.token, config.username = token["access_token"], me["username"]
    path = config.save()
    save_refresh_token(config.url, token)
    emit({"username": me["username"], "url": config.url, "config": str(path)}, args.json,
         message=f"Signed in to {config.url} as {me['username']} (device flow; saved in {path})")
    return 0


def _refresh(args: argparse.Namespace, api: ApiClient) -> int:
    if not refresh_saved(api.config):
        raise CliError("no usable refresh token: run `takos login-device` again")
    emit({"success": True}, args.json, message="Access token renewed.")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("login-device", parents=[common], help="sign in with the OAuth device flow (no local server)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL and code")
    p.set_defaults(handler=_login_device)
    auth = sub.add_parser("auth", parents=[common], help="OAuth session of the CLI").add_subparsers(
        dest="sub", required=True)
    auth.add_parser("refresh", parents=[common], help="renew the access token").set_defaults(handler=_refresh)
