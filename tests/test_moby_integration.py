"""What Docker's own networking integration tests expect, translated into topologies.

Each test names the moby test it follows (``integration/...`` or ``integration-cli/...``) and
asserts what that test asserts: which names resolve, who pings whom, what the daemon refuses.
docs/moby-tests.md lists the moby tests netsim follows and the ones it does not.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

import netsim
from netsim.cli import main
from netsim.errors import DockerError


def netsim_cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], prog_name="netsim")


def topology(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


def by_name(table: pd.DataFrame, src: str, name: str) -> tuple[str, str, str]:
    rows = table[(table.src == src) & (table.name == name)]
    assert len(rows) == 1, f"no single by-name row {src} -> {name}:\n{table[table.src == src]}"
    row = rows.iloc[0]
    return row.dst, row.network, row.disposition


# ---- names Docker's DNS answers --------------------------------------------------------------------

HOSTNAME = """
hosts: {node1: {}}
networks: {udnet: {}}
containers:
  first: {networks: [udnet], hostname: fred}
  second: {networks: [udnet]}
"""


def test_hostname_resolves_on_a_user_network(tmp_path: Path) -> None:
    # integration/container/run_linux_test.go TestHostnameDnsResolution: --hostname answers on the network.
    path = topology(tmp_path, HOSTNAME)
    assert by_name(netsim.load(path).reachability_by_name(), "second", "fred") == ("first", "udnet", "ACCEPTED")
    result = netsim_cli("trace", path, "second", "fred")
    assert result.exit_code == 0, result.output
    assert "ACCEPTED" in result.stdout
    assert netsim_cli("reach", path, "--by-name", "--csv").stdout.count(",fred,first,") == 1


def test_name_dot_network_resolves_for_members_only(tmp_path: Path) -> None:
    # integration-cli/docker_cli_network_unix_test.go TestUserDefinedNetworkConnectivity: ping NAME.NETWORK.
    path = topology(tmp_path, HOSTNAME.replace("  second: {networks: [udnet]}",
                                               "  second: {networks: [udnet]}\n  outsider: {}"))
    table = netsim.load(path).reachability_by_name()
    assert by_name(table, "second", "first.udnet") == ("first", "udnet", "ACCEPTED")
    assert by_name(table, "outsider", "first.udnet")[2] == "NO_DNS_ON_DEFAULT_BRIDGE"
    assert netsim_cli("trace", path, "second", "first.udnet").exit_code == 0


MULTI = """
hosts: {node1: {}}
networks: {test1: {}, test2: {}}
containers:
  first: {networks: [test1]}
  second: {networks: [test2]}
events:
  - {at: 1s, connect: {container: second, network: test1}}
"""


def test_containers_in_multiple_networks_after_connect(tmp_path: Path) -> None:
    # integration-cli/docker_cli_run_test.go TestContainersInMultipleNetworks: after `network connect`,
    # each resolves the other by NAME.NETWORK on the shared network.
    path = topology(tmp_path, MULTI)
    sim = netsim.load(path)
    before = sim.reachability_by_name()
    assert by_name(before, "first", "second")[2] == "NAME_UNRESOLVED"
    assert "second.test1" not in set(before.name)  # no such name until the connect
    after = sim.reachability_by_name(at=1.0)
    assert by_name(after, "first", "second.test1") == ("second", "test1", "ACCEPTED")
    assert by_name(after, "second", "first.test1") == ("first", "test1", "ACCEPTED")
    assert by_name(after, "first", "second.test2")[2] == "NAME_UNRESOLVED"  # not first's network
    result = netsim_cli("trace", path, "first", "second.test1", "--at", "1s")
    assert result.exit_code == 0, result.output


def test_linked_containers_hostnames_resolve_through_hosts_file(tmp_path: Path) -> None:
    # integration-cli/docker_cli_links_test.go TestLinksPingLinkedContainers: the link's /etc/hosts line
    # "<ip> alias hostname name" answers all three on the default bridge.
    path = topology(tmp_path, """
hosts: {node1: {}}
containers:
  container1: {hostname: fred}
  container2: {hostname: wilma}
  pinger: {links: ["container1:alias1", "container2:alias2"]}
