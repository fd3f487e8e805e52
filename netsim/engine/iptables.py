"""The iptables rules dockerd's bridge driver installs, per engine profile (B7, B12, B15-B26).

This is the control plane writing forwarding state: every function appends rules, in
iptables syntax, to a host namespace's netfilter tables.  The layouts follow moby's
``iptabler`` (28+) and ``setup_ip_tables_linux.go`` (27): see docker-semantics.md B26.
Labels on DROP rules name the Docker concept the rule implements, so a reachability table
can say ISOLATED or ICC_DISABLED instead of just "a rule dropped it".
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Optional

from ..datapath.netfilter import Netfilter, Rule
from .profile import EngineProfile

ISOLATED = "ISOLATED"
ICC_DISABLED = "ICC_DISABLED"
INTERNAL = "INTERNAL_NETWORK"
DIRECT_ACCESS = "DIRECT_ACCESS_DENIED"
NOT_PUBLISHED = "NOT_PUBLISHED"


def setup_host(nf: Netfilter, profile: EngineProfile) -> None:
    """Chains and jumps dockerd creates at start-up; FORWARD policy DROP since it enabled ip_forward."""
    for chain in ("DOCKER",):
        nf.new_chain("nat", chain)
    nf.append("nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER")
    nf.append("nat", "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")
    nf.set_policy("filter", "FORWARD", "DROP")
    if profile.iptables_layout == "isolation-chains":
        for chain in ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"):
            nf.new_chain("filter", chain)
        nf.append("filter", "-A FORWARD -j DOCKER-USER")
        nf.append("filter", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1")
        nf.append("filter", "-A DOCKER-ISOLATION-STAGE-1 -j RETURN")
        nf.append("filter", "-A DOCKER-ISOLATION-STAGE-2 -j RETURN")
        nf.append("filter", "-A DOCKER-USER -j RETURN")
    else:
        for chain in ("DOCKER", "DOCKER-USER", "DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE",
                      "DOCKER-INTERNAL"):
            nf.new_chain("filter", chain)
        if profile.iptables_layout == "docker-forward":
            for chain in ("DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"):
                nf.new_chain("filter", chain)
        nf.append("filter", "-A FORWARD -j DOCKER-USER")
        nf.append("filter", "-A FORWARD -j DOCKER-FORWARD")
        nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-CT")
        if profile.iptables_layout == "docker-forward":
            nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1")
        nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-INTERNAL")
        nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-BRIDGE")


def setup_bridge(nf: Netfilter, profile: EngineProfile, br: str, subnet: IPv4Network,
                 icc: bool, masquerade: bool, internal: bool) -> None:
    """Rules for one bridge network (setupIPTables / iptabler network.go)."""
    cidr = str(subnet)
    if masquerade and not internal:
        nf.append("nat", f"-A POSTROUTING -s {cidr} ! -o {br} -j MASQUERADE")
    icc_rule = f"-A {{chain}} -i {br} -o {br} -j {'ACCEPT' if icc else 'DROP'}"
    icc_label = "" if icc else ICC_DISABLED
    if profile.iptables_layout == "isolation-chains":
        if internal:
            nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-1 ! -s {cidr} -o {br} -j DROP", INTERNAL)
            nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-1 ! -d {cidr} -i {br} -j DROP", INTERNAL)
            nf.append("filter", icc_rule.format(chain="FORWARD"), icc_label)
            return
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2")
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP", ISOLATED)
        nf.append("filter", f"-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        nf.append("filter", f"-A FORWARD -o {br} -j DOCKER")
        nf.append("filter", f"-A FORWARD -i {br} ! -o {br} -j ACCEPT")
        nf.append("filter", icc_rule.format(chain="FORWARD"), icc_label)
        return
    if internal:
        nf.append("filter", f"-A DOCKER-INTERNAL ! -s {cidr} -o {br} -j DROP", INTERNAL)
        nf.append("filter", f"-A DOCKER-INTERNAL ! -d {cidr} -i {br} -j DROP", INTERNAL)
        nf.append("filter", icc_rule.format(chain="DOCKER-FORWARD"), icc_label)
        return
    if profile.iptables_layout == "docker-forward":
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2")
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP", ISOLATED)
    nf.append("filter", f"-A DOCKER-CT -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    nf.append("filter", f"-A DOCKER-BRIDGE -o {br} -j DOCKER")
    nf.append("filter", icc_rule.format(chain="DOCKER-FORWARD"), icc_label)
    nf.append("filter", f"-A DOCKER-FORWARD -i {br} -j ACCEPT")
    if profile.iptables_layout == "docker-forward-29":
        # 29 dropped the isolation chains: whatever reaches DOCKER for this bridge from
        # another interface and was not accepted by a per-port rule is dropped here.
        nf.append("filter", f"-A DOCKER ! -i {br} -o {br} -j DROP", ISOLATED)


def teardown_bridge(nf: Netfilter, br: str, subnet: IPv4Network) -> None:
    words = (f" {br} ", f" {subnet} ")
    for table in ("nat", "filter", "raw"):
        nf.delete(table, lambda r: any(w in r.text + " " for w in words))


def endpoint_direct_access(nf: Netfilter, profile: EngineProfile, br: str, address: IPv4Address) -> None:
    """28.2+: raw PREROUTING drop of packets for a container address not arriving on its bridge."""
    if profile.raw_direct_access_drop:
        nf.append("raw", f"-A PREROUTING -d {address}/32 ! -i {br} -j DROP", DIRECT_ACCESS)


def remove_endpoint(nf: Netfilter, address: IPv4Address) -> None:
    """Forget every rule that names the endpoint's address (its ports, its raw drop)."""
    needles = (f" {address}/32 ", f"--to-destination {address}:")
    for table in ("nat", "filter", "raw"):
        nf.delete(table, lambda r: any(n in r.text + " " for n in needles))


def publish_port(nf: Netfilter, profile: EngineProfile, br: str, address: IPv4Address, proto: str,
                 container_port: int, host_port: int,
                 host_ip: Optional[IPv4Address]) -> list[tuple[str, Rule]]:
    """DNAT from the host port to the container, and the filter ACCEPT for it (B20, B22)."""
    dst = f"-d {host_ip}/32 " if host_ip is not None and not host_ip.is_unspecified else ""
    rules = [("nat", nf.append("nat", f"-A DOCKER {dst}! -i {br} -p {proto} -m {proto} --dport {host_port} "
                                      f"-j DNAT --to-destination {address}:{container_port}"))]
    accept = (f"-A DOCKER -d {address}/32 ! -i {br} -o {br} -p {proto} -m {proto} "
              f"--dport {container_port} -j ACCEPT")
    # 29 ends each bridge's DOCKER rules with a DROP: per-port ACCEPTs must come before it.
    add = nf.insert if profile.iptables_layout == "docker-forward-29" else nf.append
    rules.append(("filter", add("filter", accept)))
    if host_ip is not None and host_ip.is_loopback and profile.raw_direct_access_drop:
        rules.append(("raw", nf.append("raw", f"-A PREROUTING -d {host_ip}/32 ! -i lo -p {proto} -m {proto} "
                                              f"--dport {host_port} -j DROP", DIRECT_ACCESS)))
    return rules
