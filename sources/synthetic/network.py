"""The simulated Korean parcel network: regions, hubs, terminals and the hub path of every lane.

Every region has a delivery terminal. Six sorting hubs serve them: a mega-hub in Daejeon (the
geographic centre, where Korean carriers historically put their national hub) and five regional
hubs. A region is served by its nearest hub. A lane's hub path is the origin hub, then the
destination hub. The mega-hub and the capital-area hub (where most volume starts) have direct
trunks to every hub; two other regional hubs farther apart than `direct_trunk_km` by road are
joined through the mega-hub. Jeju and Seogwipo are islands: their terminals are
reached from the Honam hub by an overnight ferry/air leg that bad weather cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from contract.reference.geo import haversine_km
from contract.reference.korea import regions

MEGA_HUB = "HUB-DAEJEON-MEGA"
CAPITAL_HUB = "HUB-YONGIN-CAPITAL"
HUBS: dict[str, str] = {
    MEGA_HUB: "Daejeon",
    CAPITAL_HUB: "Yongin",
    "HUB-DAEGU-YEONGNAM": "Daegu",
    "HUB-BUSAN-DONGNAM": "Busan",
    "HUB-GWANGJU-HONAM": "Gwangju",
    "HUB-WONJU-GANGWON": "Wonju",
}
ISLAND_GATEWAY_HUB = "HUB-GWANGJU-HONAM"
MAX_HUBS_PER_PATH = 3


def terminal_id(region: str) -> str:
    """Id of a region's delivery terminal."""
    return f"TERM-{region.upper()}"


@dataclass(frozen=True)
class Network:
    """Region and hub geometry with precomputed per-lane hub paths.

    Attributes:
        direct_trunk_km: Regional hubs closer than this have a direct trunk; others go through
            the mega-hub (and their lanes get a D+2 promise).
        road_factor: Road distance over great-circle distance.
        truck_kmh: Average line-haul speed.
    """

    direct_trunk_km: float = 260.0
    road_factor: float = 1.25
    truck_kmh: float = 70.0

    @cached_property
    def regions(self) -> pd.DataFrame:
        """The 30 regions (index = region index used everywhere in the simulator)."""
        return regions()

    @cached_property
    def hub_ids(self) -> list[str]:
        """Hub ids; a hub's index in this list is its hub index."""
        return list(HUBS)

    @cached_property
    def hub_region_idx(self) -> np.ndarray:
        """Region index of every hub."""
        names = self.regions["region"].tolist()
        return np.array([names.index(r) for r in HUBS.values()])

    @cached_property
    def region_hub(self) -> np.ndarray:
        """Hub index serving each region (the nearest hub; islands use the Honam gateway)."""
        r = self.regions
        h = r.iloc[self.hub_region_idx]
        dist = haversine_km(
            r["lat"].to_numpy()[:, None],
            r["lon"].to_numpy()[:, None],
            h["lat"].to_numpy()[None, :],
            h["lon"].to_numpy()[None, :],
        )
        nearest = dist.argmin(axis=1)
        nearest[r["island"].to_numpy()] = self.hub_ids.index(ISLAND_GATEWAY_HUB)
        return nearest

    @cached_property
    def region_distance_km(self) -> np.ndarray:
        """Road distance between every pair of regions (30 x 30)."""
        lat = self.regions["lat"].to_numpy()
        lon = self.regions["lon"].to_numpy()
        km = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        return km * self.road_factor

    @cached_property
    def lane_paths(self) -> np.ndarray:
        """Hub path of every (origin region, dest region) lane: int array [30, 30, 3], -1 = none."""
        n = len(self.regions)
        mega = self.hub_ids.index(MEGA_HUB)
        trunk_everywhere = {mega, self.hub_ids.index(CAPITAL_HUB)}
        hub_dist = self.region_distance_km[np.ix_(self.hub_region_idx, self.hub_region_idx)]
        paths = np.full((n, n, MAX_HUBS_PER_PATH), -1, dtype=np.int64)
        for o in range(n):
            for d in range(n):
                ho, hd = self.region_hub[o], self.region_hub[d]
                if ho == hd:
                    path = [ho]
                elif trunk_everywhere & {ho, hd} or hub_dist[ho, hd] <= self.direct_trunk_km:
                    path = [ho, hd]
                else:
                    path = [ho, mega, hd]
                paths[o, d, : len(path)] = path
        return paths

    @cached_property
    def lane_hub_count(self) -> np.ndarray:
        """Number of hubs on every lane's path [30, 30]."""
        return (self.lane_paths >= 0).sum(axis=2)

    def linehaul_hours(self, from_region: np.ndarray, to_region: np.ndarray) -> np.ndarray:
        """Planned truck time between two regions: loading overhead plus distance at speed."""
        km = self.region_distance_km[from_region, to_region]
        return 0.5 + km / self.truck_kmh

    def table(self, hub_capacity: np.ndarray, terminal_capacity: np.ndarray) -> pd.DataFrame:
        """The canonical `network` table: one row per hub and terminal."""
        r = self.regions
        hubs = pd.DataFrame(
            {
                "location_id": self.hub_ids,
                "kind": ["MEGA_HUB" if h == MEGA_HUB else "HUB" for h in self.hub_ids],
                "region": r["region"].to_numpy()[self.hub_region_idx],
                "lat": r["lat"].to_numpy()[self.hub_region_idx],
                "lon": r["lon"].to_numpy()[self.hub_region_idx],
                "daily_capacity": hub_capacity,
            }
        )
        terminals = pd.DataFrame(
            {
                "location_id": [terminal_id(x) for x in r["region"]],
                "kind": "TERMINAL",
                "region": r["region"],
                "lat": r["lat"],
                "lon": r["lon"],
                "daily_capacity": terminal_capacity,
            }
        )
        return pd.concat([hubs, terminals], ignore_index=True)
