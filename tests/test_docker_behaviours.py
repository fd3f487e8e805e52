"""Docker behaviours B1-B32 of docker-semantics.md, each test named after the one it checks.

Topologies are built with the docker-SDK-style API, the way a notebook would, so these tests
also pin that API: ``host.networks.create``, ``host.containers.run``, ``network.connect``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

import netsim
from netsim.datapath.addr import mac_str
from netsim.engine.ports import PortBinding
from netsim.errors import DockerError
from netsim.topology.spec import UnderlaySpec

LAN = UnderlaySpec(subnet=IPv4Network("192.168.1.0/24"), gateway=IPv4Address("192.168.1.1"))


def lab(engine: str = "29", hosts: int = 1, external: bool = True) -> netsim.Simulation:
    """Reference topology T0: H1 = .11, H2 = .12, ..., router .1, plain machine X = .50."""
    sim = netsim.Simulation("t0", seed=1, engine=engine, underlay=LAN)
    for i in range(hosts):
        sim.add_host(f"H{i + 1}")
    if external:
        sim.add_host("X", "192.168.1.50", docker=False)
    return sim


def reach(sim: netsim.Simulation, src: str, dst: str) -> tuple[bool, str]:
    t = sim.trace(src, dst)
    return t.reachable, t.disposition


def addr(sim: netsim.Simulation, container: str, network: str) -> str:
    return str(sim.container(container).endpoints[network].address)


# ---- 1.1 default bridge ---------------------------------------------------------------------

def test_b1_builtin_networks() -> None:
    sim = lab()
    nets = {n.name: n.driver_name for n in sim.host("H1").networks.list()}
    assert nets == {"bridge": "bridge", "host": "host", "none": "null"}


def test_b2_docker0_addressing_and_first_fit() -> None:
    sim = lab()
    h1 = sim.host("H1")
    bridge = h1.networks.get("bridge")
    assert str(bridge.subnet) == "172.17.0.0/16" and str(bridge.gateway) == "172.17.0.1"
    assert "172.17.0.1/16 dev docker0" in [str(a) for a in h1.ns.addresses]
    a = h1.containers.run("a")
    h1.containers.run("b")
    assert addr(sim, "a", "bridge") == "172.17.0.2" and addr(sim, "b", "bridge") == "172.17.0.3"
    assert [str(r) for r in a.ns.routes if r.plen == 0] == ["default via 172.17.0.1 dev eth0"]
    assert a.ns.devices["eth0"].mtu == 1500
    bridge.disconnect("a")
    h1.containers.run("c")
    assert addr(sim, "c", "bridge") == "172.17.0.2", "local networks reuse addresses first-fit"


@pytest.mark.parametrize("engine", ["27", "28", "29"])
def test_b3_container_mac_by_engine(engine: str) -> None:
    sim = lab(engine)
    ctr = sim.host("H1").containers.run("a")
    mac = sim.container("a").endpoints["bridge"].mac
    if engine == "27":
        assert mac_str(mac) == "02:42:ac:11:00:02"
    else:
        first = mac >> 40
        assert first & 0x02 and not first & 0x01, "random, locally administered, unicast"
        assert mac_str(mac) != "02:42:ac:11:00:02"
    assert ctr.ns.devices["eth0"].mac == mac


def test_b4_icc_on_default_bridge_is_pure_l2() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("a")
    h1.containers.run("b")
    t = sim.trace("a", "172.17.0.3")
    assert t.reachable
    received = [s for s in t.steps if s.node == "b" and s.action == "RECEIVED"]
    assert "ttl=64" in received[0].text, "same-bridge traffic is switched, TTL unchanged"
    assert reach(sim, "H1", "172.17.0.2") == (True, "ACCEPTED")
    assert reach(sim, "H1", "172.17.0.3") == (True, "ACCEPTED")


def test_b5_no_name_resolution_on_default_bridge() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("a")
    h1.containers.run("b")
    assert reach(sim, "a", "b") == (False, "NO_DNS_ON_DEFAULT_BRIDGE")
    assert reach(sim, "a", "172.17.0.3")[0]
    with pytest.raises(DockerError, match="network-scoped aliases are only supported"):
        h1.containers.run("c", networks={"bridge": {"aliases": ["x"]}})


def test_b6_legacy_link_is_one_directional() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("db")
    h1.containers.run("web", links={"db": "webdb"})
    assert reach(sim, "web", "webdb") == (True, "ACCEPTED")
    assert reach(sim, "web", "db") == (True, "ACCEPTED")
    assert reach(sim, "db", "web") == (False, "NO_DNS_ON_DEFAULT_BRIDGE")
    with pytest.raises(DockerError, match="host type networking can't be used with links"):
        h1.containers.run("h", network_mode="host", links={"db": "x"})


# ---- 1.2 user-defined bridges ---------------------------------------------------------------

def test_b8_subnet_allocation_order_and_exhaustion() -> None:
    sim = netsim.Simulation("pools", underlay=UnderlaySpec(subnet=IPv4Network("10.200.0.0/24")))
    h1 = sim.add_host("H1")
    made = [h1.networks.create(f"n{i}") for i in range(1, 31)]
    subnets = [str(n.subnet) for n in made]
    assert subnets[:3] == ["172.18.0.0/16", "172.19.0.0/16", "172.20.0.0/16"]
    assert subnets[13] == "172.31.0.0/16"
    assert subnets[14:16] == ["192.168.0.0/20", "192.168.16.0/20"]
    assert subnets[29] == "192.168.240.0/20"
    assert all(str(n.gateway) == str(n.subnet.network_address + 1) for n in made)
    assert made[0].host_interface is not None and made[0].host_interface.name == f"br-{made[0].id[:12]}"
    with pytest.raises(DockerError, match="all predefined address pools have been fully subnetted"):
        h1.networks.create("n31")
    with pytest.raises(DockerError, match="Pool overlaps with other one on this address space"):
        h1.networks.create("clash", subnet="172.18.5.0/24")


def test_b8_pools_skip_the_hosts_on_link_prefix() -> None:
    sim = netsim.Simulation("lan", underlay=UnderlaySpec(subnet=IPv4Network("172.18.0.0/24")))
    h1 = sim.add_host("H1")
    assert str(h1.networks.create("n1").subnet) == "172.19.0.0/16"


def test_b9_embedded_dns_names() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("app")
    h1.containers.run("web", network="app")
    db = h1.containers.run("db", network="app", hostname="dbhost")
    for name in ("db", "DB", "db.app", db.short_id, "dbhost"):
        assert reach(sim, "web", name) == (True, "ACCEPTED"), name
    assert sim.trace("web", "db").addr == addr(sim, "db", "app")


def test_b10_dns_scope_and_first_network_wins() -> None:
    sim = lab()
    h1 = sim.host("H1")
    for n in ("n1", "n2", "n3"):
        h1.networks.create(n)
    h1.containers.run("c", networks={"n1": {}, "n2": {}})
    h1.containers.run("d1", networks={"n1": {"aliases": ["svc"]}})
    h1.containers.run("d2", networks={"n2": {"aliases": ["svc"]}})
    h1.containers.run("e", network="n3")
    assert reach(sim, "c", "d1")[0] and reach(sim, "c", "d2")[0]
    assert reach(sim, "c", "e") == (False, "NAME_UNRESOLVED")
    assert sim.trace("c", "svc").addr == addr(sim, "d1", "n1")


def test_b11_link_on_user_network_is_container_scoped() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("app")
    h1.containers.run("db", network="app")
    h1.containers.run("web", network="app", links={"db": "database"})
    h1.containers.run("other", network="app")
    assert reach(sim, "web", "database") == (True, "ACCEPTED")
    assert reach(sim, "other", "database") == (False, "NAME_UNRESOLVED")


@pytest.mark.parametrize("engine,disposition", [("27", "ISOLATED"), ("28", "DIRECT_ACCESS_DENIED"),
                                                ("29", "DIRECT_ACCESS_DENIED")])
def test_b12_bridges_are_isolated(engine: str, disposition: str) -> None:
    sim = lab(engine)
    h1 = sim.host("H1")
    h1.networks.create("n1")
    h1.networks.create("n2")
    h1.containers.run("a", network="n1")
    h1.containers.run("b", network="n2", ports=[PortBinding(80, 8080)])
    h1.containers.run("c", networks={"n1": {}, "n2": {}})
    assert reach(sim, "a", addr(sim, "b", "n2")) == (False, disposition)
    assert reach(sim, "a", "b") == (False, "NAME_UNRESOLVED")
    assert reach(sim, "c", "a")[0] and reach(sim, "c", "b")[0]
    # ... but the published port on a host address is reachable: 29 DNATs it to b, while 27/28
    # skip DNAT for traffic from a bridge and let the userland proxy on the host answer.
    via_host = sim.trace("a", "192.168.1.11", proto="tcp", port=8080)
    assert via_host.reachable and via_host.responder == ("b" if engine == "29" else "H1")


def test_b13_connect_running_container_moves_default_route() -> None:
    sim = lab()
    h1 = sim.host("H1")
    n1 = h1.networks.create("n1")
    h1.networks.create("n2")
    h1.containers.run("peer", network="n2")
    c = h1.containers.run("c", network="n2")
    n1.connect(c, aliases=["x"], ipv4_address="172.18.0.50")
    assert c.endpoints["n1"].ifname == "eth1" and addr(sim, "c", "n1") == "172.18.0.50"
    assert [str(r) for r in c.ns.routes if r.plen == 0] == ["default via 172.18.0.1 dev eth1"]
    assert reach(sim, "peer", "c")[0]
    with pytest.raises(DockerError, match="user specified IP address is supported on user-defined networks only"):
        h1.networks.get("bridge").connect(c, ipv4_address="172.17.0.99")
    with pytest.raises(DockerError, match="no configured subnet contains IP address 10.9.9.9"):
        h1.networks.create("n3").connect(c, ipv4_address="10.9.9.9")
    hostmode = h1.containers.run("hm", network_mode="host")
    with pytest.raises(DockerError, match="sharing network namespace"):
        n1.connect(hostmode)
    none = h1.containers.run("nn", network_mode="none")
    with pytest.raises(DockerError, match="private \\(none\\) mode"):
        n1.connect(none)


def test_b14_disconnect_releases_address_and_names() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("n1")
    n2 = h1.networks.create("n2")
    h1.containers.run("peer", network="n2")
    c = h1.containers.run("c", networks={"n1": {}, "n2": {}})
    old = addr(sim, "c", "n2")
    assert reach(sim, "peer", old)[0]
    n2.disconnect(c)
    assert "eth1" not in c.ns.devices
    assert reach(sim, "peer", "c") == (False, "NAME_UNRESOLVED")
    assert reach(sim, "peer", old) == (False, "NEIGH_FAILED"), "no ARP owner for the old address"
    assert addr(sim, "peer", "n2") != old
    h1.containers.run("new", network="n2")
    assert addr(sim, "new", "n2") == old, "the released address is reused first-fit"


def test_b15_icc_disabled_on_user_bridge() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("n", options={"com.docker.network.bridge.enable_icc": "false"})
    h1.containers.run("a", network="n")
    h1.containers.run("b", network="n")
    assert sim.trace("a", "b").addr == addr(sim, "b", "n"), "DNS is independent of ICC"
    assert reach(sim, "a", "b") == (False, "ICC_DISABLED")
    assert reach(sim, "a", "172.18.0.1")[0], "the gateway (host) is reachable"
    assert reach(sim, "a", "X")[0], "the LAN is reachable through NAT"


def test_b16_internal_network() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("in1", internal=True)
    h1.networks.create("other")
    a = h1.containers.run("a", network="in1")
    h1.containers.run("b", network="in1")
    h1.containers.run("o", network="other")
    assert reach(sim, "a", "b")[0] and reach(sim, "b", "a")[0]
    assert not [r for r in a.ns.routes if r.plen == 0], "no default route on internal networks"
    assert reach(sim, "a", "X") == (False, "NO_ROUTE")
    assert reach(sim, "H1", addr(sim, "a", "in1"))[0], "the bridge keeps its gateway address"
    assert reach(sim, "o", addr(sim, "a", "in1")) == (False, "INTERNAL_NETWORK")


def test_b17_network_with_endpoints_cannot_be_removed() -> None:
    sim = lab()
    h1 = sim.host("H1")
    n = h1.networks.create("n")
    h1.containers.run("a", network="n")
    with pytest.raises(DockerError, match="has active endpoints"):
        n.remove()
    n.disconnect("a")
    n.remove()
    assert "n" not in h1.networks
    assert not any("br-" + n.id[:12] in r.text for r in h1.ns.nf.tables["filter"]["DOCKER-FORWARD"].rules)


# ---- 1.3 published ports and NAT --------------------------------------------------------------

def test_b20_published_port_dnat_keeps_client_address() -> None:
    sim = lab(hosts=2)
    sim.host("H1").containers.run("w", ports=[PortBinding(80, 8080)])
    for client in ("X", "H2"):
        t = sim.trace(client, "192.168.1.11", proto="tcp", port=8080)
        assert t.reachable and t.responder == "w", "answered by the container (DNAT)"
        seen = [s for s in t.steps if s.node == "w" and s.action == "RECEIVED"][0]
        assert seen.text.startswith(str(sim.host(client).address)), "no SNAT for traffic from outside"


def test_b21_host_port_collisions() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("w1", ports=[PortBinding(80, 8080)])
    with pytest.raises(DockerError, match="Bind for 0.0.0.0:8080 failed: port is already allocated"):
        h1.containers.run("w2", ports=[PortBinding(80, 8080)])
    h1.containers.run("w3", ports=[PortBinding(80, 8080, "udp")])  # another protocol: no collision
    h1.containers.run("w4", ports=[PortBinding(80, 9000, host_ip=IPv4Address("127.0.0.1"))])
    h1.containers.run("w5", ports=[PortBinding(80, 9000, host_ip=IPv4Address("192.168.1.11"))])


def test_b22_loopback_published_port_is_dropped_from_the_lan() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("w", ports=[PortBinding(90, 9090, host_ip=IPv4Address("127.0.0.1"))])
    raw = [r.text for r in h1.ns.nf.tables["raw"]["PREROUTING"].rules]
    assert "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 9090 -j DROP" in raw
    t = sim.trace("X", "192.168.1.11", proto="tcp", port=9090)
    assert t.responder == "H1" and t.disposition == "REFUSED", "not DNATed for a host address"


def test_b23_random_host_ports_start_at_49153() -> None:
    sim = lab()
    h1 = sim.host("H1")
    a = h1.containers.run("a", ports=[PortBinding(80, 0)])
    b = h1.containers.run("b", ports=[PortBinding(80, 0)])
    assert [a.ports[0].host_port, b.ports[0].host_port] == [49153, 49154]


@pytest.mark.parametrize("masquerade", [True, False])
def test_b24_outbound_nat(masquerade: bool) -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.networks.create("n", options={"com.docker.network.bridge.enable_ip_masquerade": str(masquerade).lower()})
    h1.containers.run("c", network="n")
    t = sim.trace("c", "X")
    if masquerade:
        assert t.reachable
        at_x = [s for s in t.steps if s.node == "X" and s.action == "RECEIVED"][0]
        assert at_x.text.startswith("192.168.1.11 > 192.168.1.50"), "X sees the host's address"
        assert "ttl=63" in at_x.text, "one routed hop at H1"
    else:
        assert not t.reachable, "X has no route back to 172.18.0.0/16"


# ---- 1.4-1.6 host, none, container:, overlaps -------------------------------------------------

def test_b28_host_mode_shares_the_host_stack() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("plain")
    hm = h1.containers.run("hm", network_mode="host", ports=[PortBinding(80, 80)])
    assert hm.ns is h1.ns and not hm.endpoints
    assert any("Published ports are discarded" in w for w in h1.engine.warnings)  # type: ignore[union-attr]
    assert reach(sim, "X", "192.168.1.11")[0]
    assert reach(sim, "hm", "172.17.0.2")[0], "sees docker0 and reaches bridge containers"


def test_b29_host_mode_port_conflicts() -> None:
    sim = lab()
    h1 = sim.host("H1")
    h1.containers.run("a", network_mode="host", ports=[PortBinding(80, 80)])
    with pytest.raises(DockerError, match="address already in use"):
        h1.containers.run("b", ports=[PortBinding(80, 80)])
    h1.containers.run("c", ports=[PortBinding(81, 81)])
    h1.containers.run("d", network_mode="host", ports=[PortBinding(81, 81)])
    assert any("d: bind 0.0.0.0:81/tcp: address already in use" in w
               for w in h1.engine.warnings)  # type: ignore[union-attr]


def test_b30_none_mode_has_only_loopback() -> None:
    sim = lab()
    h1 = sim.host("H1")
    none = h1.containers.run("iso", network_mode="none")
    h1.containers.run("a")
    assert list(none.ns.devices) == ["lo"]
    assert reach(sim, "iso", "H1") == (False, "NO_ROUTE")
    table = sim.reachability()
    assert not table[table.src == "iso"].reachable.any()
    assert (table.dst == "iso").sum() == 0, "no address besides loopback"


def test_b31_container_mode_shares_namespace() -> None:
    sim = lab()
    h1 = sim.host("H1")
    web = h1.containers.run("web")
    side = h1.containers.run("side", network_mode="container:web")
    assert side.ns is web.ns
    table = sim.reachability()
    rows = table[(table.src == "H1") & (table.dst == "side")]
    assert list(rows.addr) == ["172.17.0.2"] and rows.reachable.all()


def test_b32_same_subnet_on_two_hosts_stays_local() -> None:
    sim = lab(hosts=2)
    sim.host("H1").containers.run("a1")
    sim.host("H2").containers.run("a2")
    assert addr(sim, "a1", "bridge") == addr(sim, "a2", "bridge") == "172.17.0.2"
    table = sim.reachability()
    row = table[(table.src == "a1") & (table.dst == "a2")].iloc[0]
    assert not row.reachable and row.disposition == "OTHER_RESPONDER"
    for src, host_addr in (("a1", "192.168.1.11"), ("a2", "192.168.1.12")):
        t = sim.trace(src, "X")
        assert t.reachable
        assert [s for s in t.steps if s.node == "X" and s.action == "RECEIVED"][0].text.startswith(host_addr)


def test_b7_daemon_icc_off_only_linked_exposed_ports_pass() -> None:
    sim = netsim.Simulation("icc", seed=1, underlay=LAN)
    h1 = sim.add_host("H1", icc=False)
    sim.add_host("X", "192.168.1.50", docker=False)
    h1.containers.run("db", expose=[5432])
    h1.containers.run("web", links={"db": "db"})
    h1.containers.run("other")
    db = addr(sim, "db", "bridge")
    assert reach(sim, "web", db) == (False, "ICC_DISABLED"), "ICMP between containers is dropped"
    assert reach(sim, "other", db) == (False, "ICC_DISABLED")
    assert sim.trace("web", db, proto="tcp", port=5432).reachable, "the linked, exposed port passes"
    assert not sim.trace("web", db, proto="tcp", port=5433).reachable, "other ports of db do not"
    assert not sim.trace("other", db, proto="tcp", port=5432).reachable, "only the linking container"
    assert reach(sim, "web", "172.17.0.1")[0], "the host is reachable"
    assert reach(sim, "web", "X")[0], "so is the LAN, through NAT"


def test_b2_removed_container_frees_its_address_and_ports() -> None:
    sim = lab()
    h1 = sim.host("H1")
    a = h1.containers.run("a", ports=[PortBinding(80, 8080)])
    h1.containers.run("b", links={"a": "alpha"})
    a.remove(force=True)
    assert not any(ns.name == "a" for ns in sim.world.namespaces.values())
    h1.containers.run("c", ports=[PortBinding(80, 8080)])  # the host port is free again
    assert addr(sim, "c", "bridge") == "172.17.0.2", "first-fit hands out the freed address"
    assert reach(sim, "b", "alpha") == (False, "NO_DNS_ON_DEFAULT_BRIDGE"), "the link is dead"
    assert sim.trace("X", "192.168.1.11", proto="tcp", port=8080).responder == "c"
    assert "a" not in h1.containers
