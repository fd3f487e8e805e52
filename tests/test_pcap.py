"""Packet captures in simulated time: pcap files that scapy and tshark dissect as a real wire's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from scapy.all import rdpcap
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.vxlan import VXLAN

import netsim
from netsim.analysis.pcap import MAGIC_NANOSECONDS
from netsim.simulation import build
from netsim.topology import parse_spec

OVERLAY_PING = yaml.safe_load("""
hosts:
  node1: {swarm: manager}
  node2: {swarm: worker}
networks:
  appnet: {driver: overlay, attachable: true}
containers:
  web: {host: node1, networks: [appnet]}
  api: {host: node2, networks: [appnet]}
traffic:
  - {ping: {from: web, to: api, count: 3, interval: 100ms}}
capture: [node1:eth0, web:eth0]
""")


def _sim() -> netsim.Simulation:
    sim = build(parse_spec(OVERLAY_PING))
    sim.run(sim.traffic_end())
    return sim


def test_the_overlay_shows_on_the_host_nic_as_vxlan_with_its_vni_and_the_inner_frame(tmp_path: Path) -> None:
    sim = _sim()
    path = tmp_path / "node1-eth0.pcap"
    path.write_bytes(sim.pcap("node1:eth0"))
    assert path.read_bytes()[:4] == MAGIC_NANOSECONDS.to_bytes(4, "little"), "nanosecond pcap"
    frames = [f for f in rdpcap(str(path)) if f.haslayer(VXLAN)]
    echoes = [f for f in frames if f[VXLAN].haslayer(ICMP)]
    assert len(echoes) == 6, "three requests and three replies"
    assert {f[VXLAN].vni for f in echoes} == {4097} and {f[UDP].dport for f in echoes} == {4789}
    inner = echoes[0][VXLAN].payload
    assert inner[IP].src == str(sim.container("web").endpoints["appnet"].address)


def test_a_container_side_capture_shows_its_arp_and_echoes_with_simulated_times(tmp_path: Path) -> None:
    sim = _sim()
    path = tmp_path / "web-eth0.pcap"
    path.write_bytes(sim.pcap("web:eth0"))
    frames = rdpcap(str(path))
    kinds = [f.summary() for f in frames]
    assert any("ARP" in k for k in kinds) and sum("ICMP" in k for k in kinds) == 6
    echoes = [f for f in frames if f.haslayer(ICMP) and f[ICMP].type == 8]
    assert len({f[ICMP].id for f in echoes}) == 1 and [f[ICMP].seq for f in echoes] == [1, 2, 3], "as ping(8)"
    sent = [float(f.time) for f in echoes]
    assert 0 < sent[0] < 20e-6, "the first echo leaves once ARP is answered"
    assert sent[1:] == pytest.approx([0.1, 0.2], abs=1e-9), "pcap timestamps are the simulation's"


def test_the_same_seed_gives_the_same_pcap_bytes() -> None:
    assert _sim().pcap("node1:eth0") == _sim().pcap("node1:eth0")


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (.ci/run installs it)")
def test_tshark_dissects_vxlan_vni_outer_and_inner_addresses(tmp_path: Path) -> None:
    sim = _sim()
    path = tmp_path / "node1-eth0.pcap"
    path.write_bytes(sim.pcap("node1:eth0"))
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "icmp", "-T", "fields", "-e", "udp.dstport",
                          "-e", "vxlan.vni", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    assert len(rows) == 6
    web, api = (str(sim.container(c).endpoints["appnet"].address) for c in ("web", "api"))
    assert rows[0] == ["4789", "4097", f"192.168.100.11,{web}", f"192.168.100.12,{api}", "8"]
    assert rows[1][4] == "0" and rows[1][2] == f"192.168.100.12,{api}"


def test_bad_capture_places_are_refused_with_the_fix() -> None:
    with pytest.raises(netsim.TopologyError) as err:
        build(parse_spec({**OVERLAY_PING, "capture": ["node3:eth0"]}))
    assert err.value.key_path == "capture[0]" and "no host or container named 'node3'" in err.value.message
    with pytest.raises(netsim.TopologyError) as err:
        build(parse_spec({**OVERLAY_PING, "capture": ["web:eth9"]}))
    assert err.value.key_path == "capture[0]" and "has no interface 'eth9'" in err.value.message



@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (.ci/run installs it)")
def test_tshark_reads_a_tcp_handshake_s_mss_options_and_the_segments_inside_vxlan(tmp_path: Path) -> None:
    spec = {**OVERLAY_PING, "traffic": [{"tcp": {"from": "web", "to": "api", "bytes": "20KB"}}]}
    sim = build(parse_spec(spec))
    sim.run(sim.traffic_end())
    path = tmp_path / "node1-eth0.pcap"
    path.write_bytes(sim.pcap("node1:eth0"))
    out = subprocess.run(["tshark", "-r", str(path), "-Y", "tcp.port == 5201", "-T", "fields", "-e", "tcp.flags.syn",
                          "-e", "tcp.flags.ack", "-e", "tcp.options.mss_val", "-e", "tcp.len",
                          "-e", "tcp.checksum.status", "-o", "tcp.check_checksum:TRUE"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = [line.split("\t") for line in out if line]
    syn, syn_ack = rows[0], rows[1]
    assert syn[:3] == ["1", "0", "1410"], "the overlay's MTU 1450 less 40, in the SYN"
    assert syn_ack[:3] == ["1", "1", "1410"], "and the listener's own in its SYN-ACK"
    data = [r for r in rows if r[3] not in ("", "0")]
    assert {r[3] for r in data} <= {"1410", str(20_000 % 1410)} and sum(int(r[3]) for r in data) >= 20_000
    assert all(r[4] == "1" for r in rows), "every TCP checksum verified good (status 1)"
