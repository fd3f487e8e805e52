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


def _k6(engine: str = "29") -> netsim.Simulation:
    from dataclasses import replace

    from netsim.simulation import build
    from netsim.topology import load_spec
    return build(replace(load_spec(INCIDENTS / "k6-learned-fdb-entry.yaml"), engine=engine))


def _vxlan_of(sim: netsim.Simulation, host: str, network: str = "appnet") -> object:
    net = sim.swarm.network(network)
    assert net is not None
    return next(d for ns in sim.world.namespaces.values() if ns.host == host and ns.name == f"1-{net.id[:10]}"
                for d in ns.devices.values() if d.kind == "vxlan")


def test_k6_a_rejoin_leaves_a_peer_on_a_learned_fdb_entry_that_ages_out() -> None:
    sim = _k6()
    sim.run(62.0)
    log = sim.daemon_log()
    failed = log[log.msg.str.startswith("overlay: failed to add peer entry")]
    assert list(failed.host) == ["w2"] and 18.0 <= failed.time.iloc[0] < 40.0, "at the rejoin, on w2"
    assert "could not add fdb entry into the sandbox: neighbor entry already present" in failed.msg.iloc[0]
    assert log[log.host == "w2"].msg.str.startswith("Neighbor entry already present ifc=vx-").any()
    vx = _vxlan_of(sim, "w2")
    a_mac = sim.container("a").endpoints["appnet"].mac
    assert a_mac in vx.fdb and a_mac not in vx.static, "the learned row is there, the self permanent one is not"
    appnet = sim.swarm.network("appnet")
    assert appnet is not None
    overlay = next(ns for ns in sim.world.namespaces.values() if ns.host == "w2" and ns.name == f"1-{appnet.id[:10]}")
    assert any(n.mac == a_mac for n in overlay.neigh.values()), "the neighbour row is there"
    pings = sim.pings()
    steady = pings[(pings.sent >= 40.0) & (pings.sent < 60.0)]
    assert len(steady) == 400 and steady.reachable.all(), "while a keeps sending, the learned entry is refreshed"
    fresh = sim.trace("b", str(sim.container("a").endpoints["appnet"].address))
    assert fresh.disposition == "VXLAN_NO_REMOTE", "a probe from b alone, without learned state, shows what is missing"

    last_frame = vx.seen[a_mac]
    assert 59.9 <= last_frame < 60.1
    sim.run(sim.traffic_end())
    late = sim.pings().set_index("flow")
    lost = late.loc["traffic[2].ping"]
    assert not lost.reachable and lost.disposition == "VXLAN_NO_REMOTE" and "(l2miss)" in lost.detail, \
        "300 s after a's last frame the learned entry is gone"
    assert late.loc["traffic[3].ping"].reachable, "a sends again..."
    assert late.loc["traffic[4].ping"].reachable, "...and w2 learns it anew"

    just_in_time = _k6()
    just_in_time.run(last_frame + 299.0)
    assert just_in_time.ping("b", "a").reachable, "299 s after a's last frame the learned entry still answers"


def test_k6_engines_before_29_replace_the_entry_and_never_lose_it() -> None:
    sim = _k6("28")
    sim.run(sim.traffic_end())
    assert not sim.daemon_log().msg.str.contains("failed to add peer entry").any()
    assert a_mac_static(sim)
    assert sim.pings().reachable[sim.pings().sent > 40].all()


def a_mac_static(sim: netsim.Simulation) -> bool:
    return sim.container("a").endpoints["appnet"].mac in _vxlan_of(sim, "w2").static


def test_k4_a_broken_checksum_offload_loses_tcp_and_udp_in_vxlan_but_not_icmp() -> None:
    sim = netsim.load(INCIDENTS / "k4-vxlan-checksum.yaml")
    sim.run(sim.traffic_end())
    flows = sim.flows().set_index("flow")
    assert flows.loc["traffic[0].ping"].received == 3, "ICMP passes"
    for through in ("traffic[1].udp", "traffic[2].udp"):
        row = flows.loc[through]
        assert row.received == 0 and row.lost == row.sent > 0 and row.drops.startswith("CSUM_ERROR:"), through
    assert flows.loc["traffic[3].udp"].lost == 0, "paths that avoid node2's NIC are fine"
    assert sim.reachability_by_name().query("src == 'web' and name == 'api'").iloc[0].disposition == "ACCEPTED"


def test_k4_b_an_nsx_agent_drops_outer_datagrams_over_936_bytes() -> None:
    sim = netsim.load(INCIDENTS / "k4-vxlan-size.yaml")
    api = str(sim.container("api").endpoints["appnet"].address)
    assert sim.ping("web", api, size=858, df=True).reachable, "858 + 8 + 20 + 14 + 8 + 8 + 20 = 936"
    lost = sim.ping("web", api, size=859, df=True)
    assert not lost.reachable and lost.disposition == "NIC_FAULT" and "936" in lost.detail
    assert sim.ping("web", api).reachable
