"""What Docker's own networking integration tests expect, translated into topologies.

Each test names the moby test it follows (``integration/...`` or ``integration-cli/...``) and
asserts what that test asserts: which names resolve, who pings whom, what the daemon refuses.
docs/behaviour.md lists the moby tests netsim follows and the ones it does not.
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
    assert "first" not in sim.world.namespaces  # refused before its namespace was made
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
