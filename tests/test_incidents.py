"""The incident library (topologies/incidents/): each file replays a published Docker incident of
../shared/incidents-and-tools.md section 2.2, and each test asserts its symptom and numbers."""

from __future__ import annotations

from pathlib import Path

import netsim

INCIDENTS = Path(__file__).resolve().parent.parent / "topologies" / "incidents"


def _by_name(sim: netsim.Simulation, src: str, name: str) -> str:
    table = sim.reachability_by_name()
    return str(table[(table.src == src) & (table.name == name)].iloc[0].disposition)


def test_k1_gossip_blocked_between_two_nodes() -> None:
    sim = netsim.load(INCIDENTS / "k1-gossip-blocked.yaml")
    sim.run(10.0)
    assert sim.swarm.view("node1")["node2"] == "alive", "memberlist still sees node2 (node3 relays the probes)"
    assert _by_name(sim, "web", "api") == "ACCEPTED", "what was known before the block keeps working"
    assert _by_name(sim, "web", "api2") == "NAME_UNRESOLVED", "a container started during the block is unknown"
    table = sim.reachability()
    by_ip = table[(table.src == "web") & (table.dst == "api2") & (table.network == "appnet")].iloc[0]
    assert not by_ip.reachable, "no peer entry, so no FDB entry: by address it times out too"
    sim.run(24.0)
    assert _by_name(sim, "web", "api2") == "NAME_UNRESOLVED", "opening the port alone does not resend the entry"
    sim.run(26.0)
    assert _by_name(sim, "web", "api2") == "ACCEPTED", "the next bulk sync (every 30 s from -5 s) brings it"


def test_k3_underlay_mtu_below_1500() -> None:
    sim = netsim.load(INCIDENTS / "k3-underlay-mtu.yaml")
    api = sim.container("api")
    default, fixed = (str(api.endpoints[n].address) for n in ("appnet", "appnet-fixed"))
    assert sim.ping("web", default, size=1272, df=True).reachable, "1350 - 50 - 28 = 1272 fits"
    lost = sim.ping("web", default, size=1273, df=True)
    assert not lost.reachable and lost.disposition == "FRAME_TOO_LONG" and not lost.detail.startswith("local")
    assert sim.trace("web", default).reachable, "small packets (and a TCP handshake) pass"
    assert sim.ping("web", fixed, size=1272, df=True).reachable
    refused = sim.ping("web", fixed, size=1273, df=True)
    assert "local error: message too long, mtu=1300" in str(refused), "the mtu option turns the black hole into an error"


def test_k8_esp_blocked_breaks_only_the_encrypted_overlay() -> None:
    sim = netsim.load(INCIDENTS / "k8-esp-blocked.yaml")
    api = sim.container("api")
    clear, secure = (str(api.endpoints[n].address) for n in ("clear", "secure"))
    assert sim.ping("web", secure).reachable, "before the block: ESP between the hosts"
    sim.run(2.0)
    assert sim.ping("web", clear).reachable, "the clear overlay is plain VXLAN: unaffected"
    lost = sim.ping("web", secure)
    assert not lost.reachable and lost.disposition == "DENIED"
    assert _by_name(sim, "web", "api") == "ACCEPTED", "gossip works, names resolve (first network's answer)"
