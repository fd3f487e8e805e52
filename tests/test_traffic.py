"""Traffic flows in simulated time (``traffic:``): what a ping flow sends and what it records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import netsim
from netsim.datapath.costs import DEFAULT_COSTS
from netsim.simulation import build
from netsim.topology import parse_spec
from netsim.traffic.ping import PingFlow

from .conftest import ROOT

BASIC = yaml.safe_load((ROOT / "topologies" / "basic.yaml").read_text())


def _sim(*flows: dict[str, Any]) -> netsim.Simulation:
    return build(parse_spec({**BASIC, "traffic": list(flows)}))


def test_echoes_leave_on_schedule_and_each_is_answered_or_lost() -> None:
    sim = _sim({"ping": {"from": "web", "to": "api", "count": 4, "interval": "250ms", "start": "1s"}},
               {"ping": {"from": "web", "to": "nosuch", "count": 2}})
    sim.run(sim.traffic_end())
    pings = sim.pings()
    api = pings[pings.flow == "traffic[0].ping"]
    assert list(api.seq) == [1, 2, 3, 4] and list(api.sent) == [1.0, 1.25, 1.5, 1.75]
    assert api.reachable.all() and (api.responder == "api").all() and (api.addr == str(
        sim.container("api").endpoints["front"].address)).all(), "by name, through the embedded DNS"
    unknown = pings[pings.flow == "traffic[1].ping"]
    assert list(unknown.disposition) == ["NAME_UNRESOLVED"] * 2 and unknown.addr.isna().all()


def test_a_df_echo_that_does_not_fit_fails_at_the_sender_and_a_cross_host_one_takes_time() -> None:
    sim = _sim({"ping": {"from": "web", "to": "node2", "size": 1473, "df": True}},
               {"ping": {"from": "legacy", "to": "node2", "size": 1472, "df": True}})
    sim.run(sim.traffic_end())
    too_big, fits = sim.pings().itertuples()
    assert too_big.disposition == "MESSAGE_TOO_LONG" and "mtu=1500" in too_big.detail
    assert fits.reachable and fits.rtt_us > 0


def test_flows_from_python_run_with_the_clock_and_are_deterministic() -> None:
    def run() -> Any:
        sim = netsim.load(ROOT / "topologies" / "basic.yaml")
        sim.add_traffic(PingFlow("mine", "web", "db", count=3, interval=0.5))
        sim.run(5.0)
        return sim.pings()
    first = run()
    assert len(first) == 3 and first.equals(run())


def _run(flows: list[dict[str, Any]], **changes: Any) -> netsim.Simulation:
    sim = build(parse_spec({**BASIC, **changes, "traffic": flows}))
    sim.run(sim.traffic_end())
    return sim


def _conserved(sim: netsim.Simulation) -> None:
    """Every packet a flow sent was received, or dropped with a reason; none is left unaccounted."""
    packets = sim.packets()
    udp = packets[packets.kind == "udp"]
    assert not (udp.disposition == "IN_FLIGHT").any()
    assert ((udp.disposition == "RECEIVED") == udp.received.notna()).all()
    flows = sim.flows()
    assert (flows.sent == flows.received + flows.lost).all()


def test_a_cbr_flow_across_hosts_arrives_whole_at_its_rate_with_a_constant_delay() -> None:
    sim = _run([{"udp": {"from": "web", "to": "192.168.100.12", "rate": "8Mbps", "size": 1000, "start": "0.5s",
                         "stop": "1.5s"}}],
               hosts={"node1": {}, "node2": {}, "ext": {"docker": False}})
    _conserved(sim)
    flow = sim.flows().iloc[0]
    assert flow.sent == 1000 and flow.received == 1000 and flow.lost == 0, "1 ms apart for 1 s"
    delays = sim.packets().delay_us
    assert delays.iloc[0] > delays.iloc[1], "the first waits for ARP"
    assert delays.iloc[1:].nunique() == 1 and flow.delay_min_us == delays.iloc[1] > 0, "then a constant path"
    assert abs(flow.throughput_bps - 8e6) / 8e6 < 0.01


def test_an_overloaded_link_drops_tail_and_the_table_adds_up() -> None:
    sim = _run([{"udp": {"from": "web", "to": "192.168.100.13", "rate": "50Mbps", "size": 1200, "start": "0s",
                         "stop": "0.2s"}}], underlay={**BASIC["underlay"], "bandwidth": "10Mbps", "queue": 10})
    _conserved(sim)
    flow = sim.flows().iloc[0]
    assert flow.lost > 0 and flow.drops.startswith("QDISC_DROP:")
    assert flow.throughput_bps < 10e6, "the bottleneck's rate, less the headers"
    assert flow.delay_max_us > flow.delay_min_us, "queueing delay grows to the queue's length"


def test_poisson_arrivals_are_seeded_and_average_the_rate() -> None:
    flows = [{"udp": {"from": "web", "to": "api", "rate": "1Mbps", "size": 500, "start": "0s", "stop": "2s",
                      "arrivals": "poisson"}}]
    one, two = _run(flows), _run(flows)
    assert one.packets().equals(two.packets())
    sent = one.flows().iloc[0].sent
    assert 400 < sent < 600, "1 Mbit/s of 500-byte datagrams for 2 s: 500 expected"
    gaps = one.packets().sent.diff().dropna()
    assert gaps.std() > 0.5 * gaps.mean(), "exponential gaps, not a constant rate"


def test_link_loss_is_seeded_and_named() -> None:
    flows = [{"udp": {"from": "web", "to": "192.168.100.13", "rate": "4Mbps", "size": 500, "stop": "2s"}}]
    sim = _run(flows, underlay={**BASIC["underlay"], "loss": 0.05})
    _conserved(sim)
    flow = sim.flows().iloc[0]
    assert flow.drops.startswith("LINK_LOSS:") and 0.05 < flow.lost / flow.sent < 0.15, "two links of 5% each"


def test_a_link_going_down_drops_the_flow_in_flight_from_that_instant() -> None:
    sim = build(parse_spec({**BASIC, "events": [{"at": "1s", "link_down": "node1"}, {"at": "1.5s", "link_up": "node1"}],
                            "traffic": [{"udp": {"from": "web", "to": "192.168.100.13", "rate": "1Mbps", "size": 1000,
                                                 "stop": "2s"}}]}))
    sim.run(sim.traffic_end())
    _conserved(sim)
    packets = sim.packets()
    down = packets[(packets.sent >= 1.0) & (packets.sent < 1.5)]
    assert (down.disposition == "DEV_DOWN").all() and len(down) == 63, "every 8 ms for half a second"
    assert (packets[packets.sent < 0.999].disposition == "RECEIVED").all()
    assert (packets[packets.sent > 1.51].disposition == "RECEIVED").all(), "back once the cable is"


def test_a_same_host_ping_takes_microseconds_of_processing_and_costs_are_overridable() -> None:
    sim = netsim.load(ROOT / "topologies" / "basic.yaml")
    sim.ping("web", "api")  # ARP first
    rtt = sim.ping("web", "api").rtt
    c = DEFAULT_COSTS
    assert rtt == pytest.approx(4 * c["veth"] + 2 * c["bridge"] + 2 * c["stack"]), \
        "four veth entries, two bridge passes, the echo and its reply delivered"
    assert rtt == pytest.approx(3.8e-6), "what benchmarks/kernel_costs.py measured through a bridge"
    slow = build(parse_spec({**BASIC, "underlay": {**BASIC["underlay"], "costs": {"veth": "10us"}}}))
    slow.ping("web", "api")
    assert slow.ping("web", "api").rtt == pytest.approx(40e-6 + 2 * c["bridge"] + 2 * c["stack"])


def test_netsim_run_writes_flows_latency_packets_and_pcaps_byte_identical_twice(tmp_path: Path) -> None:
    from netsim.analysis.results import simulate, write_results

    topo = tmp_path / "mix.yaml"
    topo.write_text(yaml.safe_dump({**BASIC, "traffic": [
        {"udp": {"from": "web", "to": "api", "rate": "2Mbps", "stop": "0.5s"}},
        {"udp": {"from": "web", "to": "192.168.100.13", "rate": "2Mbps", "stop": "0.5s"}},
        {"ping": {"from": "web", "to": "api", "count": 3, "interval": "100ms"}}], "capture": ["node1:eth0"]}))
    folders = []
    for run in ("a", "b"):
        out = simulate(topo)
        write_results(out, tmp_path / run, packets=True)
        folders.append(tmp_path / run)
    for name in ("flows.csv", "pings.csv", "packets.csv", "latency.png", "pcap/node1-eth0.pcap"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    flows = (folders[0] / "flows.csv").read_text().splitlines()
    assert flows[0].startswith("flow,kind,src,dst,path,proto,sent,received,lost")
    assert ",same-bridge,udp," in flows[1] and ",NAT,udp," in flows[2] and ",same-bridge,icmp," in flows[3]


def _rtt_with(costs: dict[str, str], hosts: Any = None) -> float:
    spec = {**BASIC, "underlay": {**BASIC["underlay"], "costs": {
        **{kind: "0s" for kind in DEFAULT_COSTS}, **costs}}}
    if hosts is not None:
        spec["hosts"] = hosts
    sim = build(parse_spec(spec))
    sim.ping("web", "192.168.100.13")  # ARP and conntrack first
    rtt = sim.ping("web", "192.168.100.13").rtt
    assert rtt is not None
    return rtt


def test_a_nat_path_pays_for_each_conntrack_lookup_rewrite_and_rule_it_crosses() -> None:
    base = _rtt_with({})
    # out through MASQUERADE on node1 and back: node1 looks the packet up in conntrack and
    # rewrites it once each way; the containers and the plain host have no rules
    assert _rtt_with({"nat": "1ms"}) - base == pytest.approx(2e-3)
    assert _rtt_with({"conntrack": "1ms"}) - base == pytest.approx(2e-3)
    assert _rtt_with({"forward": "1ms"}) - base == pytest.approx(2e-3), "node1 routes it each way"
    walked = (_rtt_with({"netfilter_rule": "1ms"}) - base) / 1e-3
    assert walked == pytest.approx(round(walked)) and walked > 4, "Docker's chains, walked rule by rule"


def test_a_host_of_its_own_costs_slows_only_what_it_handles() -> None:
    hosts = {**BASIC["hosts"], "node1": {**(BASIC["hosts"].get("node1") or {}), "costs": {"stack": "1ms"}}}
    base = _rtt_with({})
    assert _rtt_with({}, hosts) - base == pytest.approx(1e-3), "the reply is delivered to ping on node1; the " \
        "echo is answered on the external host"


def test_a_flow_to_a_published_port_is_received_by_the_container_behind_it() -> None:
    # web publishes 5353:53/udp on node1: db's datagrams to node1:5353 are DNATed to web:53,
    # where the flow's receiver listens (asked of the datapath when the flow starts)
    sim = _run([{"udp": {"from": "db", "to": "192.168.100.11", "port": 5353, "rate": "1Mbps", "size": 500,
                         "stop": "0.5s"}}])
    _conserved(sim)
    flow = sim.flows().iloc[0]
    assert flow.received == flow.sent > 100 and flow.path == "NAT"


def test_the_reachability_timeline_lines_up_with_the_packets_lost() -> None:
    # traffic.yaml pulls node2's cable from 1.0 s to 1.2 s: the table says web -> node2 is lost
    # from 1.0 s and back at 1.2 s, and web's datagrams to node2's published port are lost for
    # exactly the ones sent in between.
    sim = netsim.load(ROOT / "topologies" / "traffic.yaml")
    changes = sim.reachability_changes(2.0)
    pair = changes[(changes.src == "web") & (changes.dst == "node2")]
    assert list(pair.time) == [1.0, 1.2] and list(pair.new) == ["NEIGH_FAILED", "ACCEPTED"]
    sim = netsim.load(ROOT / "topologies" / "traffic.yaml")
    sim.run(sim.traffic_end())
    packets = sim.packets()
    to_node2 = packets[packets.flow == "traffic[2].udp"]
    lost = to_node2[to_node2.disposition == "DEV_DOWN"]
    assert lost.sent.min() >= 1.0 - 1e-3 and lost.sent.max() < 1.2, "lost while the cable is out"
    gap = 500 * 8 / 5e6  # one datagram every 0.8 ms
    assert len(lost) == round(0.2 / gap), "every one sent while it was out"
    outside = to_node2[(to_node2.sent < 0.999) | (to_node2.sent > 1.2)]
    assert not (outside.disposition == "DEV_DOWN").any()
