"""Swarm services: scheduling, tasks, VIPs and names, rescheduling (B50, B55, B57d, B58, B59).

The scheduler tests compute swarmkit's spread by hand (manager/scheduler: nodeLess and
scheduleNTasksOnNodes); the timing tests hold the replacement of a failed node's task to the
dispatcher's own deadline plus the restart delay, so they fail if either moves.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from typing import Any

import pytest

from netsim.errors import DockerError, TopologyError
from netsim.simulation import Simulation, build
from netsim.swarm.orchestrator import RESTART_DELAY, PortConfig
from netsim.swarm.scheduler import NodeInfo, Placement, parse_constraints, schedule
from netsim.topology import parse_spec

THREE = {"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}, "node3": {"swarm": "worker"}}


def _sim(services: dict[str, Any], events: tuple[dict[str, Any], ...] = (), hosts: dict[str, Any] = THREE,
         networks: dict[str, Any] | None = None, containers: dict[str, Any] | None = None) -> Simulation:
    doc: dict[str, Any] = {"hosts": hosts, "networks": networks or {"o1": {"driver": "overlay", "attachable": True}},
                           "services": services, "events": list(events)}
    if containers is not None:
        doc["containers"] = containers
    return build(parse_spec(doc))


def _tasks(sim: Simulation, service: str) -> list[tuple[str, str, str, str]]:
    """(name, node, desired, current) of the service's tasks, as docker service ps lists them."""
    frame = sim.swarm.tasks(service)
    return list(zip(frame.name, frame.node, frame.desired_state, frame.current_state))


def _nodes(n: int) -> list[NodeInfo]:
    return [NodeInfo(f"id{i}", f"n{i}", "worker", IPv4Address(f"10.9.0.{i}")) for i in range(1, n + 1)]


# ---- the scheduler ----------------------------------------------------------------------------

def test_the_spread_fills_the_least_loaded_node_first_then_goes_round() -> None:
    nodes = _nodes(3)
    nodes[0].add_task("other", ())  # n1 runs a task of another service: ties on this service go to n2, n3 first
    chosen, why = schedule(Placement("web"), 5, nodes)
    assert [n.hostname for n in chosen] == ["n2", "n3", "n1", "n2", "n3"] and why == ""
    assert {n.hostname: n.by_service["web"] for n in nodes} == {"n1": 1, "n2": 2, "n3": 2}


def test_a_node_that_already_runs_the_service_gets_the_next_task_last() -> None:
    nodes = _nodes(3)
    nodes[1].add_task("web", ())
    chosen, _ = schedule(Placement("web"), 2, nodes)
    assert [n.hostname for n in chosen] == ["n1", "n3"]


def test_constraints_and_max_replicas_leave_tasks_pending_with_swarmkits_reason() -> None:
    nodes = _nodes(3)
    nodes[2].labels["zone"] = "b"
    chosen, why = schedule(Placement("web", parse_constraints(["node.labels.zone==b"]), max_replicas=1), 3, nodes)
    assert [n.hostname for n in chosen] == ["n3"]
    assert why == "no suitable node (max replicas per node limit exceed)"
    chosen, why = schedule(Placement("api", parse_constraints(["node.labels.zone==c"])), 1, _nodes(2))
    assert chosen == [] and why == "no suitable node (scheduling constraints not satisfied on 2 nodes)"


def test_a_drained_or_down_node_takes_no_task() -> None:
    nodes = _nodes(3)
    nodes[0].availability, nodes[1].ready = "drain", False
    chosen, why = schedule(Placement("web"), 2, nodes)
    assert [n.hostname for n in chosen] == ["n3", "n3"] and why == ""


def test_a_host_mode_port_allows_one_task_per_node() -> None:
    chosen, why = schedule(Placement("dns", host_ports=(("udp", 53),)), 3, _nodes(2))
    assert [n.hostname for n in chosen] == ["n1", "n2"]
    assert why == "no suitable node (host-mode port already in use on 2 nodes)"


@pytest.mark.parametrize("text, message", [
    ("node.role=worker", "constraint expected one operator from ==, !="),
    ("node.colour==red", "constraint key 'node.colour' is not one of"),
    ("node.role==wor>ker", "value 'wor>ker' is invalid"),
])
def test_constraints_swarmkit_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_constraints([text])


def test_constraint_keys_match_what_the_node_says() -> None:
    node = NodeInfo("abc", "h2", "manager", IPv4Address("192.168.1.12"), labels={"zone": "A"})
    assert node.meets(parse_constraints(["node.role==manager", "node.hostname!=h1", "node.labels.zone==a",
                                         "node.ip==192.168.1.0/24", "node.platform.os==linux"]))
    assert not node.meets(parse_constraints(["node.labels.rack==1"]))  # a missing label is ""
    assert node.meets(parse_constraints(["node.labels.rack!=1"]))


