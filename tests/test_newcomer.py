"""A newcomer's first day, from the user's side: the Python API, the CLI and the docs as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import netsim
from netsim.cli import main
from netsim.engine.ports import PortBinding
from netsim.errors import DockerError

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "topologies" / "basic.yaml"


def netsim_cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="netsim")


def lab() -> tuple[netsim.Simulation, netsim.Host]:
    sim = netsim.Simulation("api", seed=1)
    node = sim.add_host("node1")
    sim.add_host("ext", docker=False)
    return sim, node


@pytest.mark.parametrize("ports", [
    ["8080:80"],
    {"80/tcp": 8080},
    {"80": 8080},
    {80: [8080]},
    {"80/tcp": ("0.0.0.0", 8080)},
    [PortBinding(80, 8080)],
], ids=["compose-string", "docker-py", "docker-py-no-proto", "docker-py-list", "docker-py-tuple", "record"])
def test_run_publishes_ports_in_docker_pys_and_composes_forms(ports: object) -> None:
    sim, node = lab()
    web = node.containers.run("web", ports=ports)
    assert [str(p) for p in web.ports] == ["0.0.0.0:8080:80/tcp"]
    result = sim.trace("ext", str(sim.host("node1").address), proto="tcp", port=8080)
    assert (result.reachable, result.responder) == (True, "web")


def test_run_takes_udp_loopback_and_random_ports() -> None:
    sim, node = lab()
    web = node.containers.run("web", ports={"53/udp": ("127.0.0.1", 5353), "80/tcp": None})
    by_proto = {p.proto: p for p in web.ports}
    assert (by_proto["udp"].host_ip, by_proto["udp"].host_port) == (IPv4Address("127.0.0.1"), 5353)
    assert by_proto["tcp"].host_port >= 49153  # None: a random port, as docker-py means it


@pytest.mark.parametrize(("ports", "message"), [
    ("8080:80", "ports must be a list or a mapping"),
    (["8080:８０"], "invalid port number"),
    ({"80/icmp": 8080}, "unknown protocol 'icmp'"),
    ({"80/tcp": 3.5}, "invalid host port"),
])
def test_bad_ports_are_refused_before_anything_is_made(ports: object, message: str) -> None:
    sim, node = lab()
    with pytest.raises(DockerError, match=message):
        node.containers.run("web", ports=ports)
    assert not any(ns.name == "web" for ns in sim.world.namespaces.values()) and "web" not in node.containers
    assert not node.networks.get("bridge").endpoints


def test_a_start_that_fails_half_way_leaves_nothing_behind() -> None:
    # The second container asks for a host port the first holds: dockerd removes what it made.
    sim, node = lab()
    node.containers.run("one", ports=["8080:80"])
    with pytest.raises(DockerError):
        node.containers.run("two", ports=["8080:80"])
    assert "two" not in node.containers and not any(ns.name == "two" for ns in sim.world.namespaces.values())
    assert list(node.networks.get("bridge").endpoints) == ["one"]
    node.containers.run("two", ports=["8081:80"])  # the name and the address are free again
    assert str(sim.container("two").endpoints["bridge"].address) == "172.17.0.3"


def test_network_mode_names_the_network_it_was_started_on() -> None:
    # docker inspect: HostConfig.NetworkMode is the --network given, "bridge" by default.
    _, node = lab()
    node.networks.create("front")
    assert node.containers.run("a", network="front").attrs["HostConfig"] == {"NetworkMode": "front"}
    assert node.containers.run("b").attrs["HostConfig"] == {"NetworkMode": "bridge"}
    assert node.containers.run("c", network_mode="none").attrs["HostConfig"] == {"NetworkMode": "none"}


def test_a_container_without_networks_is_told_so_not_blamed_on_the_default_bridge() -> None:
    sim, node = lab()
    node.networks.create("front")
    node.containers.run("a", network="front")
    loner = node.containers.run("loner", network="front")
    node.networks.get("front").disconnect(loner)
    node.containers.run("isolated", network_mode="none")
    table = sim.reachability_by_name()
    for src in ("loner", "isolated"):
        rows = table[(table.src == src) & (table.name == "a")]
        assert list(rows.disposition) == ["NO_NETWORK"], src
    assert sim.trace("loner", "a").disposition == "NO_NETWORK"


# ---- goldens that survive harmless edits ---------------------------------------------------------------

def test_golden_workflow_write_expect_update(tmp_path: Path) -> None:
    golden = tmp_path / "ci" / "basic.csv"
    missing = netsim_cli("reach", BASIC, "--expect", golden)
    assert missing.exit_code == 2 and "--write-golden" in missing.stderr and "does not exist" in missing.stderr
    assert netsim_cli("reach", BASIC, "--write-golden", golden).stdout.startswith(f"wrote golden {golden} (60 rows)")
    assert netsim_cli("reach", BASIC, "--expect", golden).exit_code == 0
    # A harmless edit: one more container on node1's user network renumbers first-fit addresses
    # of no existing pair's meaning; the golden names the new endpoint once and fails for it.
    grown = tmp_path / "grown.yaml"
    grown.write_text(BASIC.read_text().replace("containers:\n", "containers:\n  cache: {host: node1, networks: [front]}\n"))
    result = netsim_cli("reach", grown, "--expect", golden)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("  added endpoint cache: ") and " 0 changed, 0 missing," in lines[0]
    assert all(line.startswith("  added endpoint") for line in lines[1:])
    update = netsim_cli("reach", grown, "--expect", golden, "--update-golden")
    assert update.exit_code == 0 and f"updated golden {golden}" in update.stdout
    assert netsim_cli("reach", grown, "--expect", golden).exit_code == 0


def test_update_golden_needs_expect() -> None:
    result = netsim_cli("reach", BASIC, "--update-golden")
    assert result.exit_code == 2 and "--update-golden needs --expect FILE" in result.stderr


# ---- ports in the matrix --------------------------------------------------------------------------------

PORTS = """
underlay: {subnet: 192.168.100.0/24}
hosts:
  node1: {}
  ext: {docker: false}
