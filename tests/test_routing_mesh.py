"""The ingress routing mesh (B51, B52, B58, T11): every node answers a published port.

The tests hold the mechanism to libnetwork's service_linux.go: the host's DOCKER-INGRESS DNAT
to the ingress sandbox on docker_gwbridge, IPVS there, the SNAT to the receiving node's ingress
address, the ingress overlay, the task's REDIRECT; and the lifetimes: the sandbox from the join,
the rules from a service's first task to its last.
"""

from __future__ import annotations

from typing import Any

import pytest

from netsim.simulation import Simulation, build
from netsim.topology import parse_spec

HOSTS = {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}, "node3": {"swarm": "worker"},
         "lan": {"docker": False}}
WEB = {"image": "nginx", "ports": ["8080:80"],
       "deploy": {"replicas": 2, "placement": {"constraints": ["node.hostname!=node3"]}}}


def _sim(services: dict[str, Any] | None = None, engine: str | None = None, **more: Any) -> Simulation:
    doc: dict[str, Any] = {"hosts": HOSTS, "services": {"web": WEB} if services is None else services, **more}
    if engine is not None:
        doc["engine"] = engine
    return build(parse_spec(doc))


def _address(sim: Simulation, host: str) -> str:
    return str(sim.host(host).address)


def _ingress_address(sim: Simulation, host: str) -> str:
    sandbox = sim.host(host).engine.load_balancers.ingress
    assert sandbox is not None
    return str(sandbox.address)


def _tasks(sim: Simulation) -> dict[str, str]:
    """task container -> node"""
    frame = sim.swarm.tasks("web")
    return dict(zip(frame.container, frame.node))


def test_b58_every_node_answers_the_published_port_and_ipvs_takes_turns_over_the_tasks() -> None:
    sim = _sim()
    tasks = _tasks(sim)
    assert sorted(tasks.values()) == ["node1", "node2"], "no task on node3"
    for host in ("node1", "node2", "node3"):
        frame = sim.connect("lan", _address(sim, host), 8080, count=4)
        assert frame.connected.all(), f"{host} answers 8080"
        answered = list(frame.answered_by)
        assert set(answered) == set(tasks) and answered[0::2] == [answered[0]] * 2 and answered[1] != answered[0], \
            f"{host}'s ingress sandbox alternates between the two tasks: {answered}"


def test_t11_the_task_sees_the_receiving_nodes_ingress_address_not_the_client() -> None:
    sim = _sim()
    for host in ("node1", "node3"):
        seen = set(sim.connect("lan", _address(sim, host), 8080, count=2).source_seen)
        assert seen == {_ingress_address(sim, host)}, f"via {host}"
    assert _ingress_address(sim, "node1") != _ingress_address(sim, "node3")


def test_b51_b52_every_node_has_the_ingress_sandbox_from_its_join() -> None:
    sim = _sim(services={})
    # swarm init allocates ingress (10.0.0.0/24) before the node; each join takes the next address
    assert [_ingress_address(sim, h) for h in ("node1", "node2", "node3")] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    for host in ("node1", "node2", "node3"):
        engine = sim.host(host).engine
        sandbox = engine.load_balancers.ingress
        assert sandbox is not None and sandbox.gateway is not None
        assert sandbox.gateway.container == "gateway_ingress-sbox" and str(sandbox.gateway.address) == "172.18.0.2"
        assert "docker_gwbridge" in engine.networks and "ingress" in engine.networks
        assert "DOCKER-INGRESS" not in engine.nf.tables["nat"], "no service with ingress ports yet"
    assert sim.host("lan").engine is None


def test_the_host_dnats_first_to_the_ingress_sandbox_and_the_task_redirects_to_its_target() -> None:
    sim = _sim()
    nf = sim.host("node3").engine.nf
    assert nf.tables["nat"]["PREROUTING"].rules[0].text == "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER-INGRESS"
    assert nf.tables["nat"]["OUTPUT"].rules[0].text == "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER-INGRESS"
    assert nf.tables["filter"]["DOCKER-FORWARD"].rules[0].text == "-A DOCKER-FORWARD -j DOCKER-INGRESS"
    assert [r.text for r in nf.tables["nat"]["DOCKER-INGRESS"].rules] == [
        "-A DOCKER-INGRESS -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.18.0.2:8080",
        "-A DOCKER-INGRESS -j RETURN"]
    assert ("tcp", 0, 8080) in sim.host("node3").ns.listening, "dockerd holds the port on every node"
    task = next(iter(_tasks(sim)))
    ctr = sim.container(task)
    address = ctr.endpoints["ingress"].address
    assert (f"-A PREROUTING -d {address}/32 -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 80"
            in [r.text for r in ctr.ns.nf.tables["nat"]["PREROUTING"].rules])
    assert ("tcp", 0, 8080) not in ctr.ns.listening, "the task listens on 80 only: the REDIRECT is what connects"