""")
    table = netsim.load(path).reachability_by_name()
    for name, owner in (("alias1", "container1"), ("fred", "container1"), ("alias2", "container2"),
                        ("wilma", "container2")):
        assert by_name(table, "pinger", name) == (owner, "bridge", "ACCEPTED"), name
    assert by_name(table, "container2", "fred")[2] == "NO_DNS_ON_DEFAULT_BRIDGE"  # no link, no name
    assert netsim_cli("trace", path, "pinger", "wilma").exit_code == 0


# ---- links ------------------------------------------------------------------------------------------

LATE_TARGET = """
hosts: {node1: {}}
networks: {udlinkNet: {}}
containers:
  first: {networks: [udlinkNet], links: ["second:bar", "third:baz"]}
  second: {}
events:
  - {at: 1s, connect: {container: second, network: udlinkNet}}
"""


def test_link_to_a_container_that_does_not_exist_yet_on_a_user_network(tmp_path: Path) -> None:
    # integration-cli/docker_cli_network_unix_test.go TestUserDefinedNetworkLinks and
    # TestUserDefinedNetworkConnectDisconnectLink: the alias resolves once the target is on the network;
    # a target that never comes (third) is accepted and never resolves.
    sim = netsim.load(topology(tmp_path, LATE_TARGET))
    assert by_name(sim.reachability_by_name(), "first", "bar")[2] == "NAME_UNRESOLVED"
    after = sim.reachability_by_name(at=1.0)
    assert by_name(after, "first", "bar") == ("second", "udlinkNet", "ACCEPTED")
    assert by_name(after, "first", "baz")[2] == "NAME_UNRESOLVED"


def test_link_to_a_missing_container_on_the_default_bridge_is_refused(tmp_path: Path) -> None:
    # integration-cli/docker_cli_links_test.go TestLinksInvalidContainerTarget: legacy links need the target.
    path = topology(tmp_path, "hosts: {node1: {}}\ncontainers:\n  first: {links: [\"nosuch:bar\"]}\n")
    result = netsim_cli("reach", path)
    assert result.exit_code == 2 and "containers.first.links[0]: unknown container 'nosuch'" in result.stderr
    sim = netsim.Simulation("api")
    node = sim.add_host("node1")
    with pytest.raises(DockerError, match="could not get container for nosuch"):
        node.containers.run("first", links={"nosuch": "bar"})
    assert not any(ns.name == "first" for ns in sim.world.namespaces.values())  # refused before its namespace was made
    node.networks.create("udnet")
    node.containers.run("first", network="udnet", links={"nosuch": "bar"})  # user network: accepted


def test_two_links_to_one_container_keep_both_aliases(tmp_path: Path) -> None:
    # integration-cli/docker_cli_links_test.go TestLinksUpdateOnRestart / TestLinksHostsFilesInject:
    # --link one:onetwo --link one:one writes both aliases.
    path = topology(tmp_path, """
hosts: {node1: {}}
containers:
  one: {}
  two: {links: ["one:onetwo", "one:one"]}
""")
    table = netsim.load(path).reachability_by_name()
    assert by_name(table, "two", "onetwo") == ("one", "bridge", "ACCEPTED")
    assert by_name(table, "two", "one") == ("one", "bridge", "ACCEPTED")


# ---- network modes ------------------------------------------------------------------------------------


def test_network_mode_default_is_the_default_bridge(tmp_path: Path) -> None:
    # integration-cli/docker_cli_links_test.go testLinkPingOnNetwork(c, "default"): --net default works.
    plain = "hosts: {node1: {}}\ncontainers:\n  a: {}\n  b: {links: [\"a:alias\"]}\n"
    default = plain.replace("  a: {}", "  a: {network_mode: default}").replace(
        '{links: ["a:alias"]}', '{network_mode: default, links: ["a:alias"]}')
    tables = [netsim.load(topology(tmp_path, text)).reachability_by_name() for text in (plain, default)]
    assert by_name(tables[1], "b", "alias") == ("a", "bridge", "ACCEPTED")
    pd.testing.assert_frame_equal(tables[0], tables[1])


# ---- daemon options per host ---------------------------------------------------------------------------

PUBLISHED = """
engine: "{engine}"
underlay: {{subnet: 192.168.100.0/24}}
hosts:
  node1: {{daemon: {daemon}}}
  lan: {{docker: false, routes: ["default via 192.168.100.11"]}}
networks:
  servernet: {{host: node1}}
  clientnet: {{host: node1}}
containers:
  server: {{networks: [servernet], ports: ["8080:80"]}}
  client: {{networks: [clientnet]}}
