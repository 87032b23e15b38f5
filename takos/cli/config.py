"""CLI configuration: server URL and token in the user's config dir (mode 0600)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


def config_path() -> Path:
    if os.environ.get("TAKOS_CONFIG"):
        return Path(os.environ["TAKOS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "takos" / "config.json"


@dataclass
class Config:
    url: str = "http://localhost:8000"
    token: str | None = None
    username: str | None = None

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        data = json.loads(path.read_text()) if path.exists() else {}
        cfg = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        # Environment wins, for CI and scripts.
        cfg.url = os.environ.get("TAKOS_URL", cfg.url).rstrip("/")
        cfg.token = os.environ.get("TAKOS_TOKEN", cfg.token)
        return cfg

    def save(self) -> Path:
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(self), fh, indent=2)
        return path
