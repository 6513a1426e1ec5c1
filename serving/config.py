"""Serving settings, read from the environment when the service starts (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL_URI = "models:/stallguard@champion"


@dataclass(frozen=True)
class ServeSettings:
    """What the service loads and how it behaves.

    Attributes:
        model_uri: `models:/NAME@ALIAS` or `models:/NAME/VERSION` (MLflow registry), `runs:/...`,
            `bentoml:TAG` (a model stored by `stallguard bento`), or a predictor bundle folder.
        context_dir: A fresher serving context (and recalibration) than the bundled one.
        max_batch: Most shipments per request.
        api_token: Bearer token required on the API routes; None: no auth.
        outbox_url: SQLAlchemy URL of the alert state and outbox.
        webhook_url: Where the in-service sender delivers alerts; None: leave them in the outbox
            for a separate `stallguard notify` worker.
        enter: Risk at which a parcel enters the alert state.
        exit: Risk below which it leaves it.
        eta_move_h: Hours the P50 ETA must move to re-alert.
        compensation_file: JSON of compensation hints per reason code and language.
    """

    model_uri: str = DEFAULT_MODEL_URI
    context_dir: Path | None = None
    max_batch: int = 1_000
    api_token: str | None = None
    outbox_url: str = "sqlite:///data/outbox.db"
    webhook_url: str | None = None
    enter: float = 0.6
    exit: float = 0.4
    eta_move_h: float = 12.0
    compensation_file: Path | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServeSettings:
        """Settings from `STALLGUARD_*` variables (see README, "Serving").

        Raises:
            ValueError: A variable does not parse; the message names it.
        """
        env = dict(os.environ) if env is None else env

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError as err:
                raise ValueError(f"{name} must be a number, got {raw!r}") from err

        def path(name: str) -> Path | None:
            raw = env.get(name)
            return Path(raw) if raw else None

        max_batch = number("STALLGUARD_MAX_BATCH", cls.max_batch)
        if max_batch < 1 or max_batch != int(max_batch):
            raise ValueError(f"STALLGUARD_MAX_BATCH must be a positive integer, got {max_batch}")
        return cls(
            model_uri=env.get("STALLGUARD_MODEL_URI") or DEFAULT_MODEL_URI,
            context_dir=path("STALLGUARD_CONTEXT_DIR"),
            max_batch=int(max_batch),
            api_token=env.get("STALLGUARD_API_TOKEN") or None,
            outbox_url=env.get("STALLGUARD_OUTBOX_URL") or cls.outbox_url,
            webhook_url=env.get("STALLGUARD_WEBHOOK_URL") or None,
            enter=number("STALLGUARD_ALERT_ENTER", cls.enter),
            exit=number("STALLGUARD_ALERT_EXIT", cls.exit),
            eta_move_h=number("STALLGUARD_ALERT_ETA_MOVE_H", cls.eta_move_h),
            compensation_file=path("STALLGUARD_COMPENSATION"),
        )