networks:
  front: {host: node1}
containers:
  web: {networks: [front], ports: ["8080:80", "5353:53/udp"]}
  db: {networks: [front], expose: [5432]}
"""


def test_ports_table_says_who_answers_each_listening_port(tmp_path: Path) -> None:
    path = tmp_path / "ports.yaml"
    path.write_text(PORTS)
    table = netsim.load(path).ports()
    rows = {(r.src, r.dst, r.addr, r.proto, r.port): (r.disposition, r.responder) for r in table.itertuples()}
    assert rows[("ext", "node1", "192.168.100.11", "tcp", 8080)] == ("ACCEPTED", "web")  # DNAT
    assert rows[("ext", "node1", "192.168.100.11", "udp", 5353)] == ("ACCEPTED", "web")
    assert rows[("web", "db", "172.18.0.3", "tcp", 5432)] == ("ACCEPTED", "db")  # exposed, same network
    assert rows[("ext", "db", "172.18.0.3", "tcp", 5432)][0] == "NO_ROUTE"
    assert not any(src == dst for src, dst, *_ in rows)
    cli = netsim_cli("reach", path, "--ports")
    assert cli.exit_code == 0 and "ext -> node1 192.168.100.11 tcp/8080 (underlay): ACCEPTED (answered by web)" in \
        cli.stdout
    golden = tmp_path / "ports.csv"
    assert netsim_cli("reach", path, "--ports", "--write-golden", golden).exit_code == 0
    assert netsim_cli("reach", path, "--expect", golden).stdout.startswith(f"matches {golden}")  # kind from columns
    out = tmp_path / "results"
    assert netsim_cli("run", path, "--out", out).exit_code == 0
    assert (out / "ports.csv").read_text().startswith("src,dst,addr,network,proto,port,reachable,disposition")


def test_daemon_warnings_reach_the_user_and_the_manifest(tmp_path: Path) -> None:
    modes = ROOT / "topologies" / "modes.yaml"
    warning = "warning: alpha: monitor: Published ports are discarded when using host network mode"
    result = netsim_cli("reach", modes)
    assert result.exit_code == 0 and warning in result.stderr
    out = tmp_path / "r"
    run = netsim_cli("run", modes, "--out", out)
    assert warning in run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["warnings"] == ["alpha: monitor: Published ports are discarded when using host network mode"]


def test_at_on_a_file_without_events_says_so() -> None:
    result = netsim_cli("reach", BASIC, "--at", "2s")
    assert result.exit_code == 0
    assert "has no events, so --at answers as at t=0" in result.stderr
    assert "no events" not in netsim_cli("reach", ROOT / "topologies" / "timeline.yaml", "--at", "2s").stderr


@pytest.mark.parametrize("command", ["run", "reach", "trace", "ping"])
def test_every_command_help_has_an_example(command: str) -> None:
    result = netsim_cli(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout and f"netsim {command} topologies/" in result.stdout


def test_an_unanswered_arp_names_the_local_link_it_died_on() -> None:
    # The same default bridge subnet on two hosts: a1 asks for b2's address on its own link,
    # so the row's network is b2's but the probe never left a1's bridge on h1.
    sim = netsim.Simulation("overlap", seed=1)
    h1, h2 = sim.add_host("h1"), sim.add_host("h2")
    h1.containers.run("a1")
    h2.containers.run("a2")
    h2.containers.run("b2")  # 172.17.0.3 exists on h2 only
    table = sim.reachability()
    row = table[(table.src == "a1") & (table.dst == "b2") & (table.network == "bridge")].iloc[0]
    assert row.disposition == "NEIGH_FAILED"
    assert row.detail == "no ARP reply for 172.17.0.3 on a1:eth0"


@pytest.mark.parametrize("mode", ["host", "none"])
def test_network_host_or_none_means_that_mode_as_in_docker_py(mode: str) -> None:
    sim, node = lab()
    ctr = node.containers.run("b", network=mode)
    assert ctr.network_mode == mode and not ctr.endpoints
    assert (ctr.ns is node.ns) == (mode == "host")


def test_random_streams_are_per_subsystem_and_per_process_stable() -> None:
    # A host added to the world changes no other host's ids or MACs.
    def world(*hosts: str) -> netsim.Simulation:
        sim = netsim.Simulation("streams", seed=5)
        for name in hosts:
            sim.add_host(name).containers.run(f"{name}-web")
        return sim

    one, two = world("node1", "node2"), world("node0", "node1", "node2")
    for name in ("node1", "node2"):
        assert one.host(name).networks.get("bridge").id == two.host(name).networks.get("bridge").id
        assert one.host(name).eth0.mac == two.host(name).eth0.mac
        assert one.container(f"{name}-web").id == two.container(f"{name}-web").id
    code = "import netsim; s = netsim.Simulation('x', seed=5); print(s.add_host('n').networks.get('bridge').id)"
    ids = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(ids) == 1


def test_a_taken_veth_name_is_drawn_again_as_libnetwork_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seven hex digits collide by the birthday bound at ~10,000 veths on one host.
    sim, node = lab()
    engine = node.engine
    assert engine is not None
    draws = iter(["0000001", "0000001", "0000002"] + ["0000001"] * 3)
    monkeypatch.setattr(engine, "random_hex", lambda n: next(draws))
    node.containers.run("a")
    node.containers.run("b")
    assert {"veth0000001", "veth0000002"} <= set(node.ns.devices)
    with pytest.raises(DockerError, match="could not generate interface name"):
        node.containers.run("c")
    assert "c" not in node.containers and not any(ns.name == "c" for ns in sim.world.namespaces.values())


MTU = """
underlay: {subnet: 192.168.100.0/24}
hosts:
  node1: {daemon: {allow-direct-routing: true}}
  lan: {docker: false, routes: ["172.18.0.0/16 via 192.168.100.11"]}