"""


def published(tmp_path: Path, daemon: str = "{}", engine: str = "29") -> netsim.Simulation:
    return netsim.load(topology(tmp_path, PUBLISHED.format(daemon=daemon, engine=engine)))


def test_icc_false_in_the_file(tmp_path: Path) -> None:
    # integration-cli/docker_cli_daemon_test.go TestDaemonICCPing: dockerd --icc=false, no ping on docker0.
    path = topology(tmp_path, "hosts:\n  node1: {daemon: {icc: false}}\ncontainers:\n  a: {}\n  b: {}\n")
    sim = netsim.load(path)
    assert sim.trace("a", str(sim.container("b").endpoints["bridge"].address)).disposition == "ICC_DISABLED"


@pytest.mark.parametrize("proxy", ["true", "false"])
def test_port_mapped_hairpin_from_another_network(tmp_path: Path, proxy: str) -> None:
    # integration/networking/port_mapping_linux_test.go TestPortMappedHairpinTCP: a container on another
    # network reaches the server through the host address and the mapped port, proxy or not.
    sim = published(tmp_path, f"{{userland-proxy: {proxy}}}")
    result = sim.trace("client", "192.168.100.11", proto="tcp", port=8080)
    assert (result.reachable, result.responder) == (True, "server")


def test_userland_proxy_off_dnats_loopback_and_the_servers_own_bridge(tmp_path: Path) -> None:
    # TestPortMappedHairpinTCP with WithUserlandProxy(false) and iptabler's hairpin=true goldens: no
    # docker-proxy, so the host's own 127.0.0.1:8080 and the server's own hairpin are NATed to the server.
    on, off = published(tmp_path), published(tmp_path, "{userland-proxy: false}")
    assert on.trace("node1", "127.0.0.1", proto="tcp", port=8080).responder == "node1"  # docker-proxy
    assert off.trace("node1", "127.0.0.1", proto="tcp", port=8080).responder == "server"
    hairpin = off.trace("server", "192.168.100.11", proto="tcp", port=8080)
    assert (hairpin.reachable, hairpin.responder) == (True, "server")
    rules = off.host("node1").ns.nf.save()
    assert "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER" in rules
    assert "-m addrtype --src-type LOCAL -j MASQUERADE" in rules
    assert "-A POSTROUTING -s 172.18.0.2/32 -d 172.18.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE" in rules
    assert "! -d 127.0.0.0/8" in on.host("node1").ns.nf.save()


@pytest.mark.parametrize(("engine", "daemon", "port", "disposition"), [
    ("27", "{}", 80, "ACCEPTED"),  # before 28 nothing stopped direct routing
    ("29", "{}", 80, "DIRECT_ACCESS_DENIED"),
    ("29", "{allow-direct-routing: true}", 80, "ACCEPTED"),  # a published port, reached directly
    ("29", "{allow-direct-routing: true}", 81, "ISOLATED"),  # ports that are not published stay closed
])
def test_direct_routing_to_a_container_from_the_lan(tmp_path: Path, engine: str, daemon: str, port: int,
                                                     disposition: str) -> None:
    # integration/networking/port_mapping_linux_test.go TestDirectRoutingOpenPorts (gateway mode nat): a
    # remote host routing to the container via the docker host gets nothing on 28+; with dockerd's
    # --allow-direct-routing ("remote access to published ports on container IP addresses") port 80 opens.
    sim = published(tmp_path, daemon, engine)
    assert sim.trace("lan", "172.18.0.2", proto="tcp", port=port).disposition == disposition


def test_default_address_pools_and_bip(tmp_path: Path) -> None:
    # integration/network/service_test.go TestDaemonDefaultNetworkPools: docker0 and then each network take
    # the next subnet of the configured pools; integration/daemon TestDaemonDefaultBridgeIPAM_Docker0: --bip.
    path = topology(tmp_path, """
hosts:
  pools: {daemon: {default-address-pools: [{base: 175.30.0.0/16, size: 16}, {base: 175.33.0.0/16, size: 24}]}}
  bipped: {daemon: {bip: 10.10.0.1/24}}
networks:
  elango: {host: pools}
  saanvi: {host: pools}
containers:
  a: {host: bipped}