def test_engines_before_28_jump_to_docker_ingress_from_forward() -> None:
    nf = _sim(engine="27").host("node2").engine.nf
    assert nf.tables["filter"]["FORWARD"].rules[0].text == "-A FORWARD -j DOCKER-INGRESS"


def test_the_trace_shows_the_whole_mesh_path() -> None:
    sim = _sim()
    result = sim.trace("lan", _address(sim, "node3"), proto="tcp", port=8080)
    assert result.disposition == "ACCEPTED"
    text = " ".join(str(result).split())
    order = ["node3 eth0 NAT DNAT by nat: -A DOCKER-INGRESS", "ingress-sbox eth1 IPVS fwmark 256 rr: new connection to real server",
             "ingress-sbox eth0 NAT src 192.168.100.14 -> 10.0.0.4", "ENCAPSULATED", "vni 4096",
             "REDIRECT by nat", "dst 10.0.0.", ":8080 -> 10.0.0.", ":80"]
    at = 0
    for piece in order:
        found = text.find(piece, at)
        assert found >= 0, f"{piece!r} after position {at} in\n{text}"
        at = found


def test_the_host_reaches_its_own_published_port_on_loopback_and_its_address() -> None:
    sim = _sim()
    for addr in ("127.0.0.1", _address(sim, "node3")):
        frame = sim.connect("node3", addr, 8080, count=2)
        assert frame.connected.all(), addr


def test_a_udp_port_on_the_mesh() -> None:
    sim = _sim(services={"dns": {"image": "coredns", "ports": [{"target": 53, "published": 5353, "protocol": "udp"}],
                                 "deploy": {"replicas": 1, "placement": {"constraints": ["node.hostname==node1"]}}}})
    frame = sim.connect("lan", _address(sim, "node2"), 5353, proto="udp", count=2)
    assert frame.connected.all() and frame.source_seen.tolist() == [_ingress_address(sim, "node2")] * 2


def test_the_rules_go_with_the_last_task_and_the_port_then_refuses() -> None:
    sim = _sim()
    sim.swarm.scale("web", 0)
    engine = sim.host("node3").engine
    assert engine.nf.tables["nat"]["DOCKER-INGRESS"].rules[0].target.kind == "DNAT", "node3 has not heard yet"
    sim.run(2.0)  # NetworkDB tells node3 the tasks left
    assert [r.text for r in engine.nf.tables["nat"]["DOCKER-INGRESS"].rules] == ["-A DOCKER-INGRESS -j RETURN"]
    assert ("tcp", 0, 8080) not in sim.host("node3").ns.listening
    frame = sim.connect("lan", _address(sim, "node3"), 8080)
    assert not frame.connected.any() and frame.disposition.iloc[0] == "REFUSED"
    sim.swarm.scale("web", 1)
    sim.run(4.0)
    assert sim.connect("lan", _address(sim, "node3"), 8080).connected.all(), "and come back with a task"


def test_a_node_that_leaves_takes_its_ingress_sandbox_and_mesh_rules_with_it() -> None:
    sim = _sim()
    sim.swarm.leave("node3")
    engine = sim.host("node3").engine
    assert engine.load_balancers.ingress is None and "ingress" not in engine.networks
    assert [r.text for r in engine.nf.tables["nat"]["DOCKER-INGRESS"].rules] == ["-A DOCKER-INGRESS -j RETURN"]
    assert not any(ns.name == "ingress-sbox" and ns.host == "node3" for ns in sim.world.namespaces.values())
    assert not sim.connect("lan", _address(sim, "node3"), 8080).connected.any()
    assert sim.connect("lan", _address(sim, "node1"), 8080).connected.all()


def test_the_ingress_network_registers_no_names() -> None:
    sim = _sim()
    for host in ("node1", "node2"):
        names = sim.host(host).engine.networks.get("ingress").names
        assert names.lookup("web") == [] and names.lookup("tasks.web") == []


@pytest.mark.parametrize("mode", ["host", "ingress"])
def test_host_mode_bypasses_the_mesh(mode: str) -> None:
    sim = _sim(services={"web": {**WEB, "ports": [{"target": 80, "published": 8080, "mode": mode}]}})
    reached = {h: sim.connect("lan", _address(sim, h), 8080).connected.all() for h in ("node1", "node2", "node3")}
    assert reached == {"node1": True, "node2": True, "node3": mode == "ingress"}
    seen = sim.connect("lan", _address(sim, "node1"), 8080).source_seen.iloc[0]
    assert (seen == _address(sim, "lan")) == (mode == "host"), "T11's workaround: host mode keeps the client address"
