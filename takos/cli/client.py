"""A small JSON client for the Takos API; the CLI talks to nothing else."""

from __future__ import annotations

from typing import Any

import httpx

from takos.cli.config import Config


class CliError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class ApiClient:
    def __init__(self, config: Config, *, timeout: float = 30):
        self.config = config
        headers = {"Accept": "application/json", "User-Agent": "takos-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.http = httpx.Client(base_url=config.url, headers=headers, timeout=timeout)

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> Any:
        try:
            response = self.http.request(method, path, json=json, params=params)
            if response.status_code == 401 and self._refresh_oauth_token():
                response = self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.config.url}: {exc}") from None
        if response.status_code == 401 and not self.config.token:
            raise CliError("not signed in: run `takos login`", status=401, code="UNAUTHORIZED")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            error = (body or {}).get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                raise CliError(error.get("message", response.reason_phrase), status=response.status_code,
                               code=error.get("code"))
            raise CliError(f"{response.status_code} {response.reason_phrase}", status=response.status_code)
        return body

    def _refresh_oauth_token(self) -> bool:
        """Device-flow logins hold a 1 h OAuth token: renew it once with the saved refresh token."""
        if not (self.config.token or "").startswith("tak_oat_"):
            return False
        from takos.cli.commands.auth_device import refresh_saved

        try:
            renewed = refresh_saved(self.config)
        except CliError:
            return False
        if renewed:
            self.http.headers["Authorization"] = f"Bearer {self.config.token}"
        return renewed

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None} or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {})

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