""")
    sim = netsim.load(path)
    subnets = {net.name: str(net.subnet) for net in sim.host("pools").networks}
    assert (subnets["bridge"], subnets["elango"], subnets["saanvi"]) == ("175.30.0.0/16", "175.33.0.0/24",
                                                                         "175.33.1.0/24")
    docker0 = sim.host("bipped").networks.get("bridge")
    assert (str(docker0.subnet), str(docker0.gateway)) == ("10.10.0.0/24", "10.10.0.1")
    assert str(sim.container("a").endpoints["bridge"].address) == "10.10.0.2"


def test_iptables_false_programs_nothing(tmp_path: Path) -> None:
    # integration-cli/docker_cli_daemon_test.go TestDaemonStartIptablesFalse starts such a daemon; what it
    # then does is moby's setupIPForwarding/iptabler skipped: no isolation between bridges, no DNAT, and
    # the host's listener (docker-proxy) still answers the published port.
    sim = published(tmp_path, "{iptables: false}")
    rules = sim.host("node1").ns.nf.save()
    assert "DOCKER" not in rules
    server = str(sim.container("server").endpoints["servernet"].address)
    assert sim.trace("client", server).disposition == "ACCEPTED"  # routed between bridges, unfiltered
    assert sim.trace("lan", "192.168.100.11", proto="tcp", port=8080).responder == "node1"


def test_ip_forward_false_keeps_containers_off_the_lan(tmp_path: Path) -> None:
    # dockerd --ip-forward=false (no moby integration test; daemon/config: EnableIPForward) leaves the
    # host's forwarding off: a container cannot reach a LAN machine.
    on, off = published(tmp_path), published(tmp_path, "{ip-forward: false}")
    assert on.trace("client", "lan").disposition == "ACCEPTED"
    assert off.trace("client", "lan").disposition == "NOT_FORWARDING"


@pytest.mark.parametrize(("text", "key_path", "message"), [
    ("hosts: {n: {docker: false, daemon: {icc: false}}}", "hosts.n.daemon", "no daemon to configure"),
    ("engine: '27'\nhosts: {n: {daemon: {allow-direct-routing: true}}}", "hosts.n.daemon.allow-direct-routing",
     "dockerd 27 has no --allow-direct-routing"),
    ("hosts: {n: {daemon: {bip: 10.10.0.0/24}}}", "hosts.n.daemon.bip", "is the network or broadcast address"),
    ("hosts: {n: {daemon: {default-address-pools: [{base: 10.0.0.0/16, size: 8}]}}}",
     "hosts.n.daemon.default-address-pools[0].size", "out of range"),
    ("hosts: {n: {daemon: {userland_proxy: false}}}", "hosts.n.daemon.userland_proxy", "did you mean 'userland-proxy'?"),
    ("hosts: {n: {routes: ['10.0.0.0/8 via 10.1.1.1']}}", "hosts.n.routes[0]", "outside underlay.subnet"),
    ("hosts: {n: {routes: ['10.0.0.0/8']}}", "hosts.n.routes[0]", "expected a route"),
])
def test_bad_daemon_options_and_routes(tmp_path: Path, text: str, key_path: str, message: str) -> None:
    path = topology(tmp_path, text + "\n")
    result = netsim_cli("reach", path)
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1, result.output
    assert f"{path}: {key_path}: " in result.stderr and message in result.stderr


# ---- UDP probes ---------------------------------------------------------------------------------------

UDP = """
underlay: {subnet: 192.168.100.0/24}
hosts:
  node1: {daemon: {userland-proxy: PROXY}}
  lan: {docker: false}
networks:
  servernet: {host: node1}
  clientnet: {host: node1}
containers:
  server: {networks: [servernet], ports: ["5353:53/udp"]}
  exposer: {networks: [servernet]}
  client: {networks: [clientnet]}
