"""The model bundle: raw shipments (+ scans, + context) in; risk, ETA window and reasons out.

`Predictor` is what the MLflow pyfunc wraps (training/pyfunc.py) and what serving loads. It
calls `features.build.build_features`, the same function training used, so serving cannot
drift from training. It saves to a plain directory: LightGBM model text, a JSON of the
calibration, conformal margins and threshold, and the context it was trained with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from contract.schema import TIMESTAMP_DTYPE
from contract.tables import Tables
from features.build import as_categorical, build_features, feature_columns
from features.catalog import FEATURES
from features.context import Context
from features.snapshots import Columns
from training.compiled import DEFAULT_CACHE, Trees, compile_all, compile_in_background
from training.models import QUANTILES, EtaModel, RiskModel, feature_matrix, trained_positions
from training.reasons import reason_matrix, top_of, top_reasons
from training.recalibration import Recalibration
from training.reference import Reference
from training.whatif import Typical, what_if_effects

REASON_MIN_RISK = 0.2  # below this a parcel gets no reasons (see Predictor._reasons)
STAGE_FEATURE = "prog_last_event"  # groups the conformal margins: known at serving time too
_CATEGORICAL = frozenset(f.name for f in FEATURES if f.kind == "category")
OUTPUT_COLUMNS = (
    "shipment_id",
    "as_of",
    "risk",
    "at_risk",
    "eta_p10",
    "eta_p50",
    "eta_p90",
    "reason_1",
    "reason_1_share",
    "reason_2",
    "reason_2_share",
    "reason_3",
    "reason_3_share",
)


@dataclass
class Predictor:
    """Calibrated risk, conformal ETA quantiles and reasons for parcels in flight.

    Attributes:
        risk: Fitted risk model.
        eta: Fitted ETA model.
        threshold: Risk at or above which a parcel is flagged at risk.
        feature_names: Feature columns in model order.
        context: Cross-shipment context used when a call does not pass one.
        info: What the model is (source, data window, metrics), shown by serving.
        recalibration: A refit of the risk map and ETA margins on recent outcomes
            (training/recalibration.py); None: the training-time calibration.
        reference: How features and risk were spread over parcels in flight at the end of
            the training data, for drift (training/reference.py); None: not fitted.
        typical: What an on-time parcel typically looks like: reasons are what-ifs against
            it (training/whatif.py); None (bundles from before): TreeSHAP shares.
    """

    risk: RiskModel
    eta: EtaModel
    threshold: float
    feature_names: list[str]
    context: Context | None = None
    info: dict[str, Any] = field(default_factory=dict)
    recalibration: Recalibration | None = None
    reference: Reference | None = None
    typical: Typical | None = None
    _category_cache: dict[Any, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def model_key(self) -> str:
        """A short hash of the boosters: names the model a recalibration belongs to."""
        digest = hashlib.sha256()
        for booster in (self.risk.booster_, *self.eta.boosters_.values()):
            if booster is None:
                raise RuntimeError("Predictor has an unfitted model")
            digest.update(booster.model_to_string().encode())
        return digest.hexdigest()[:16]

    def use_recalibration(self, recalibration: Recalibration | None) -> bool:
        """Serve with `recalibration` if it belongs to this model; False when it does not."""
        if recalibration is not None and recalibration.model_key != self.model_key:
            return False
        self.recalibration = recalibration
        return True

    def features(
        self, tables: Tables, snapshots: pd.DataFrame, context: Context | None = None
    ) -> pd.DataFrame:
        """The model's feature frame for snapshots (shipment_id, as_of)."""
        frame = build_features(tables, snapshots, context if context is not None else self.context)
        return frame[self.feature_names]

    def predict_features(
        self, x: pd.DataFrame, as_of: pd.Series, reasons: bool = True
    ) -> pd.DataFrame:
        """Risk, ETA timestamps and reasons from a ready feature frame."""
        groups = np.asarray(x[STAGE_FEATURE], dtype=object)
        return self._predict_matrix(self._matrix(x), groups, as_of, reasons)

    def _predict_matrix(
        self,
        matrix: pd.DataFrame | np.ndarray,
        groups: np.ndarray,
        as_of: pd.Series,
        reasons: bool = True,
    ) -> pd.DataFrame:
        """`predict_features` from LightGBM's matrix and each row's conformal group."""
        booster = self.risk.booster_
        if booster is None:
            raise RuntimeError("Predictor has an unfitted risk model")
        recal = self.recalibration
        margins = recal.margins if recal is not None else None
        if isinstance(matrix, np.ndarray):
            # LightGBM's own sigmoid on the raw score (the binary objective's scale is 1).
            raw = 1.0 / (1.0 + np.exp(-self._trees["risk"].raw(matrix)))
            low, mid, high = (self._trees[q].raw(matrix) for q in QUANTILES)
            hours = self.eta.widen(low, mid, high, self.eta.margin_of(groups, margins))
        else:
            raw = np.asarray(booster.predict(matrix), dtype=float)
            hours = self.eta.predict(matrix, groups, margins)
        risk = recal.risk(raw) if recal is not None else self.risk.calibrate(raw)
        # Plain numpy arithmetic on UTC microseconds, wrapped as tz-aware arrays once at the
        # end: pandas time maths and tz_localize cost more than the trees on a one-row call.
        stamps = pd.Series(as_of)
        if stamps.dtype != TIMESTAMP_DTYPE:
            stamps = stamps.astype(TIMESTAMP_DTYPE)
        base = stamps.to_numpy(dtype="datetime64[us]")
        columns: dict[str, Any] = {
            "as_of": pd.array(base, dtype=TIMESTAMP_DTYPE),
            "risk": risk,
            "at_risk": risk >= self.threshold,
        }
        for k, q in enumerate(QUANTILES):
            micros = np.round(hours[:, k] * 3.6e9).astype("int64").astype("timedelta64[us]")
            columns[f"eta_p{round(q * 100)}"] = pd.array(base + micros, dtype=TIMESTAMP_DTYPE)
        if reasons:
            columns |= self._reasons(booster, matrix, risk)
        return pd.DataFrame(columns)

    def _reasons(
        self, booster: lgb.Booster, matrix: pd.DataFrame | np.ndarray, risk: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Top reasons of the rows that need them (none for the others).

        Only rows that need an explanation pay for one: those at `REASON_MIN_RISK` or more
        (under it, what little pushes a parcel towards lateness is not worth telling anyone)
        and every row flagged at risk (a threshold under 0.2 must not leave a flagged parcel
        unexplained). Reasons are what-ifs against the typical on-time parcel, one booster
        call per reason (training/whatif.py); a bundle without `typical` falls back to
        TreeSHAP (`pred_contrib`), about twenty times the cost of the prediction.
        """
        explain = np.flatnonzero(risk >= min(REASON_MIN_RISK, self.threshold))
        typical = self._typical_row
        if typical is not None and isinstance(matrix, np.ndarray):
            codes, groups = self._reason_groups
            by_reason = np.zeros((len(risk), len(codes)))
            by_reason[explain] = what_if_effects(
                self._trees["risk"].raw, matrix[explain], typical, groups
            )
            return dict(top_of(by_reason, codes, as_dict=True))
        rows = matrix.iloc[explain] if isinstance(matrix, pd.DataFrame) else matrix[explain]
        contrib = np.zeros((len(risk), len(self.feature_names) + 1))
        if len(explain):
            contrib[explain] = np.asarray(booster.predict(rows, pred_contrib=True), dtype=float)
        return dict(top_reasons(contrib, self.feature_names, as_dict=True))

    def shap_reasons(self, x: pd.DataFrame) -> pd.DataFrame:
        """TreeSHAP's top reasons for a feature frame (every row): what-ifs' yardstick."""
        booster = self.risk.booster_
        if booster is None:
            raise RuntimeError("Predictor has an unfitted risk model")
        contrib = np.asarray(booster.predict(self._matrix(x), pred_contrib=True), dtype=float)
        return pd.DataFrame(top_reasons(contrib, self.feature_names, as_dict=True))

    def __getstate__(self) -> dict[str, Any]:
        """Picklable state (to a worker): compiled trees are native code of this process."""
        state = dict(self.__dict__)
        state.pop("_trees", None)
        return state

    @cached_property
    def _trees(self) -> dict[str | float, Trees]:
        """Each booster's scorer ("risk", and the ETA quantiles): compiled once ready."""
        boosters: list[tuple[str | float, lgb.Booster | None]] = [
            ("risk", self.risk.booster_),
            *self.eta.boosters_.items(),
        ]
        out: dict[str | float, Trees] = {}
        for name, booster in boosters:
            if booster is None:
                raise RuntimeError(f"Predictor has an unfitted {name} model")
            out[name] = Trees(booster)
        return out

    def compile_trees(self, cache: Path = DEFAULT_CACHE, background: bool = False) -> bool:
        """Score with the boosters compiled to machine code (training/compiled.py).

        Args:
            cache: Where compiled trees are kept (compiled once per model and CPU).
            background: Compile on a thread and return at once (LightGBM scores until the
                compiled code is ready); else wait for it.

        Returns:
            Whether every booster now scores compiled (False in the background case).
        """
        trees = list(self._trees.values())
        if background:
            compile_in_background(trees, cache)
            return False
        return compile_all(trees, cache)

    @property
    def trees_compiled(self) -> bool:
        """Whether every booster scores compiled."""
        return all(t.ready for t in self._trees.values())

    @cached_property
    def _typical_row(self) -> np.ndarray | None:
        """The typical on-time parcel in LightGBM's encoding (None: no what-if reasons)."""
        if self.typical is None or self._shared_categories is None:
            return None
        return self._column_matrix(self.typical.columns(self.feature_names, _CATEGORICAL))[0]

    @cached_property
    def _reason_groups(self) -> tuple[tuple[str, ...], list[np.ndarray]]:
        """The reason codes that have features, and each one's column indices."""
        codes, matrix = reason_matrix(tuple(self.feature_names))
        keep = [k for k in range(len(codes)) if matrix[:, k].any()]
        return (
            tuple(codes[k] for k in keep),
            [np.flatnonzero(matrix[:, k]) for k in keep],
        )

    def _matrix(self, x: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """The features as LightGBM's float matrix, converted once for all four boosters."""
        categories = self._shared_categories
        if categories is None:  # boosters disagree on categories: let each convert
            return x
        return feature_matrix(x, categories, self._category_cache)

    def _column_matrix(self, columns: Columns) -> np.ndarray:
        """LightGBM's float matrix straight from `feature_columns`, no frame in between.

        The same values `feature_matrix` takes out of `build_features`' frame (a test holds
        the two equal): numbers as float64, categories as positions in the trained ones.
        """
        categories = self._shared_categories
        if categories is None:
            raise RuntimeError("boosters disagree on categories: use the frame path")
        n = len(columns[self.feature_names[0]])
        out = np.empty((n, len(self.feature_names)), dtype=np.float64)
        k = 0
        for j, name in enumerate(self.feature_names):
            values = np.asarray(columns[name])
            if name not in _CATEGORICAL:
                out[:, j] = values.astype(np.float64)
                continue
            cat = as_categorical(values.astype(object))
            position = trained_positions(k, cat.categories, categories[k], self._category_cache)
            out[:, j] = np.where(cat.codes < 0, np.nan, position[np.maximum(cat.codes, 0)])
            k += 1
        return out

    @cached_property
    def _shared_categories(self) -> list[list[Any]] | None:
        boosters = [self.risk.booster_, *self.eta.boosters_.values()]
        found = [b.pandas_categorical if b is not None else None for b in boosters]
        return found[0] if all(f == found[0] for f in found) and found[0] else None

    def predict(
        self,
        tables: Tables,
        snapshots: pd.DataFrame | None = None,
        context: Context | None = None,
    ) -> pd.DataFrame:
        """Predictions for snapshots of the parcels in `tables`.

        Args:
            tables: Shipments and their scans so far (weather and network come from the
                context when the tables have none).
            snapshots: shipment_id, as_of; default: every shipment as of its latest scan.
            context: Context to read; default: the one the predictor carries.

        Returns:
            One row per snapshot with the columns of `OUTPUT_COLUMNS`.
        """
        return self.predict_with_features(tables, snapshots, context)[0]

    def predict_with_features(
        self,
        tables: Tables,
        snapshots: pd.DataFrame | None = None,
        context: Context | None = None,
    ) -> tuple[pd.DataFrame, Columns]:
        """`predict`, and the feature values it scored (for drift: no second feature build)."""
        if snapshots is None:
            snapshots = latest_snapshots(tables)
        if self._shared_categories is None:
            x = self.features(tables, snapshots, context)
            out = self.predict_features(x, snapshots["as_of"])
            columns: Columns = {name: x[name].to_numpy() for name in self.feature_names}
        else:
            columns = feature_columns(
                tables, snapshots, context if context is not None else self.context
            )
            groups = np.asarray(as_categorical(np.asarray(columns[STAGE_FEATURE], dtype=object)))
            out = self._predict_matrix(self._column_matrix(columns), groups, snapshots["as_of"])
        out.insert(0, "shipment_id", snapshots["shipment_id"].to_numpy())
        return out, columns

    def save(self, path: str | Path, with_context: bool = True) -> Path:
        """Write the bundle into directory `path` (no pickle).

        Args:
            path: Directory to write into (created if needed).
            with_context: Also write the context (False for a bundle that is only ever
                evaluated, where features come from the data's own context).
        """
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        boosters = {"risk": self.risk.booster_, **_eta_files(self.eta)}
        for name, booster in boosters.items():
            if booster is None:
                raise RuntimeError(f"cannot save an unfitted {name} model")
            booster.save_model(str(root / f"{name}.txt"))
        meta = {
            "threshold": self.threshold,
            "feature_names": self.feature_names,
            "calibration_x": _list(self.risk.calibration_x_),
            "calibration_y": _list(self.risk.calibration_y_),
            "coverage": self.eta.coverage,
            "margins": self.eta.margins_,
            "info": self.info,
        }
        (root / "predictor.json").write_text(json.dumps(meta, indent=1, default=str))
        if with_context and self.context is not None:
            self.context.write(root / "context")
        if self.recalibration is not None:
            self.recalibration.write(root)
        if self.reference is not None:
            self.reference.write(root)
        if self.typical is not None:
            self.typical.write(root)
        return root

    @classmethod
    def load(
        cls,
        path: str | Path,
        context: Context | None = None,
        recalibration: Recalibration | None = None,
    ) -> Predictor:
        """Read a bundle written by `save`, optionally with a fresher context and recalibration.

        Raises:
            FileNotFoundError: `path` holds no bundle.
            ValueError: `recalibration` was fitted for another model.
        """
        root = Path(path)
        if not (root / "predictor.json").exists():
            raise FileNotFoundError(f"no Stallguard predictor at {root}")
        meta = json.loads((root / "predictor.json").read_text())
        risk = RiskModel(
            booster_=lgb.Booster(model_file=str(root / "risk.txt")),
            calibration_x_=np.asarray(meta["calibration_x"], dtype=float),
            calibration_y_=np.asarray(meta["calibration_y"], dtype=float),
        )
        eta = EtaModel(coverage=meta["coverage"], margins_=dict(meta["margins"]))
        eta.boosters_ = {
            q: lgb.Booster(model_file=str(root / f"{name}.txt"))
            for q, name in zip(QUANTILES, _eta_files(eta), strict=True)
        }
        if context is None and (root / "context").exists():
            context = Context.read(root / "context")
        predictor = cls(risk, eta, meta["threshold"], meta["feature_names"], context, meta["info"])
        predictor.recalibration = Recalibration.read(root)
        predictor.reference = Reference.read(root)
        predictor.typical = Typical.read(root)
        if recalibration is not None and not predictor.use_recalibration(recalibration):
            raise ValueError(
                f"the recalibration fitted at {recalibration.fitted_at} belongs to model "
                f"{recalibration.model_key}, not to this one ({predictor.model_key}): "
                "run `stallguard recalibrate` for this model"
            )
        return predictor


def latest_snapshots(tables: Tables) -> pd.DataFrame:
    """One snapshot per shipment, as of its latest scan (its creation when it has none)."""
    ships = tables.shipments
    last = tables.scan_events.groupby("shipment_id", sort=False)["event_time"].max()
    as_of = ships["shipment_id"].map(last).fillna(ships["created_at"])
    return pd.DataFrame(
        {"shipment_id": ships["shipment_id"].to_numpy(), "as_of": as_of.to_numpy()}
    ).astype({"as_of": TIMESTAMP_DTYPE})


def _eta_files(eta: EtaModel) -> dict[str, lgb.Booster | None]:
    return {f"eta_p{round(q * 100)}": eta.boosters_.get(q) for q in QUANTILES}


def _list(values: np.ndarray | None) -> list[float]:
    return [] if values is None else [float(v) for v in values]