# ---- tasks, names, VIPs -------------------------------------------------------------------------

def test_tasks_are_named_like_docker_and_spread_over_the_nodes() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 3}}})
    tasks = sim.swarm.tasks("web")
    assert list(tasks.name) == ["web.1", "web.2", "web.3"]
    assert sorted(tasks.node) == ["node1", "node2", "node3"]
    assert all(re.fullmatch(r"web\.\d\.[0-9a-z]{25}", c) for c in tasks.container)
    names = {c.name for c in sim.containers()}
    assert set(tasks.container) <= names
    assert list(sim.swarm.services().replicas) == ["3/3"]


def test_b59_the_name_answers_the_vip_and_tasks_name_the_task_addresses() -> None:
    sim = _sim({"web": {"networks": {"o1": {"aliases": ["www"]}}, "deploy": {"replicas": 3}},
                "api": {"networks": ["o1"], "deploy": {"replicas": 2, "endpoint_mode": "dnsrr"}}},
               containers={"client": {"host": "node1", "networks": ["o1"]}})
    vip = sim.swarm.orchestrator.get("web").vips["o1"]
    web_ips = {str(a) for t in sim.swarm.orchestrator.get("web").tasks for a in t.addresses.values()}
    api_ips = {str(a) for t in sim.swarm.orchestrator.get("api").tasks for a in t.addresses.values()}
    answer = lambda name: sorted(sim.resolve("client", name).address)  # noqa: E731
    assert answer("web") == answer("www") == answer("web.o1") == [str(vip)]
    assert set(answer("tasks.web")) == web_ips and len(web_ips) == 3
    assert set(answer("api")) == set(answer("tasks.api")) == api_ips and len(api_ips) == 2
    assert str(vip) not in web_ips  # the VIP is the service's, no task has it
    assert sim.swarm.orchestrator.get("api").vips == {}


def test_b50_vips_tasks_and_one_lb_address_per_node_come_out_of_the_subnet() -> None:
    # A /28: 13 usable addresses (16 less network, broadcast, gateway). A VIP, 3 tasks and an LB
    # address on each of 3 nodes take 7; a second 3-replica service takes 4 more (VIP and
    # tasks, the LBs exist); a third finds 2 left: its VIP and one task, and its next task waits.
    sim = _sim({"a": {"networks": ["o1"], "deploy": {"replicas": 3}},
                "b": {"networks": ["o1"], "deploy": {"replicas": 3}},
                "c": {"networks": ["o1"], "deploy": {"replicas": 2}}},
               networks={"o1": {"driver": "overlay", "subnet": "10.7.0.0/28"}})
    states = {name: sorted(state for *_, state in _tasks(sim, name)) for name in "abc"}
    assert states["a"] == states["b"] == ["running"] * 3
    assert states["c"] == ["new", "running"]
    stuck = sim.swarm.tasks("c")
    assert "no available IPv4 addresses" in stuck[stuck.current_state == "new"].iloc[0].error
    log = sim.daemon_log()
    assert log.msg.str.contains("Failed allocation for task").any()


def test_k7_the_vip_that_does_not_fit_is_logged_on_the_leader() -> None:
    sim = _sim({"a": {"networks": ["o1"], "deploy": {"replicas": 11}},
                "b": {"networks": ["o1"]}},
               networks={"o1": {"driver": "overlay", "subnet": "10.7.0.0/28"}})
    log = sim.daemon_log()
    line = log[log.msg.str.contains("could not find an available IP while allocating VIP")]
    assert list(line.host) == ["node1"]  # the leader, only
    assert sim.swarm.orchestrator.get("b").vips == {}


# ---- failures, drains, scaling ------------------------------------------------------------------

def test_b55_a_failed_nodes_task_starts_elsewhere_at_the_down_deadline_plus_the_restart_delay() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 3}}}, events=({"at": "2s", "node_fail": "node3"},))
    service = sim.swarm.orchestrator.get("web")
    old = next(t for t in service.tasks if t.node == "node3")
    vip = service.vips["o1"]
    sim.run(2.0)
    deadline = sim.swarm.members["node1"].dispatcher.expiry["node3"]
    assert 2.0 + 13.5 - 5.5 <= deadline <= 2.0 + 16.5  # the last heartbeat before the failure, plus 3 periods
    sim.run(deadline + RESTART_DELAY - 0.01)
    new = next(t for t in service.tasks if t.slot == old.slot and t is not old)
    assert new.state == "assigned" and new.node != "node3"
    sim.run(deadline + RESTART_DELAY)
    assert new.state == "running" and new.since == pytest.approx(deadline + RESTART_DELAY)
    assert new.addresses["o1"] != old.addresses["o1"] and service.vips["o1"] == vip
    assert (old.desired, old.state) == ("shutdown", "running")  # the frozen node still runs it
    assert sim.swarm.nodes().set_index("hostname").status["node3"] == "Down"


