"""A world with a hub outage the model never saw, replayed through the live watch.

The model trains on the world as known before the outage (outcomes known by then, returned
parcels included), then the watch replays the days around it: what monitoring must catch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contract.tables import Tables
from features.context import known_at

SEOUL = "Asia/Seoul"
HUB = "HUB-DAEGU-YEONGNAM"
# No public holiday from four weeks before the cut to the replay's end: a holiday the drift
# reference never saw would drift too (docs/monitoring.md).
OUTAGE_DAY = dt.date(2025, 4, 22)
OUTAGE_DAYS = 2
TRAIN_UNTIL = pd.Timestamp("2025-04-14 00:00", tz=SEOUL).tz_convert("UTC")
REPLAY_FROM = pd.Timestamp("2025-04-18 00:00", tz=SEOUL).tz_convert("UTC")
REPLAY_DAYS = 8.0
EVERY = pd.Timedelta(hours=3)
OUTAGE_START = pd.Timestamp(OUTAGE_DAY, tz=SEOUL).tz_convert("UTC")


def outage_config():
    """The world: 12,000 parcels from January (Seollal in the training period) to April."""
    from sources.synthetic import SimulationConfig
    from sources.synthetic.config import HubOutage

    return SimulationConfig(
        shipments=12_000,
        start=dt.date(2025, 1, 6),
        days=115,
        seed=5,
        hub_outages=(HubOutage(HUB, OUTAGE_DAY, OUTAGE_DAYS),),
    )


def known_by(tables: Tables, when: pd.Timestamp) -> Tables:
    """`known_at`, and the outcome of parcels returned (canceled, lost) by their last scan."""
    from training.scoring import gave_up_at

    out = known_at(tables, when)
    ships = tables.shipments.set_index("shipment_id")
    ended = pd.Series((gave_up_at(tables) <= when).to_numpy(), index=ships.index).to_dict()
    keep = out.shipments["shipment_id"].map(ended).fillna(False).to_numpy(bool)
    shipments = out.shipments.copy()
    status = shipments.loc[keep, "shipment_id"].map(ships["final_status"].astype(str))
    shipments.loc[keep, "final_status"] = status.to_numpy()
    return out.replace(shipments=shipments)


@dataclass
class Disruption:
    """The replayed world and what the watch recorded of it."""

    world: Path
    tables: Tables
    predictor: object
    state_url: str
    outbox_url: str
    label: str = "outage/1"


def replay_disruption(root: Path, train_config) -> Disruption:
    """Simulate, train before the outage, replay the days around it in process."""
    from serving.alerts import AlertPolicy, AlertStore
    from serving.messages import MessageBook
    from serving.watch.replay import Replay, run_replay
    from serving.watch.store import StateStore
    from serving.watch.targets import LocalTarget
    from serving.watch.watcher import Watcher
    from sources.synthetic import simulate
    from training.sources import load_data
    from training.train import train

    world = root / "world"
    simulate(outage_config()).write(world)
    data = load_data("synthetic", world)
    before = dataclasses.replace(data, tables=known_by(data.tables, TRAIN_UNTIL), now=TRAIN_UNTIL)
    predictor = train(before, train_config).predictor
    state_url = f"sqlite:///{root / 'state.db'}"
    outbox_url = f"sqlite:///{root / 'outbox.db'}"
    store = StateStore(state_url, "k", data.tables.locale)
    outbox = AlertStore(outbox_url)
    watcher = Watcher(store, predictor, "outage/1", outbox, AlertPolicy(), MessageBook())
    run_replay(Replay(data.tables, REPLAY_FROM, REPLAY_DAYS, EVERY), LocalTarget(store, watcher))
    return Disruption(world, data.tables, predictor, state_url, outbox_url)