"""


@pytest.mark.parametrize("proxy", ["true", "false"])
def test_port_mapped_hairpin_udp(tmp_path: Path, proxy: str) -> None:
    # integration/networking/port_mapping_linux_test.go TestPortMappedHairpinUDP: a container on another
    # network reaches a UDP service in a container through the host's mapped port (libnetwork#1729).
    path = topology(tmp_path, UDP.replace("PROXY", proxy))
    sim = netsim.load(path)
    answer = sim.trace("client", "192.168.100.11", proto="udp", port=5353)
    assert (answer.reachable, answer.responder) == (True, "server")
    assert sim.trace("lan", "192.168.100.11", proto="udp", port=5353).responder == "server"
    closed = sim.trace("lan", "192.168.100.11", proto="udp", port=5354)
    assert (closed.reachable, closed.disposition) == (False, "REFUSED")
    assert "port unreachable" in closed.detail
    result = netsim_cli("trace", path, "client", "192.168.100.11", "--udp", "5353", "--frames")
    assert result.exit_code == 0, result.output
    assert "UDP 192.168.100.11:5353 >" in result.stdout or "UDP 5353 >" in result.stdout


def test_udp_listener_from_expose(tmp_path: Path) -> None:
    # An EXPOSEd UDP port has its service listening in the container; TCP on that port has none.
    sim = netsim.Simulation("api")
    node = sim.add_host("node1")
    dns = node.containers.run("dns", expose=["53/udp"])
    client = node.containers.run("client")
    address = str(dns.endpoints["bridge"].address)
    assert sim.trace(client.name, address, proto="udp", port=53).reachable
    assert sim.trace(client.name, address, proto="tcp", port=53).disposition == "REFUSED"


def test_trace_takes_one_of_tcp_and_udp(tmp_path: Path) -> None:
    result = netsim_cli("trace", topology(tmp_path, UDP.replace("PROXY", "true")), "client", "server",
                        "--tcp", "1", "--udp", "1")
    assert result.exit_code == 2 and "choose one of --tcp and --udp" in result.stderr


def test_expose_in_the_file_starts_a_listener(tmp_path: Path) -> None:
    path = topology(tmp_path, "hosts: {node1: {}}\ncontainers:\n  dns: {expose: [\"53/udp\", 8053]}\n  c: {}\n")
    sim = netsim.load(path)
    address = str(sim.container("dns").endpoints["bridge"].address)
    assert sim.trace("c", address, proto="udp", port=53).reachable
    assert sim.trace("c", address, proto="tcp", port=8053).reachable
    assert netsim_cli("trace", path, "c", address, "--udp", "54").exit_code == 1
    bad = topology(tmp_path, "hosts: {node1: {}}\ncontainers:\n  dns: {expose: [\"53/icmp\"]}\n")
    result = netsim_cli("reach", bad)
    assert result.exit_code == 2 and "containers.dns.expose[0]: unknown protocol 'icmp'" in result.stderr


def test_port_unreachable_comes_back_through_masquerade_about_the_senders_own_datagram(tmp_path: Path) -> None:
    # The ICMP error is RELATED to the masqueraded flow: the host rewrites its destination and the
    # quoted datagram's source back to the container (nf_nat_icmp_reply_translation), so the
    # container's socket hears "port unreachable" about the datagram it sent.
    sim = netsim.load(topology(tmp_path, UDP.replace("PROXY", "true")))
    result = sim.trace("client", "lan", proto="udp", port=9)
    assert (result.disposition, result.responder) == ("REFUSED", "lan")
    client = sim.container("client").endpoints["clientnet"].address
    node, _, action, _, frame = result.steps[-1]
    assert (node, action) == ("client", "DELIVERED")
    error = frame.payload
    assert error.dst == int(client) and error.payload.quoted.src == int(client)
    assert error.payload.quoted.dst == int(sim.host("lan").address)
    wire = [f for n, _, a, _, f in result.steps if n == "lan" and a == "TRANSMITTED"][-1]
    assert wire.payload.payload.quoted.src == int(sim.host("node1").address)  # as lan saw it: masqueraded


def test_expose_and_publish_with_container_network_mode_are_refused(tmp_path: Path) -> None:
    # integration-cli/docker_cli_netmode_test.go TestConflictNetworkModeAndOptions and
    # docker_cli_run_test.go TestRunContainerNetModeWithExposePort (runconfig
    # ErrConflictNetworkExposePorts / ErrConflictNetworkPublishPorts, B31).
    path = topology(tmp_path, "hosts: {n: {}}\ncontainers:\n  a: {}\n  b: {network_mode: 'container:a', expose: [80]}\n")
    result = netsim_cli("reach", path)
    assert result.exit_code == 2 and "containers.b.expose: conflicting options: port exposing" in result.stderr
    sim = netsim.Simulation("api")
    node = sim.add_host("n")
    node.containers.run("a")
    for kwargs, word in (({"expose": [80]}, "exposing"), ({"ports": ["8080:80"]}, "publishing")):
        with pytest.raises(DockerError, match=f"conflicting options: port {word}"):
            node.containers.run("b", network_mode="container:a", **kwargs)