def test_a_returning_node_removes_the_task_it_should_no_longer_run_and_frees_its_addresses() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 3}}},
               events=({"at": "2s", "node_fail": "node3"}, {"at": "40s", "node_recover": "node3"}))
    old = next(t for t in sim.swarm.orchestrator.get("web").tasks if t.node == "node3")
    sim.run(39)
    assert old.container in {c.name for c in sim.host("node3").containers}
    assert old.addresses  # moby#31694: held while the node is away
    sim.run(50)
    assert old.container is None and old.state == "shutdown" and not old.addresses
    assert not any(c.name.startswith(f"{old.name}.{old.id}") for c in sim.host("node3").containers)


def test_b57d_a_drain_moves_tasks_at_once_and_leaves_standalone_containers() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 3}}},
               events=({"at": "3s", "drain": "node2"}, {"at": "4s", "activate": "node2"}),
               containers={"solo": {"host": "node2", "networks": ["o1"]}})
    sim.run(3.0)
    running = [(node, name) for name, node, desired, state in _tasks(sim, "web") if state == "running"]
    assert "node2" not in {node for node, _ in running} and len(running) == 3
    assert "solo" in {c.name for c in sim.host("node2").containers}
    assert sim.swarm.nodes().set_index("hostname").availability["node2"] == "Drain"
    sim.run(5.0)
    assert sim.swarm.nodes().set_index("hostname").availability["node2"] == "Active"
    running_after = [(node, name) for name, node, desired, state in _tasks(sim, "web") if state == "running"]
    assert running_after == running  # an activated node takes new tasks; running ones do not move back


def test_scale_up_fills_the_lowest_free_slots_and_scale_down_keeps_the_balance() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 2}}},
               events=({"at": "1s", "scale": {"service": "web", "replicas": 6}},
                       {"at": "2s", "scale": {"service": "web", "replicas": 3}}))
    sim.run(1.0)
    live = sorted((name, node) for name, node, desired, state in _tasks(sim, "web") if desired == "running")
    assert [name for name, _ in live] == [f"web.{i}" for i in range(1, 7)]
    assert sorted(node for _, node in live) == ["node1", "node1", "node2", "node2", "node3", "node3"]
    sim.run(2.0)
    kept = sorted((name, node) for name, node, desired, state in _tasks(sim, "web") if desired == "running")
    assert sorted(node for _, node in kept) == ["node1", "node2", "node3"]  # one per node stays
    assert [name for name, _ in kept] == ["web.1", "web.2", "web.3"]  # the lower slots, each first on its node
    removed = [state for name, node, desired, state in _tasks(sim, "web") if desired == "remove"]
    assert removed == ["shutdown"] * 3


def test_a_global_service_runs_on_every_eligible_node_and_leaves_a_drained_one() -> None:
    hosts = {**THREE, "node3": {"swarm": "worker", "labels": {"disk": "ssd"}}}
    sim = _sim({"agent": {"networks": ["o1"], "deploy": {"mode": "global"}},
                "cache": {"networks": ["o1"], "deploy": {"mode": "global",
                                                         "placement": {"constraints": ["node.labels.disk==ssd"]}}}},
               events=({"at": "1s", "drain": "node1"},), hosts=hosts)
    ids = {n.host: n.id for n in sim.swarm.members.values()}
    assert sorted(node for _, node, _, _ in _tasks(sim, "agent")) == ["node1", "node2", "node3"]
    assert {name for name, *_ in _tasks(sim, "agent")} == {f"agent.{i}" for i in ids.values()}
    assert [node for _, node, _, _ in _tasks(sim, "cache")] == ["node3"]
    sim.run(1.0)
    states = {node: desired for _, node, desired, _ in _tasks(sim, "agent")}
    assert states == {"node1": "shutdown", "node2": "running", "node3": "running"}


