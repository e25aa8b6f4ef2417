"""Where podctl (and other clients) find the API server.

The address comes from, in order: an explicit flag, the PODLAB_SERVER
environment variable, the `server:` key of ~/.podlab/config (YAML, written by
`podlab up`), and finally the default 127.0.0.1:7443.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

DEFAULT_SERVER = "127.0.0.1:7443"
ENV_SERVER = "PODLAB_SERVER"


def config_path() -> Path:
    """The user's config file (~/.podlab/config); HOME is read at call time."""
    return Path(os.path.expanduser("~")) / ".podlab" / "config"


def read_config(path: Path | None = None) -> dict[str, object]:
    """The config file as a mapping; empty when it is missing or unreadable."""
    path = path or config_path()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve_server(flag: str | None = None, config: Path | None = None) -> str:
    """The API server address ("host:port") to use, by the precedence above."""
    if flag:
        return flag
    env = os.environ.get(ENV_SERVER)
    if env:
        return env
    server = read_config(config).get("server")
    if isinstance(server, str) and server:
        return server
    return DEFAULT_SERVER


def strip_scheme(address: str) -> str:
    """"host:port" from an address that may carry a scheme or a trailing slash."""
    for scheme in ("https://", "http://", "grpc://", "dns:///"):
        if address.startswith(scheme):
            address = address[len(scheme):]
    return address.rstrip("/")
