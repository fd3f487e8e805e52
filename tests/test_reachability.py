"""The reachability table as a data contract: columns, row order, determinism, workers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

import netsim
from netsim.analysis.reachability import COLUMNS
from netsim.datapath.addr import mac_str
from netsim.datapath.frames import from_scapy

from .conftest import TOPOLOGIES

BASIC = next(t for t in TOPOLOGIES if t.stem == "basic")


def test_columns_and_one_row_per_source_destination_address() -> None:
    sim = netsim.load(BASIC)
    df = sim.reachability()
    assert list(df.columns) == COLUMNS
    views = sim.endpoints()
    expected = sum(len(d.addresses) for s in views for d in views if d.name != s.name)
    assert len(df) == expected
    assert not df.duplicated(["src", "dst", "addr"]).any()
    assert list(df.src.unique()) == [v.name for v in views], "sources in endpoint order"
    assert set(df[df.reachable].disposition) == {"ACCEPTED"}
    assert (df[~df.reachable].disposition != "ACCEPTED").all()


def test_paths_name_the_nodes_crossed() -> None:
    df = netsim.load(BASIC).reachability()
    row = df[(df.src == "web") & (df.dst == "ext")].iloc[0]
    assert row.path == "web > node1 > underlay > ext > underlay > node1 > web"


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.stem)
def test_same_file_same_seed_same_table(topology: Path) -> None:
    a = netsim.load(topology).reachability()
    b = netsim.load(topology).reachability()
    assert a.to_csv(index=False) == b.to_csv(index=False)


def test_query_order_does_not_change_answers() -> None:
    sim = netsim.load(BASIC)
    first = sim.reachability()
    sim.trace("web", "ext")
    sim.ping("legacy", "db")
    pd.testing.assert_frame_equal(first, sim.reachability())


def test_forked_workers_give_the_same_table() -> None:
    sim = netsim.load(next(t for t in TOPOLOGIES if t.stem == "isolation"))
    pd.testing.assert_frame_equal(sim.reachability(), sim.reachability(workers=2))


def test_trace_shows_every_transmission_as_a_scapy_frame() -> None:
    """Every packet can be shown as a real frame: the echo before and after masquerade (B24)."""
    sim = netsim.load(BASIC)
    frames = sim.trace("web", "ext").frames()
    web, node1 = sim.container("web"), sim.host("node1")
    first, on_wire = frames[0][1], frames[1][1]
    assert first[Ether].src == mac_str(web.endpoints["front"].mac)
    assert (first[IP].src, first[IP].dst, first[IP].ttl) == ("172.18.0.2", "192.168.100.13", 64)
    assert first[ICMP].type == 8
    assert on_wire[Ether].src == mac_str(node1.eth0.mac)
    assert (on_wire[IP].src, on_wire[IP].ttl) == ("192.168.100.11", 63)
    for step, pkt in frames:
        assert from_scapy(pkt) == step.frame
    replies = [pkt for _, pkt in frames if pkt.haslayer(ICMP) and pkt[ICMP].type == 0]
    assert replies and replies[-1][IP].dst == "172.18.0.2", "un-NATed on the way back"


def test_a_query_mid_run_changes_no_later_result_of_the_run() -> None:
    # An instant table starts from a flushed world and hands the timed one back as it was: the
    # second echo still finds its ARP entries, so it costs the same as without the question.
    def second_rtt(ask: bool) -> float:
        sim = netsim.load(Path(__file__).resolve().parent.parent / "topologies" / "basic.yaml")
        assert sim.ping("web", "ext").reachable
        sim.run(1.0)
        if ask:
            sim.reachability()
            sim.trace("web", "ext")
        rtt = sim.ping("web", "ext").rtt
        assert rtt is not None
        return rtt

    assert second_rtt(True) == second_rtt(False)


def test_sim_resolve_answers_as_the_containers_resolver() -> None:
    sim = netsim.load(Path(__file__).parent.parent / "topologies" / "basic.yaml")
    answer = sim.resolve("web", "API")  # case-insensitive, as Docker's resolver is
    assert list(answer.columns) == ["src", "name", "address", "owner", "network", "source", "detail"]
    assert answer[["address", "owner", "network", "source"]].values.tolist() == [["172.18.0.3", "api", "front", "dns"]]
    assert sim.resolve("web", "nope").empty and sim.resolve("legacy", "web").empty