def test_a_host_mode_port_is_published_by_the_tasks_node_only() -> None:
    sim = _sim({"dns": {"networks": ["o1"], "ports": [{"target": 53, "published": 5353, "protocol": "udp",
                                                       "mode": "host"}], "deploy": {"replicas": 3}}},
               hosts={"node1": {"swarm": "manager"}, "node2": {"swarm": "worker"}})
    tasks = sim.swarm.tasks("dns")
    assert sorted(tasks[tasks.current_state == "running"].node) == ["node1", "node2"]
    pending = tasks[tasks.current_state == "pending"]
    assert list(pending.error) == ["no suitable node (host-mode port already in use on 2 nodes)"]
    for _, row in tasks[tasks.current_state == "running"].iterrows():
        ctr = sim.container(row.container)
        assert [(p.host_port, p.container_port, p.proto) for p in ctr.ports] == [(5353, 53, "udp")]


def test_a_published_port_is_the_swarms_alone_and_a_missing_one_comes_from_30000() -> None:
    sim = _sim({"web": {"networks": ["o1"], "ports": ["80"]}, "api": {"networks": ["o1"], "ports": ["8080:80"]}})
    assert [p.published for p in sim.swarm.orchestrator.get("web").ports] == [30000]
    with pytest.raises(DockerError, match="port '8080' is already in use by service 'api'"):
        sim.swarm.create_service("other", networks=["o1"], ports=[PortConfig(80, 8080)])
    with pytest.raises(DockerError, match="ingress mode can't be used with dnsrr mode"):
        sim.swarm.create_service("rr", networks=["o1"], ports=[PortConfig(81, 8081)], endpoint_mode="dnsrr")


def test_a_task_container_reaches_and_is_reached_on_its_overlay() -> None:
    sim = _sim({"web": {"networks": ["o1"], "deploy": {"replicas": 2}}},
               containers={"client": {"host": "node1", "networks": ["o1"]}})
    table = sim.reachability()
    tasks = set(sim.swarm.tasks("web").container)
    rows = table[(table.src == "client") & (table.dst.isin(tasks)) & (table.network == "o1")]
    assert len(rows) == 2 and set(rows.disposition) == {"ACCEPTED"}


@pytest.mark.parametrize("service, path, message", [
    ({"replicas": 3}, "services.web.replicas", "write it under deploy:"),
    ({"networks": ["lan"]}, "services.web.networks[0]", "not eligible for docker services"),
    ({"networks": ["ingress"]}, "services.web.networks[0]", "ingress network"),
    ({"deploy": {"mode": "global", "replicas": 2}}, "services.web.deploy.replicas", "replicated mode"),
    ({"deploy": {"placement": {"constraints": ["zone=a"]}}}, "services.web.deploy.placement.constraints[0]",
     "operator"),
    ({"ports": ["8080:80"], "deploy": {"endpoint_mode": "dnsrr"}}, "services.web.ports[0]", "dnsrr"),
])
def test_bad_services_name_the_key(service: dict[str, Any], path: str, message: str) -> None:
    doc = {"hosts": {"node1": {"swarm": "manager"}},
           "networks": {"lan": {"driver": "bridge"}, "o1": {"driver": "overlay"}}, "services": {"web": service}}
    with pytest.raises(TopologyError) as info:
        parse_spec(doc)
    assert info.value.key_path == path and message in str(info.value)


def test_services_need_a_swarm() -> None:
    with pytest.raises(TopologyError) as info:
        parse_spec({"hosts": {"node1": {}}, "services": {"web": {}}})
    assert info.value.key_path == "services.web" and "no host is in one" in str(info.value)


# ---- the VIP: load-balancer sandboxes and IPVS ---------------------------------------------------

def _client_and_web(replicas: int = 3, **deploy: Any) -> Simulation:
    return _sim({"web": {"networks": ["o1"], "expose": [80], "deploy": {"replicas": replicas, **deploy}}},
                containers={"client": {"host": "node1", "networks": ["o1"]}})


def test_b50_a_node_gets_its_load_balancer_address_after_its_first_endpoints_own() -> None:
    sim = _sim({}, containers={"a": {"host": "node1", "networks": ["o1"]}, "b": {"host": "node2", "networks": ["o1"]}})
    lbs = {ns.host: ns for ns in sim.world.namespaces.values() if ns.name == "lb-o1"}
    assert sorted(lbs) == ["node1", "node2"]  # node3 has nothing on o1, so no sandbox
    address = {h: str(IPv4Address(lbs[h].primary_address(lbs[h].devices["eth0"]) or 0)) for h in lbs}
    a, b = (str(sim.container(n).endpoints["o1"].address) for n in "ab")
    assert (a, address["node1"], b, address["node2"]) == ("10.0.1.2", "10.0.1.3", "10.0.1.4", "10.0.1.5")


