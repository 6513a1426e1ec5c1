"""The settings of the service and of every command: one typed class, read at the entry point.

Every field comes from an environment variable `STALLGUARD_<FIELD>` (the MLflow store from
`MLFLOW_TRACKING_URI`, as MLflow itself reads it); nothing reads the environment at import
time. docs/serving.md lists them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.alerts.policy import AlertPolicy
from serving.alerts.signing import key_of
from training.compiled import DEFAULT_CACHE as DEFAULT_TREE_CACHE
from training.config import REGISTERED_MODEL, TrackingConfig

DEFAULT_MODEL_URI = "models:/stallguard@champion"
DEFAULT_OUTBOX_URL = "sqlite:///data/outbox.db"
DEFAULT_STATE_URL = "sqlite:///data/state.db"


# The fields whose values never appear in a log line (serving/redaction.py masks them).
SECRETS = (
    "api_token",
    "outbox_url",
    "state_url",
    "pii_key",
    "webhook_url",
    "webhook_token",
    "webhook_secret",
)


class SettingsError(ValueError):
    """An environment variable does not parse; the message names it (never its value)."""


class Settings(BaseSettings):
    """What the service loads and how it and the commands behave.

    Attributes:
        model_uri: `models:/NAME@ALIAS` or `models:/NAME/VERSION` (MLflow registry),
            `runs:/...`, `bentoml:TAG` (a model stored by `stallguard bento`), or a predictor
            bundle folder.
        context_dir: A fresher serving context (and recalibration) than the bundled one.
        max_batch: Most shipments per request.
        max_body_bytes: Largest request body, counted before it is parsed.
        api_token: Bearer token required on the API routes; None: no auth.
        outbox_url: SQLAlchemy URL of the alert state and outbox.
        state_url: SQLAlchemy URL of the live watch's state (shipments, scans, predictions).
        pii_key: Key of the keyed hash kept instead of an address and phone; None: no hash.
        watch_every: Seconds between the service's own watcher passes; 0: passes only on
            demand (POST /watch, `stallguard watch --once`, a replay).
        webhook_url: Where alerts are delivered (the in-service sender, `stallguard notify`);
            None in the service: leave them in the outbox for a `stallguard notify` worker.
        webhook_token: Bearer token sent to the webhook.
        webhook_secret: Signs every delivery, Standard Webhooks style (`whsec_` + base64).
        alert_enter: Risk at which a parcel enters the alert state.
        alert_exit: Risk below which it leaves it.
        alert_eta_move_h: Hours the P50 ETA must fall outside the window last sent to re-alert.
        compensation: JSON of compensation hints per reason code and language.
        tracking_uri: MLflow tracking store and registry (`MLFLOW_TRACKING_URI`); None:
            `sqlite:///mlflow.db` in the current folder.
        artifacts: Where new MLflow experiments keep their artifacts; None: `mlartifacts/` in
            the current folder.
        registered_model: Registry name of the model.
        compile_trees: Compile the model's boosters to machine code in the background when a
            service or watch starts (training/compiled.py); False: LightGBM scores.
        tree_cache: Where compiled trees are kept, one file per model and CPU.
    """

    model_config = SettingsConfigDict(
        env_prefix="STALLGUARD_", extra="ignore", frozen=True, populate_by_name=True
    )

    model_uri: str = DEFAULT_MODEL_URI
    context_dir: Path | None = None
    max_batch: int = Field(1_000, ge=1)
    max_body_bytes: int = Field(10_000_000, ge=1_024)
    api_token: SecretStr | None = None
    outbox_url: SecretStr = SecretStr(DEFAULT_OUTBOX_URL)
    state_url: SecretStr = SecretStr(DEFAULT_STATE_URL)
    pii_key: SecretStr | None = None
    watch_every: float = Field(300.0, ge=0)
    webhook_url: SecretStr | None = None
    webhook_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    # Chosen on the live path (bench/bench_live.py, docs/benchmarks.md): hourly passes give a
    # parcel many chances to cross, so the entry sits above the model's snapshot threshold.
    alert_enter: float = Field(0.40, ge=0, le=1)
    alert_exit: float = Field(0.15, ge=0, le=1)
    alert_eta_move_h: float = Field(36.0, ge=0)
    compensation: Path | None = None
    tracking_uri: str | None = Field(
        None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "tracking_uri")
    )
    artifacts: str | None = None
    registered_model: str = REGISTERED_MODEL
    compile_trees: bool = True
    tree_cache: Path = DEFAULT_TREE_CACHE

    @field_validator("webhook_secret")
    @classmethod
    def _a_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            key_of(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Settings:
        if not self.alert_exit < self.alert_enter:
            raise ValueError(
                f"STALLGUARD_ALERT_EXIT ({self.alert_exit}) must be below "
                f"STALLGUARD_ALERT_ENTER ({self.alert_enter})"
            )
        return self

    def alert_policy(self) -> AlertPolicy:
        """The alert policy these settings describe."""
        return AlertPolicy(self.alert_enter, self.alert_exit, self.alert_eta_move_h)

    @classmethod
    def load(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings from the environment (or from `env`).

        Raises:
            SettingsError: A variable does not parse (the message names it, not its value).
        """
        try:
            if env is None:
                return cls()
            return cls.model_validate(_from_mapping(env))
        except ValidationError as err:
            raise SettingsError(_describe(err)) from None

    def tracking(self, root: Path | None = None) -> TrackingConfig:
        """Where MLflow runs, artifacts and the registry live (relative to `root`: cwd)."""
        base = (root or Path.cwd()).resolve()
        return TrackingConfig(
            uri=self.tracking_uri or f"sqlite:///{base / 'mlflow.db'}",
            artifacts=self.artifacts or str(base / "mlartifacts"),
            registered_model=self.registered_model,
        )

    def secret(self, name: str) -> str | None:
        """The plain value of a secret field (None when unset)."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None


def _from_mapping(env: dict[str, str]) -> dict[str, str]:
    """Field values from a mapping of environment variables (unset and empty ones left out)."""
    out: dict[str, str] = {}
    for name in Settings.model_fields:
        value = env.get(f"STALLGUARD_{name.upper()}")
        if value:
            out[name] = value
    if env.get("MLFLOW_TRACKING_URI"):
        out["tracking_uri"] = env["MLFLOW_TRACKING_URI"]
    return out


def _describe(err: ValidationError) -> str:
    """One line per bad variable, named as the environment spells it, values never shown."""
    lines = []
    for problem in err.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = (
            "MLFLOW_TRACKING_URI" if field == "tracking_uri" else f"STALLGUARD_{field.upper()}"
        )
        lines.append(f"{variable}: {problem['msg']}" if field else problem["msg"])
    return "; ".join(lines)
