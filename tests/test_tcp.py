"""``tcp`` bulk flows in simulated time: the handshake, the window, loss recovery, and K3's stall."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import netsim
from netsim.cli import main
from netsim.simulation import build
from netsim.topology import parse_spec

from .conftest import ROOT

BASIC = yaml.safe_load((ROOT / "topologies" / "basic.yaml").read_text())
K3 = yaml.safe_load((ROOT / "topologies" / "incidents" / "k3-underlay-mtu.yaml").read_text())


def _run(spec: dict[str, Any], *flows: dict[str, Any]) -> netsim.Simulation:
    sim = build(parse_spec({**spec, "traffic": [{"tcp": flow} for flow in flows]}))
    sim.run(sim.traffic_end())
    packets = sim.packets()
    assert not (packets.disposition == "IN_FLIGHT").any(), "every segment arrived or died with a reason"
    table = sim.flows()
    assert (table.sent == table.received + table.lost).all()
    return sim


def test_a_transfer_across_hosts_completes_with_every_byte_in_mss_sized_segments() -> None:
    sim = _run(BASIC, {"from": "web", "to": "192.168.100.13", "bytes": "1MB"})
    flow = sim.flows().iloc[0]
    assert flow.outcome == "completed" and flow.lost == 0 and flow.completed_s > 0
    assert flow.goodput_bps == pytest.approx(8e6 / flow.completed_s, rel=1e-6), "1 MB over the time it took"
    sizes = sim.packets().bytes
    assert sizes.sum() == 1_000_000 and sizes.max() == 1460, "eth0's 1500 less 40, and nothing sent twice"
    assert (sizes[:-1] == 1460).all() and sizes.iloc[-1] == 1_000_000 % 1460


def test_the_window_opens_in_slow_start_from_ten_segments() -> None:
    sim = _run(BASIC, {"from": "web", "to": "192.168.100.13", "bytes": "200KB"})
    sent = sim.packets().sent
    bursts = sent.round(9).value_counts().sort_index()
    assert bursts.iloc[0] == 10, "RFC 6928's initial window leaves at once, before any ACK"
    assert sent.iloc[10] > sent.iloc[9], "the eleventh waits for the first ACK"


def test_a_bottleneck_with_a_short_queue_loses_segments_and_tcp_recovers_them() -> None:
    slow = {**BASIC, "underlay": {**BASIC["underlay"], "bandwidth": "20Mbps", "queue": 8}}
    sim = _run(slow, {"from": "web", "to": "192.168.100.13", "bytes": "600KB"})
    flow = sim.flows().iloc[0]
    assert flow.lost > 0 and flow.drops.startswith("QDISC_DROP:"), "slow start overflows the queue"
    assert flow.outcome == "completed", "fast retransmit and the timer send what was lost again"
    received = sim.packets().query("disposition == 'RECEIVED'")
    assert received.bytes.sum() >= 600_000 and flow.throughput_bps < 20e6


def test_k3_the_handshake_passes_and_full_segments_are_black_holed_until_the_mss_fits() -> None:
    # path MTU 1350, overlay MTU 1450: segments of 1410 bytes make 1500-byte outer packets
    sim = _run(K3, {"from": "web", "to": "api", "bytes": "100KB", "stop": "30s"},
               {"from": "web", "to": "api", "bytes": "100KB", "stop": "30s", "mss": 1261, "port": 5202},
               {"from": "web", "to": "api", "bytes": "100KB", "stop": "30s", "mss": 1260, "port": 5203})
    stalled, one_too_many, fits = sim.flows().itertuples()
    for flow in (stalled, one_too_many):
        assert flow.received == 0 and flow.drops == f"FRAME_TOO_LONG:{flow.sent}"
        assert flow.outcome.startswith("unfinished: connected at 0"), "the SYNs and ACKs are small enough"
    assert fits.outcome == "completed" and fits.lost == 0, "U - 90 = 1260 is the largest that fits"
    retries = sim.packets().query("flow == 'traffic[0].tcp'").sent.round(6).tolist()[10:]
    # after the initial window, one segment on each expiry of a timer that doubles from 200 ms
    # (the handshake's round trip is far below RTO_MIN)
    assert retries == pytest.approx([0.2 * (2 ** k - 1) + retries[0] - 0.2 for k in range(1, len(retries) + 1)],
                                    abs=1e-3)


def test_k3_incident_in_time_stalls_on_appnet_and_completes_with_either_fix() -> None:
    sim = netsim.load(ROOT / "topologies" / "incidents" / "k3-underlay-mtu.yaml")
    sim.run(sim.traffic_end())
    stalled, fixed_mtu, clamped = sim.flows().itertuples()
    assert stalled.outcome.startswith("unfinished: connected") and stalled.received == 0
    assert fixed_mtu.outcome == "completed" and clamped.outcome == "completed"
    sizes = sim.packets().groupby("flow").bytes.max()
    assert sizes["traffic[1].tcp"] == 1260, "overlay mtu 1350: the container's 1300 less 40"


def test_a_syn_nobody_answers_is_sent_again_on_a_doubling_timer_then_times_out() -> None:
    sim = _run(BASIC, {"from": "web", "to": "192.168.100.99", "bytes": "10KB", "stop": "200s"})
    assert sim.flows().iloc[0].outcome == "connect: Connection timed out", "1+2+4+...+64 = 127 s of SYNs"
    assert sim.flows().iloc[0].sent == 0, "no data segment ever left"


def test_flows_are_deterministic_and_bad_values_name_their_key(tmp_path: Any) -> None:
    flow = {"from": "web", "to": "192.168.100.13", "bytes": "300KB"}
    slow = {**BASIC, "underlay": {**BASIC["underlay"], "bandwidth": "20Mbps", "queue": 8}}
    assert _run(slow, flow).packets().equals(_run(slow, flow).packets())
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASIC, "traffic": [{"tcp": {"from": "web", "to": "api", "bytes": "ten"}}]}))
    result = CliRunner().invoke(main, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "traffic[0].tcp.bytes" in result.output and "10MB" in result.output
    assert not (tmp_path / "out").exists()


def test_a_transfer_to_a_published_port_reaches_the_container_through_dnat() -> None:
    # web publishes 8080:80 on node1: the SYN to node1:8080 is answered by web on port 80
    sim = _run(BASIC, {"from": "db", "to": "192.168.100.11", "port": 8080, "bytes": "200KB"})
    flow = sim.flows().iloc[0]
    assert flow.outcome == "completed" and flow.lost == 0


def test_netsim_run_says_how_each_flow_went(tmp_path: Any) -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "topologies" / "incidents" / "k3-underlay-mtu.yaml"),
                                       "--out", str(tmp_path / "k3")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"flows: {tmp_path / 'k3' / 'flows.csv'}" in lines
    stalled = next(line for line in lines if line.startswith("traffic[0].tcp"))
    assert "0 received" in stalled and "(FRAME_TOO_LONG:" in stalled and "unfinished: connected" in stalled
    assert any(line.startswith("traffic[1].tcp") and "completed in" in line for line in lines)