def test_b59_connections_to_the_vip_go_round_robin_over_the_tasks_and_see_the_lb_address() -> None:
    sim = _client_and_web()
    table = sim.connect("client", "web", 80, count=7)
    assert table.connected.all()
    tasks = sorted(sim.swarm.tasks("web").container)
    first = list(table.answered_by[:3])
    assert sorted(first) == tasks  # each task once in three connections
    assert list(table.answered_by) == first * 2 + first[:1]  # and again in the same order
    lb = next(ns for ns in sim.world.namespaces.values() if ns.name == "lb-o1" and ns.host == "node1")
    assert set(table.source_seen) == {str(IPv4Address(lb.primary_address(lb.devices["eth0"]) or 0))}  # SNAT
    assert set(table.addr) == {str(sim.swarm.orchestrator.get("web").vips["o1"])}


def test_rr_tries_the_newest_real_server_first_as_the_kernels_list_has_it() -> None:
    sim = _client_and_web()
    ipvs = next(ns.ipvs for ns in sim.world.namespaces.values() if ns.name == "lb-o1" and ns.host == "node1")
    assert ipvs is not None
    (service,) = ipvs.services.values()
    newest = service.destinations[0].address
    owner = next(t.container for t in sim.swarm.orchestrator.get("web").tasks
                 if int(t.addresses["o1"]) == newest)
    assert sim.connect("client", "web", 80).answered_by[0] == owner


def test_tasks_name_bypasses_the_vip_and_a_closed_port_is_refused_through_it() -> None:
    sim = _client_and_web()
    direct = sim.connect("client", "tasks.web", 80)
    assert direct.connected[0] and direct.source_seen[0] == str(sim.container("client").endpoints["o1"].address)
    closed = sim.connect("client", "web", 81)
    assert not closed.connected[0] and closed.disposition[0] == "REFUSED"


def test_a_dnsrr_service_has_no_virtual_service_and_its_name_is_its_tasks() -> None:
    sim = _client_and_web(endpoint_mode="dnsrr")
    ipvs = next(ns.ipvs for ns in sim.world.namespaces.values() if ns.name == "lb-o1" and ns.host == "node1")
    assert ipvs is not None and ipvs.services == {}
    answered = sim.connect("client", "web", 80)
    assert answered.connected[0] and answered.addr[0] in {str(a) for t in sim.swarm.orchestrator.get("web").tasks
                                                           for a in t.addresses.values()}


def test_b57_a_dead_nodes_task_leaves_the_vip_once_gossip_declares_it_dead() -> None:
    sim = _client_and_web()
    sim.schedule(parse_spec({"hosts": THREE, "events": [{"at": "1s", "node_fail": "node3"}]}).events[0])
    sim.run(1.5)  # failed, not yet declared dead: one connection in three is black-holed
    early = sim.connect("client", "web", 80, count=3)
    assert list(early.connected).count(False) == 1
    assert early[~early.connected].disposition.iloc[0] in ("NEIGH_FAILED", "NO_REPLY")  # the frozen node's side
    dead = next(t.container for t in sim.swarm.orchestrator.get("web").tasks if t.node == "node3")
    assert dead not in set(early.answered_by)
    sim.run(12.0)  # memberlist declared node3 dead (B56): NetworkDB withdrew its task (B57a)
    later = sim.connect("client", "web", 80, count=4)
    assert later.connected.all() and dead not in set(later.answered_by)
    assert len(set(later.answered_by)) == 2  # the two live tasks, in turn


def test_netsim_connect_prints_who_answered_and_exits_1_when_one_failed(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from netsim.cli import main

    import yaml
    path = tmp_path / "vip.yaml"
    path.write_text(yaml.safe_dump({"hosts": THREE, "networks": {"o1": {"driver": "overlay", "attachable": True}},
                                    "containers": {"client": {"host": "node1", "networks": ["o1"]}},
                                    "services": {"web": {"networks": ["o1"], "expose": [80],
                                                         "deploy": {"replicas": 2}}}}))
    ok = CliRunner().invoke(main, ["connect", str(path), "client", "web:80", "--count", "2"])
    assert ok.exit_code == 0 and ok.output.count("connected, answered by web.") == 2
    refused = CliRunner().invoke(main, ["connect", str(path), "client", "web:81"])
    assert refused.exit_code == 1 and "REFUSED" in refused.output
    bad = CliRunner().invoke(main, ["connect", str(path), "client", "web"])
    assert bad.exit_code == 2 and "ADDR:PORT" in bad.output
