"""How much of the oracle's AUC is knowable: the model vs a "foresight" oracle vs the oracle.

Run: `.venv/bin/python -m bench.bench_oracle_gap` on the default world (simulated if missing).
The foresight oracle is the same learner given what a perfect observer could know in advance:
the true address defects, the actual weather of the next three days at the destination, and
the stoppage calendar. The oracle of `stallguard train` also sees which hidden causes touched
the parcel, i.e. the random draws as they happened. Both read the simulator's hidden files and
exist only here; features never see them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features
from features.sources.synthetic.world import HIDDEN_DIR
from training.baselines import cause_columns
from training.config import TrainConfig
from training.dataset import labels, sample_snapshots
from training.models import fit_booster
from training.sources import load_data
from training.train import window_of


def foresight(data, snaps: pd.DataFrame) -> pd.DataFrame:
    ships = data.tables.shipments.set_index("shipment_id")
    hidden = data.hidden_causes
    out = pd.DataFrame(index=range(len(snaps)))
    defects = set(hidden.loc[hidden["cause"].astype("str") == "ADDRESS", "shipment_id"])
    out["true_defect"] = snaps["shipment_id"].isin(defects).to_numpy(float)
    wx = data.tables.weather_daily
    wx = wx.set_index(wx["region"].astype("str") + "|" + wx["date"].dt.strftime("%Y-%m-%d"))
    dest = snaps["shipment_id"].map(ships["dest_region"].astype("str")).to_numpy()
    local = snaps["as_of"].dt.tz_convert("Asia/Seoul").dt.tz_localize(None).dt.normalize()
    for k in range(3):
        keys = pd.Series(dest) + "|" + (local + pd.Timedelta(days=k)).dt.strftime("%Y-%m-%d")
        out[f"precip_d{k}"] = keys.map(wx["precip_mm"]).to_numpy(float)
        out[f"snow_d{k}"] = keys.map(wx["snow"].astype(float)).to_numpy(float)
    stops = pd.read_parquet(data.location / HIDDEN_DIR / "stoppages.parquet")
    promised = snaps["shipment_id"].map(ships["promised_at"]).dt.tz_convert("Asia/Seoul")
    promised = promised.dt.tz_localize(None).dt.normalize().to_numpy()
    origin = snaps["shipment_id"].map(ships["origin_region"].astype("str")).to_numpy()
    ahead = np.zeros(len(snaps))
    for stop in stops.itertuples():
        touches = (dest == stop.region) | (origin == stop.region)
        ahead[touches & (local.to_numpy() <= stop.last_day) & (promised >= stop.first_day)] = 1
    out["stoppage_ahead"] = ahead
    return out


def main() -> None:
    data = load_data("synthetic", None)
    config = TrainConfig()
    window = window_of(data, config)
    snaps = sample_snapshots(data.tables, data.now)
    split = window.split(snaps, data.tables.shipments)
    snaps = snaps[split.train | split.calibrate | split.evaluate].reset_index(drop=True)
    split = window.split(snaps, data.tables.shipments)
    y = labels(snaps, data.tables.shipments, data.now)["late"].to_numpy(float)
    x = build_features(data.tables, snaps)[config.feature_names]
    frames = {
        "model": x,
        "foresight oracle": pd.concat([x, foresight(data, snaps)], axis=1),
        "oracle (hidden causes)": pd.concat(
            [x, cause_columns(snaps["shipment_id"], data.hidden_causes)], axis=1
        ),
    }
    stage = snaps["stage"].astype("str").to_numpy()[split.evaluate]
    stages = ["CREATED", "PICKED_UP", "HUB_IN", "TERMINAL_IN", "IN_FLIGHT", "OUT_FOR_DELIVERY"]
    print("| learner given | eval AUC | " + " | ".join(stages) + " |")
    print("|---|---:|" + "---:|" * len(stages))
    ye = y[split.evaluate]
    for name, frame in frames.items():
        booster = fit_booster(
            config.params, {"objective": "binary"},
            frame[split.train], y[split.train], frame[split.calibrate], y[split.calibrate],
        )  # fmt: skip
        pe = booster.predict(frame[split.evaluate])
        per = [roc_auc_score(ye[stage == s], pe[stage == s]) for s in stages]
        cells = " | ".join(f"{v:.3f}" for v in per)
        print(f"| {name} | **{roc_auc_score(ye, pe):.3f}** | {cells} |", flush=True)


if __name__ == "__main__":
    main()
