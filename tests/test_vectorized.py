"""The vectorized mode gives the event core's results (``netsim.datapath.vectorized``).

The same random topologies and timelines as the flow cache's tests (``test_flowcache``), run
once with every packet through the event core and once with steady UDP flows solved a window
at a time: the packet tables, the flow tables and the captures are identical, byte for byte.
"""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
import pytest

import netsim
from netsim.errors import NetsimError
from netsim.simulation import build
from netsim.topology import parse_spec

from .test_flowcache import SEEDS, SLOW_SEEDS, _with_traffic

def _run(topology: dict[str, Any], mode: str) -> tuple[pd.DataFrame, pd.DataFrame, bytes, int]:
    sim = build(parse_spec(topology))
    sim.mode = mode
    sim.run(sim.traffic_end())
    pcap = b"".join(sim.pcap(where) for where in topology.get("capture", []))
    return sim.packets(), sim.flows(), pcap, sim.world.vectorizer.packets


def _same(event: tuple[Any, ...], vectorized: tuple[Any, ...], what: str) -> None:
    assert len(event[0]) == len(vectorized[0]), f"{what}: {len(event[0])} packets sent by the event core, " \
        f"{len(vectorized[0])} vectorized"
    assert event[0].equals(vectorized[0]), f"{what}: the packet tables differ"
    assert event[1].equals(vectorized[1]), f"{what}: the flow tables differ"
    assert event[2] == vectorized[2], f"{what}: the captures differ"


@functools.lru_cache(maxsize=None)
def _both(seed: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    topology = _with_traffic(seed)
    return _run(topology, "event"), _run(topology, "vectorized")


@pytest.mark.parametrize("seed", SEEDS)
def test_vectorized_runs_give_the_event_cores_results(seed: int) -> None:
    _same(*_both(seed), f"seed {seed}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_vectorized_runs_give_the_event_cores_results_on_more_seeds(seed: int) -> None:
    _same(*_both(seed), f"seed {seed}")


def test_the_random_topologies_exercise_the_windows() -> None:
    vectorized = sum(_both(seed)[1][3] for seed in SEEDS)
    assert vectorized > 2000, f"only {vectorized} packets ended in a window"


def _overlay(pairs: int, rate: str, stop: str, **extra: Any) -> dict[str, Any]:
    containers: dict[str, Any] = {}
    traffic = []
    for i in range(pairs):
        containers[f"a{i}"] = {"host": "node1", "networks": ["appnet"]}
        containers[f"b{i}"] = {"host": "node2", "networks": ["appnet"]}
        traffic.append({"udp": {"from": f"a{i}", "to": f"b{i}", "rate": rate, "size": 1000, "stop": stop}})
    return {"name": "pairs", "seed": 3, "hosts": {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}},
            "networks": {"appnet": {"driver": "overlay", "attachable": True}},
            "containers": containers, "traffic": traffic, "capture": ["node1:eth0"], **extra}


def test_ten_pairs_on_an_overlay_go_by_windows_with_the_event_cores_times() -> None:
    # Ten flows sending at the same instants: tied at node1's cable, they keep the event core's order.
    spec = _overlay(10, "8Mbps", "0.3s")
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "ten pairs")
    assert (vectorized[0].disposition == "RECEIVED").all()
    assert vectorized[3] > 0.95 * len(vectorized[0]), "nearly every datagram ends in a window"


def test_flows_closer_than_their_path_is_long_hand_packets_under_way_to_the_next_window() -> None:
    # 1 Gbit/s of 1000-byte datagrams: a path is longer than the gap, so every window ends with
    # packets on the wire, which go back to the event core and come back in the next window.
    spec = _overlay(2, "400Mbps", "0.02s")
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "dense")
    assert vectorized[3] > 0.5 * len(vectorized[0])


def test_a_queue_that_would_overflow_leaves_the_window_to_the_event_core() -> None:
    # Two gigabit flows into one gigabit cable with room for 5 frames: the queue overflows, so
    # no window is taken while it would, and the drops are the event core's.
    spec = _overlay(2, "900Mbps", "0.005s", underlay={"bandwidth": "1Gbps", "queue": 5})
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "overflow")
    assert (vectorized[0].disposition == "QDISC_DROP").sum() > 100


def test_poisson_flows_draw_the_same_times_in_both_modes() -> None:
    spec = _overlay(3, "20Mbps", "0.3s")
    for flow in spec["traffic"]:
        flow["udp"]["arrivals"] = "poisson"
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "poisson")
    assert vectorized[3] > 0.9 * len(vectorized[0])


def test_events_cut_windows_where_they_happen() -> None:
    # The cable pulled at 0.1 s: no window passes it, so the losses start at the same datagram.
    spec = _overlay(3, "8Mbps", "0.3s", events=[{"at": "0.1s", "link_down": "node2"},
                                                 {"at": "0.2s", "link_up": "node2"}])
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "link down")
    packets = vectorized[0]
    lost = packets[packets.disposition == "DEV_DOWN"]
    assert len(lost) > 250 and lost.sent.min() >= 0.1 - 1e-3 and lost.sent.max() < 0.2


def test_a_vectorized_run_is_deterministic_and_conserves_packets() -> None:
    spec = _overlay(4, "8Mbps", "0.2s")
    first, second = _run(spec, "vectorized"), _run(spec, "vectorized")
    assert first[0].equals(second[0]) and first[2] == second[2]
    assert set(first[0].disposition) == {"RECEIVED"}, "every datagram sent is received (none left in flight)"
    assert int(first[1].sent.sum()) == int(first[1].received.sum()) + int(first[1].lost.sum())


def test_the_mode_is_chosen_in_the_file_or_on_the_simulation() -> None:
    sim = build(parse_spec({**_overlay(1, "8Mbps", "0.1s"), "mode": "vectorized"}))
    assert sim.mode == "vectorized"
    sim.mode = "event"
    assert not sim.world.vectorizer.enabled
    with pytest.raises(NetsimError, match="unknown mode 'fast'; use one of event, vectorized"):
        sim.mode = "fast"
    assert netsim.load("topologies/traffic.yaml").mode == "event"


def test_two_flows_to_one_address_and_port_share_its_socket_as_on_the_event_core() -> None:
    # Both flows land on b0's port 5001: the later flow's sink takes the socket, so the first
    # flow's datagrams are noted against the second's rows, in the event core's order.
    spec = _overlay(2, "8Mbps", "0.3s")
    spec["traffic"][1]["udp"].update(to="b0", start="0.02s", rate="16Mbps", stop="0.25s")
    event, vectorized = _run(spec, "event"), _run(spec, "vectorized")
    _same(event, vectorized, "shared socket")
    assert vectorized[3] > 0.5 * len(vectorized[0])
