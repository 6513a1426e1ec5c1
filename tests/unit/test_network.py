import numpy as np
import pytest

from sources.synthetic.network import HUBS, MEGA_HUB, Network, haversine_km

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def net() -> Network:
    return Network()


def test_every_weather_city_is_a_region_with_a_terminal(net):
    table = net.table(np.ones(len(HUBS)), np.ones(len(net.regions)))
    terminals = table[table["kind"] == "TERMINAL"]
    assert len(net.regions) == 30
    assert sorted(terminals["region"]) == sorted(net.regions["region"])
    assert (table["kind"] == "MEGA_HUB").sum() == 1
    assert 3 <= (table["kind"] == "HUB").sum() <= 5
    assert table["location_id"].is_unique


def test_paths_start_at_origin_hub_and_end_at_destination_hub(net):
    paths = net.lane_paths
    for o in range(30):
        for d in range(30):
            path = [h for h in paths[o, d] if h >= 0]
            assert path[0] == net.region_hub[o]
            assert path[-1] == net.region_hub[d]
            assert len(path) == len(set(path))
            if len(path) == 3:
                assert net.hub_ids[path[1]] == MEGA_HUB


def test_islands_are_served_through_the_honam_gateway(net):
    regions = net.regions.set_index("region")
    for island in ("Jeju", "Seogwipo"):
        assert bool(regions.loc[island, "island"])
        assert net.hub_ids[net.region_hub[regions.index.get_loc(island)]] == "HUB-GWANGJU-HONAM"


def test_linehaul_follows_distance(net):
    names = net.regions["region"].tolist()
    seoul, suwon, busan = names.index("Seoul"), names.index("Suwon"), names.index("Busan")
    near = net.linehaul_hours(np.array([seoul]), np.array([suwon]))[0]
    far = net.linehaul_hours(np.array([seoul]), np.array([busan]))[0]
    assert near < 2 < 5 < far < 8
    km = haversine_km(np.array(37.5665), np.array(126.978), np.array(35.1796), np.array(129.0756))
    assert 320 < float(km) < 330