networks:
  small: {host: node1, mtu: 1400}
containers:
  c: {networks: [small]}
"""


def test_mtu_is_enforced_with_df_as_linux_does(tmp_path: Path) -> None:
    path = tmp_path / "mtu.yaml"
    path.write_text(MTU)
    sim = netsim.load(path)
    lan = str(sim.host("lan").address)
    # The sender's own link: ping -M do -s 1373 over a 1400 link fails at the socket.
    local = sim.trace("c", lan, size=1373)
    assert (local.disposition, local.detail) == ("MESSAGE_TOO_LONG", "message too long, mtu=1400")
    assert sim.trace("c", lan, size=1372).disposition == "ACCEPTED"
    # A router on the way: ip_forward answers ICMP frag needed with the next link's MTU, before
    # the FORWARD hook (which would drop this echo as ISOLATED).
    routed = sim.trace("lan", "172.18.0.2", size=1373)
    assert routed.disposition == "FRAG_NEEDED"
    assert routed.detail == "frag needed and DF set (mtu = 1400) from 192.168.100.11"
    assert sim.trace("lan", "172.18.0.2", size=1372).disposition == "ISOLATED"
    # Without DF the datagram is not refused (fragmentation itself is not modelled).
    assert sim.trace("c", lan, size=1373, df=False).disposition == "ACCEPTED"
