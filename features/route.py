"""Route family: where the parcel goes and how (distance, hubs, lane, island/remote).

Static per shipment: computed from the shipment and the network table, known at creation.
Missing coordinates fall back to the region's terminal coordinates, then to NaN. Island and
remote regions are the data's locale's (contract/locale.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.locale import NEUTRAL, Locale
from contract.reference.geo import haversine_km
from contract.tables import Tables
from features.family import STATIC, Family, feature
from features.series import Context
from features.snapshots import Columns, Snapshots, map_values, pick

NAME = "route"


@dataclass(frozen=True)
class NetworkIndex:
    """Lookups derived from the network table, built once per context."""

    terminal_lat: dict[str, float]
    terminal_lon: dict[str, float]
    terminal_id: dict[str, str]
    location_region: dict[str, str]
    hub_ids: np.ndarray
    hub_lat: np.ndarray
    hub_lon: np.ndarray
    island: dict[str, float]
    remote: dict[str, float]

    @classmethod
    def of(cls, network: pd.DataFrame, locale: Locale = NEUTRAL) -> NetworkIndex:
        """Index a canonical network table (island and remote regions from the locale)."""
        terms = network[network["kind"] == "TERMINAL"].drop_duplicates("region")
        region = terms["region"].astype("str")
        hubs = network[network["kind"].isin(["HUB", "MEGA_HUB"])]
        return cls(
            terminal_lat=dict(zip(region, terms["lat"].astype(float), strict=True)),
            terminal_lon=dict(zip(region, terms["lon"].astype(float), strict=True)),
            terminal_id=dict(zip(region, terms["location_id"].astype("str"), strict=True)),
            location_region=dict(
                zip(
                    network["location_id"].astype("str"),
                    network["region"].astype("str"),
                    strict=True,
                )
            ),
            hub_ids=hubs["location_id"].astype("str").to_numpy(dtype=object),
            hub_lat=hubs["lat"].to_numpy(dtype=float),
            hub_lon=hubs["lon"].to_numpy(dtype=float),
            island=_flags(locale.island_regions, network),
            remote=_flags(locale.remote_regions, network),
        )

    def nearest_hub(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """location_id of the nearest hub (None where coordinates are missing or no hubs)."""
        if len(self.hub_ids) == 0:
            return np.full(len(lat), None, dtype=object)
        d = haversine_km(lat[:, None], lon[:, None], self.hub_lat[None, :], self.hub_lon[None, :])
        known = ~np.isnan(d).all(axis=1)
        best = np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)
        return pick(known, self.hub_ids[best])


def _flags(regions: tuple[str, ...], network: pd.DataFrame) -> dict[str, float]:
    """1.0 for the listed regions, 0.0 for the network's others (unknown regions: missing)."""
    known = set(network["region"].astype("str")) | set(regions)
    listed = set(regions)
    return {region: float(region in listed) for region in known}


def _coords(snap: Snapshots, index: NetworkIndex, side: str) -> tuple[np.ndarray, np.ndarray]:
    lat = snap.column(f"{side}_lat").astype(float)
    lon = snap.column(f"{side}_lon").astype(float)
    region = snap.column(f"{side}_region")
    r_lat = map_values(region, index.terminal_lat).astype(float)
    r_lon = map_values(region, index.terminal_lon).astype(float)
    return np.where(np.isnan(lat), r_lat, lat), np.where(np.isnan(lon), r_lon, lon)


def route_features(snap: Snapshots, index: NetworkIndex) -> Columns:
    """Route columns plus the expected hubs (`_origin_hub`, `_dest_hub`) for other families."""
    o_lat, o_lon = _coords(snap, index, "origin")
    d_lat, d_lon = _coords(snap, index, "dest")
    origin_hub = index.nearest_hub(o_lat, o_lon)
    dest_hub = index.nearest_hub(d_lat, d_lon)
    both = pd.notna(origin_hub) & pd.notna(dest_hub)
    n_hubs = np.where(both, np.where(origin_hub == dest_hub, 1.0, 2.0), np.nan)
    origin = np.asarray(snap.column("origin_region"), dtype=object)
    dest = np.asarray(snap.column("dest_region"), dtype=object)
    known = pd.notna(origin) & pd.notna(dest)
    lane = pick(known, origin.astype(str) + ">" + dest.astype(str))
    return {
        "route_distance_km": haversine_km(o_lat, o_lon, d_lat, d_lon),
        "route_n_hubs": n_hubs,
        "route_lane": lane,
        "route_origin_region": origin,
        "route_dest_region": dest,
        "route_is_island": map_values(snap.column("dest_region"), index.island).astype(float),
        "route_is_remote": map_values(snap.column("dest_region"), index.remote).astype(float),
        "route_service_level": np.asarray(snap.column("service_level"), dtype=object),
        "route_weight_kg": snap.column("weight_kg").astype(float),
        "route_dest_lat": d_lat,
        "route_dest_lon": d_lon,
        "_origin_hub": origin_hub,
        "_dest_hub": dest_hub,
    }


def network_index(tables: Tables, context: Context) -> NetworkIndex:
    """The context's network index (the request's network when the context has none)."""
    network = context.network if not context.network.empty else tables.network
    return context.memo("network_index", lambda: NetworkIndex.of(network, context.locale))


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    return route_features(snap, network_index(tables, context))


FEATURES = (
    feature("route_distance_km", NAME, "Great-circle origin-destination distance.", STATIC),
    feature("route_n_hubs", NAME, "Hubs on the expected path (1 same hub, 2 otherwise).", STATIC),
    feature("route_lane", NAME, "Lane id 'origin>destination' region.", STATIC, "category"),
    feature("route_origin_region", NAME, "Origin region.", STATIC, "category"),
    feature("route_dest_region", NAME, "Destination region.", STATIC, "category"),
    feature("route_is_island", NAME, "Destination is an island (ferry/air leg).", STATIC),
    feature("route_is_remote", NAME, "Destination is a remote region.", STATIC),
    feature("route_service_level", NAME, "Service level of the promise.", STATIC, "category"),
    feature("route_weight_kg", NAME, "Parcel weight.", STATIC),
    feature(
        "route_dest_lat", NAME, "Destination latitude (the region's terminal if missing).", STATIC
    ),
    feature(
        "route_dest_lon", NAME, "Destination longitude (the region's terminal if missing).", STATIC
    ),
)

FAMILY = Family(NAME, "REMOTE_ROUTE", FEATURES, _compute)
