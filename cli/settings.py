"""The settings a command runs with, read once at its start (serving/settings.py)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from cli.render import fail

if TYPE_CHECKING:
    from serving.settings import Settings


@cache
def load_settings() -> Settings:
    """The settings from the environment; a one-line error naming a bad variable.

    From here on, every log line of the command has the secrets masked (serving/redaction.py).
    """
    from serving.redaction import install
    from serving.settings import SECRETS, Settings, SettingsError

    try:
        settings = Settings.load()
    except SettingsError as err:
        fail(err)
    install(settings.secret(name) for name in SECRETS)  # no secret in any log line
    return settings


def redact(url: str | None) -> str:
    """A URL fit for a log line: scheme, host and port, never credentials or a path's token."""
    if not url:
        return "-"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return f"{parts.scheme}:///{parts.path.lstrip('/')}"
    origin = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"
    return origin if parts.path in ("", "/") else f"{origin}/..."
