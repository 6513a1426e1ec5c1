"""What a simulated world looks like: late rates overall, by hidden cause, by region, by week."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sources.synthetic.world import SimulatedWorld


def known_late(shipments: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """Late flag where it is already known at `now`, NA where it is not.

    Delivered after the promise or returned to the sender: late. Still in flight with the
    promise already past: late. Delivered in time: not late. In flight before the promise: NA.
    """
    delivered = shipments["delivered_at"]
    promised = shipments["promised_at"]
    late = pd.Series(pd.NA, index=shipments.index, dtype="boolean")
    done = delivered.notna().to_numpy()
    late[done] = (delivered[done] > promised[done]).to_numpy()
    returned = (shipments["final_status"] == "RETURNED").fillna(False).to_numpy(dtype=bool)
    late[returned] = True
    overdue = ~done & ~returned & (promised < now).to_numpy()
    late[overdue] = True
    return late


@dataclass(frozen=True)
class WorldSummary:
    """Tables that describe a world at a glance."""

    overview: pd.DataFrame
    by_cause: pd.DataFrame
    by_region: pd.DataFrame
    by_week: pd.DataFrame


def summarize(world: SimulatedWorld) -> WorldSummary:
    """Summary tables of a simulated world (late rates count only known outcomes)."""
    ships = world.tables.shipments
    late = known_late(ships, world.end)
    known = late.notna()
    status = ships["final_status"].astype("str").where(ships["final_status"].notna(), "IN_FLIGHT")
    overview = pd.DataFrame(
        {
            "metric": [
                "shipments",
                "scan events",
                "delivered",
                "returned to sender",
                "in flight at the end",
                "late rate (known outcomes)",
            ],
            "value": [
                f"{len(ships):,}",
                f"{len(world.tables.scan_events):,}",
                f"{(status == 'DELIVERED').sum():,}",
                f"{(status == 'RETURNED').sum():,}",
                f"{(status == 'IN_FLIGHT').sum():,}",
                f"{late[known].mean():.1%}",
            ],
        }
    )
    return WorldSummary(
        overview=overview,
        by_cause=_by_cause(world, late),
        by_region=_rate_by(late, ships["dest_region"].astype("str"), "dest_region"),
        by_week=_rate_by(
            late,
            _local_week(ships["created_at"]),
            "week",
        ),
    )


def _rate_by(late: pd.Series, key: pd.Series, name: str) -> pd.DataFrame:
    frame = pd.DataFrame({name: key.to_numpy(), "late": late.to_numpy()})
    grouped = frame.groupby(name, observed=True)["late"]
    out = pd.DataFrame({"shipments": grouped.size(), "late_rate": grouped.mean()})
    return out.reset_index().sort_values(name, ignore_index=True)


def _by_cause(world: SimulatedWorld, late: pd.Series) -> pd.DataFrame:
    hidden = world.hidden_causes
    ids = world.tables.shipments["shipment_id"]
    late_by_id = pd.Series(late.to_numpy(), index=ids.to_numpy())
    rows = []
    for cause, group in hidden.groupby("cause", observed=True):
        touched = group.loc[group["delay_h"] > 0, "shipment_id"].unique()
        flags = late_by_id.reindex(touched)
        rows.append(
            {
                "cause": cause,
                "shipments": len(touched),
                "share": len(touched) / max(len(ids), 1),
                "late_rate": float(flags.mean()) if flags.notna().any() else np.nan,
                "mean_delay_h": float(group.loc[group["delay_h"] > 0, "delay_h"].mean()),
            }
        )
    clean = ~ids.isin(hidden.loc[hidden["delay_h"] > 0, "shipment_id"]).to_numpy()
    rows.append(
        {
            "cause": "(none)",
            "shipments": int(clean.sum()),
            "share": clean.mean(),
            "late_rate": float(late[clean].mean()),
            "mean_delay_h": 0.0,
        }
    )
    return pd.DataFrame(rows).sort_values("shipments", ascending=False, ignore_index=True)


def _local_week(times: pd.Series) -> pd.Series:
    """Monday (local date) of the week of each timestamp."""
    local = (times + pd.Timedelta(hours=9)).dt.tz_localize(None).dt.normalize()
    return (local - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.date
