"""Swarm overlay networks across hosts, each test named by the behaviour of docker-semantics.md it checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from scapy.layers.inet import IP, UDP

import netsim
from netsim.errors import DockerError
from netsim.simulation import build
from netsim.topology import parse_spec

THREE_NODES = """
hosts:
  node1: {swarm: manager}
  node2: {swarm: worker}
  node3: {swarm: worker}
networks:
  appnet: {driver: overlay, attachable: true}
  other: {driver: overlay, attachable: true}
containers:
  web: {host: node1, networks: [appnet]}
  api: {host: node2, networks: [appnet]}
  db: {host: node3, networks: [other]}
"""


def _sim(text: str = THREE_NODES, **changes: Any) -> netsim.Simulation:
    data = yaml.safe_load(text)
    data.update(changes)
    return build(parse_spec(data))


def _row(table: Any, src: str, dst: str, network: str) -> Any:
    rows = table[(table.src == src) & (table.dst == dst) & (table.network == network)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_b34_overlay_networks_need_a_swarm_manager() -> None:
    sim = netsim.Simulation("no-swarm")
    sim.add_host("h1")
    with pytest.raises(DockerError, match="This node is not a swarm manager"):
        sim.swarm.create_network("o1", attachable=True)
    sim.swarm.init("h1")
    sim.add_host("h2")
    sim.swarm.join("h2")
    with pytest.raises(DockerError, match="Worker nodes can't be used to view or modify cluster state"):
        sim.swarm.create_network("o1", on="h2")


def test_b35_a_network_created_without_attachable_refuses_standalone_containers() -> None:
    text = THREE_NODES.replace("appnet: {driver: overlay, attachable: true}", "appnet: {driver: overlay}")
    with pytest.raises(netsim.TopologyError) as err:
        _sim(text)
    assert err.value.key_path == "containers.web.networks[0]"
    assert "rpc error: code = PermissionDenied desc = network appnet not manually attachable" in err.value.message


def test_b36_a_node_instantiates_a_network_only_when_a_container_uses_it() -> None:
    sim = _sim()
    assert "appnet" in sim.host("node1").networks and "appnet" in sim.host("node2").networks
    assert "appnet" not in sim.host("node3").networks
    assert sim.swarm.peers("node1", "appnet") == ["node1", "node2"]
    assert sim.swarm.peers("node3", "other") == ["node3"]


def test_b37_addresses_vnis_and_kernel_names() -> None:
    sim = _sim()
    appnet, other = sim.swarm.network("appnet"), sim.swarm.network("other")
    assert appnet is not None and other is not None
    assert (str(appnet.subnet), str(other.subnet)) == ("10.0.1.0/24", "10.0.2.0/24"), "ingress took 10.0.0.0/24"
    vni = appnet.options["com.docker.network.driver.overlay.vxlanid_list"]
    assert vni == "4097", "ingress took 4096"
    web = sim.container("web")
    ep = web.endpoints["appnet"]
    assert str(ep.address) == "10.0.1.2" and f"{ep.mac:012x}" == "02420a000102", "02:42 + the address"
    names = {ns.name: ns for ns in sim.world.namespaces.values() if ns.host == "node1" and ns.name.startswith("1-")}
    ingress = sim.swarm.network("ingress")
    assert ingress is not None and set(names) == {f"1-{appnet.id[:10]}", f"1-{ingress.id[:10]}"}, \
        "every node has ingress from its join; appnet because web uses it"
    assert set(names[f"1-{appnet.id[:10]}"].devices) >= {f"ov-001001-{appnet.id[:5]}", f"vx-001001-{appnet.id[:5]}"}
    assert f"vx-001000-{ingress.id[:5]}" in names[f"1-{ingress.id[:10]}"].devices


def test_b38_cross_host_reachability_by_address_and_name_with_ttl_64() -> None:
    sim = _sim()
    table = sim.reachability()
    assert _row(table, "web", "api", "appnet").reachable and _row(table, "api", "web", "appnet").reachable
    names = sim.reachability_by_name()
    hit = names[(names.src == "web") & (names.name == "api")].iloc[0]
    assert hit.reachable and hit.addr == str(sim.container("api").endpoints["appnet"].address)
    trace = sim.trace("web", "api")
    delivered = next(s for s in trace.steps if s.node == "api" and s.action == "RECEIVED")
    assert delivered.frame.payload.ttl == 64


def test_b39_different_overlays_are_isolated() -> None:
    sim = _sim()
    table = sim.reachability()
    assert not _row(table, "web", "db", "other").reachable
    names = sim.reachability_by_name()
    assert names[(names.src == "web") & (names.name == "db")].iloc[0].disposition == "NAME_UNRESOLVED"


def test_b40_the_overlay_mtu_is_1450_and_1422_bytes_fit() -> None:
    sim = _sim()
    assert sim.container("web").ns.devices["eth0"].mtu == 1450
    assert sim.trace("web", "api", size=1422).reachable
    refused = sim.trace("web", "api", size=1423)
    assert not refused.reachable and "message too long, mtu=1450" in refused.detail


def test_b41_the_outer_frame_on_the_wire() -> None:
    sim = _sim()
    trace = sim.trace("web", "api")
    wire = next(s for s in trace.steps if s.node == "node1" and s.action == "TRANSMITTED")
    frame = next(pkt for step, pkt in trace.frames() if step is wire)
    assert (frame[IP].src, frame[IP].dst, frame[UDP].dport) == ("192.168.100.11", "192.168.100.12", 4789)
    assert bytes(frame)[14 + 20 + 8:14 + 20 + 8 + 8] == bytes.fromhex("08000000001001") + b"\x00"


def test_b42_a_new_container_is_reachable_from_other_hosts_after_a_few_gossip_rounds() -> None:
    sim = _sim(events=[{"at": "1s", "connect": {"container": "db", "network": "appnet"}}])
    sim.run(1.0)
    assert not _row(sim.reachability(), "web", "db", "appnet").reachable, "the news has not spread yet"
    sim.run(2.0)
    assert _row(sim.reachability(), "web", "db", "appnet").reachable
    assert sim.swarm.peers("node1", "appnet") == ["node1", "node2", "node3"]


def test_b46_egress_goes_through_docker_gwbridge_with_masquerade() -> None:
    sim = _sim()
    web = sim.container("web")
    assert set(web.endpoints) == {"appnet", "docker_gwbridge"}
    gw = web.endpoints["docker_gwbridge"]
    assert str(gw.address).startswith("172.18.") and web.gateway_endpoint is gw
    table = sim.reachability()
    assert _row(table, "web", "node2", "underlay").reachable, "out through docker_gwbridge, masqueraded"


def test_b47_a_host_cannot_reach_overlay_addresses() -> None:
    sim = _sim()
    table = sim.reachability()
    assert not _row(table, "node1", "web", "appnet").reachable
    assert not _row(table, "node2", "web", "appnet").reachable


def test_b57c_a_graceful_leave_disconnects_and_is_seen_at_once() -> None:
    sim = _sim(events=[{"at": "2s", "swarm_leave": "node2"}])
    assert _row(sim.reachability(at=1.0), "web", "api", "appnet").reachable
    sim.run(2.0)
    api = sim.container("api")
    assert "appnet" not in api.endpoints and "appnet" not in sim.host("node2").networks
    sim.run(2.01)  # the leave goes out at once, to every node: no suspicion delay
    assert sim.swarm.peers("node1", "appnet") == ["node1"]
    names = sim.reachability_by_name()
    assert names[(names.src == "web") & (names.name == "api")].iloc[0].disposition == "NAME_UNRESOLVED"


def test_gossip_is_deterministic_for_a_seed() -> None:
    def run() -> tuple[int, str]:
        sim = _sim(events=[{"at": "1s", "connect": {"container": "db", "network": "appnet"}}])
        sim.run(3.0)
        return sim.swarm.messages(), sim.reachability().to_csv()

    assert run() == run()


def test_t3_an_underlay_hop_black_holes_big_overlay_packets_and_the_mtu_option_fixes_it() -> None:
    sim = netsim.load(Path(__file__).resolve().parent.parent / "topologies" / "overlay-mtu.yaml")
    api = sim.container("api").endpoints
    default, small = str(api["appnet"].address), str(api["appnet-fixed"].address)
    assert sim.ping("web", default, size=1300, df=True).reachable, "small packets pass"
    lost = sim.ping("web", default, size=1400, df=True)
    assert not lost.reachable and lost.disposition == "FRAME_TOO_LONG", "silently dropped on the hop"
    fixed = sim.ping("web", small, size=1400, df=True)
    assert fixed.disposition == "MESSAGE_TOO_LONG" and "mtu=1350" in fixed.detail, "refused at the sender"
    assert "local error: message too long, mtu=1350" in str(fixed)
    assert sim.ping("web", small, size=1322, df=True).reachable, "1322 + 28 = 1350 fits end to end"


def test_b40_a_9000_mtu_option_on_a_1500_underlay_passes_only_1422_byte_payloads() -> None:
    text = THREE_NODES.replace("appnet: {driver: overlay, attachable: true}",
                               "appnet: {driver: overlay, attachable: true, mtu: 9000}")
    sim = _sim(text)
    assert sim.container("web").ns.devices["eth0"].mtu == 8950
    assert sim.trace("web", "api", size=1422).reachable
    too_big = sim.ping("web", "api", size=1423, df=True)
    assert too_big.disposition == "FRAG_NEEDED" and "mtu = 1450" in too_big.detail


def test_b49_an_encrypted_overlay_has_a_1424_byte_mtu() -> None:
    text = THREE_NODES.replace("appnet: {driver: overlay, attachable: true}",
                               "appnet: {driver: overlay, attachable: true, encrypted: true}")
    assert _sim(text).container("web").ns.devices["eth0"].mtu == 1424


def test_b49_an_encrypted_overlay_crosses_the_underlay_as_esp_and_refuses_plaintext() -> None:
    from netsim.datapath.addr import ip
    from netsim.datapath.packet import UDP as UDPRecord
    from netsim.datapath.packet import ARP, ARPOP_REQUEST, VXLAN, Ether, IPv4
    from netsim.datapath.skb import Skb

    text = THREE_NODES.replace("appnet: {driver: overlay, attachable: true}",
                               "appnet: {driver: overlay, attachable: true, encrypted: true}")
    sim = _sim(text)
    trace = sim.trace("web", "api")
    assert trace.reachable
    wire = next(pkt for step, pkt in trace.frames() if step.node == "node1" and step.action == "TRANSMITTED")
    assert wire[IP].proto == 50 and not wire.haslayer(UDP), "ESP (IP protocol 50), no UDP/4789 in the clear"
    assert [s.action for s in trace.steps if s.node == "node2"][:2] == ["RECEIVED", "DECRYPTED"]

    drops: list[str] = []

    class Watch:
        def dropped(self, skb: Skb, reason: Any, detail: str) -> None:
            drops.append(f"{reason.value}: {detail}")

    node1, node2 = sim.host("node1"), sim.host("node2")
    inner = sim.container("web").ns.devices["eth0"]
    vni = int(sim.swarm.network("appnet").options["com.docker.network.driver.overlay.vxlanid_list"])
    forged = IPv4(ip(str(node1.address)), ip(str(node2.address)),
                  UDPRecord(40000, 4789, VXLAN(vni, Ether(0xFFFFFFFFFFFF, inner.mac,
                                                          ARP(ARPOP_REQUEST, inner.mac, 0, 0, 0)))))
    node1.ns.ip_local_out(Skb(Ether(0, 0, forged), Watch(), origin=node1.ns))
    sim.run(sim.now + 0.01)
    assert drops and "plaintext VXLAN for encrypted vni" in drops[-1]


def test_b36_network_inspect_lists_its_peers() -> None:
    sim = _sim()
    peers = sim.host("node1").networks.get("appnet").inspect()["Peers"]
    assert peers == [{"Name": "node1", "IP": "192.168.100.11"}, {"Name": "node2", "IP": "192.168.100.12"}]
    assert sim.host("node1").networks.get("appnet").inspect()["Scope"] == "swarm"


def test_b48_an_internal_overlay_connects_containers_across_hosts_and_nothing_else() -> None:
    text = THREE_NODES.replace("appnet: {driver: overlay, attachable: true}",
                               "appnet: {driver: overlay, attachable: true, internal: true}")
    sim = _sim(text)
    web = sim.container("web")
    assert set(web.endpoints) == {"appnet"}, "no docker_gwbridge endpoint for an internal overlay"
    table = sim.reachability()
    assert _row(table, "web", "api", "appnet").reachable
    assert not _row(table, "web", "node2", "underlay").reachable, "no default route out"


@pytest.mark.parametrize(("engine", "black_hole"), [("28", False), ("29", True)])
def test_k6_a_peer_re_added_after_the_kernel_learned_its_mac_is_left_on_a_learned_entry(
        engine: str, black_hole: bool) -> None:
    """PR #53663: node2's NetworkDB drops node1's entries (node1 declared failed), node1's
    container keeps sending, so node2's VXLAN device learns its MAC; when the entry comes back,
    29's exclusive FDB add fails with EEXIST and node2 reaches web only until the learned entry
    ages out, 300 s after web's last frame; 28 replaces it with a permanent one."""
    sim = _sim(engine=engine)
    sim.run(10)
    node2 = sim.hosts["node2"].engine
    driver, nid = node2.driver("overlay"), node2.networks.get("appnet").id
    vx = next(d for ns in sim.world.namespaces.values() if ns.host == "node2"
              for d in ns.devices.values() if d.kind == "vxlan" and ns.name.endswith(nid[:10]))
    web_ep = sim.container("web").endpoints["appnet"]
    key = web_ep.id
    value = sim.swarm.members["node2"].db.table(nid, "overlay_peer_table")[key]
    web_mac = web_ep.mac

    assert sim.ping("api", "web").reachable, "steady traffic both ways: each knows the other's MAC"
    driver.event_notify(nid, "overlay_peer_table", key, None)  # node1 failed: peerDelete
    assert web_mac not in vx.fdb
    assert sim.ping("web", "api").reachable, "web still has api's entry; node2 answers by what it learned"
    assert web_mac in vx.fdb and web_mac not in vx.static
    driver.event_notify(nid, "overlay_peer_table", key, value)  # node1 is back: peerAdd
    log = sim.daemon_log()
    failed = log[(log.host == "node2") & log.msg.str.startswith("overlay: failed to add peer entry")]
    assert (web_mac not in vx.static) == black_hole == (len(failed) == 1)
    if black_hole:
        assert "could not add fdb entry into the sandbox: neighbor entry already present" in failed.msg.iloc[0]
        assert log.msg.str.contains(f'Neighbor entry already present ifc={vx.name} ip=').any()

    sim.run(sim.now + 299)
    assert sim.ping("api", "web").reachable, "within 300 s of web's last frame"
    sim.run(sim.now + 302)
    late = sim.ping("api", "web")
    assert late.reachable != black_hole, late
    if black_hole:
        assert late.disposition != "ACCEPTED" and "l2miss" in (late.detail or ""), late
        assert sim.ping("web", "api").reachable, "web sending again is relearned"
        assert sim.ping("api", "web").reachable
