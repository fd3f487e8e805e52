"""The iptables rules the bridge driver installs, per engine profile (B7, B12, B15-B26).

This is the control plane writing forwarding state: each function adds rules, in iptables
syntax, to the host namespace's tables, with moby's own Insert/Append choices so the order
comes out as a real ``iptables-save`` shows it.  Sources (docs/iptables.md has the detail):
29 and 28 follow moby's ``iptabler`` and its golden dumps (``TestIptabler``); 27 follows the
pre-28 ``setup_ip_tables_linux.go`` / ``iptables.ProgramChain``, whose order is inferred from
its Insert/Append calls because no golden dump of 27 exists.

Labels on DROP rules name the Docker concept a rule implements, so a reachability table can
say ISOLATED or ICC_DISABLED rather than only "a rule dropped it".
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Optional

from ....datapath.netfilter import Netfilter, Rule
from ...profile import EngineProfile

ISOLATED = "ISOLATED"
ICC_DISABLED = "ICC_DISABLED"
INTERNAL = "INTERNAL_NETWORK"
DIRECT_ACCESS = "DIRECT_ACCESS_DENIED"

_LEGACY = "isolation-chains"  # profile 27
_FORWARD_JUMPS = ("-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1")


def setup_host(nf: Netfilter, profile: EngineProfile, drop_forward: bool = True, hairpin: bool = False) -> None:
    """Chains and jumps dockerd creates at start-up (iptabler ``addNATJumpRules``).

    ``drop_forward``: dockerd turned on ip_forward itself, so it sets FORWARD's policy to DROP.
    ``hairpin`` (``--userland-proxy=false``): loopback traffic is DNATed too, no proxy carries it.
    """
    nf.new_chain("nat", "DOCKER")
    nf.append("nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER")
    # The userland proxy carries loopback traffic, hence ! -d 127.0.0.0/8 while it runs.
    nf.append("nat", f"-A OUTPUT {'' if hairpin else '! -d 127.0.0.0/8 '}-m addrtype --dst-type LOCAL -j DOCKER")
    if drop_forward:
        nf.set_policy("filter", "FORWARD", "DROP")
    if profile.iptables_layout == _LEGACY:
        for chain in ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"):
            nf.new_chain("filter", chain)
        for jump in _FORWARD_JUMPS:
            nf.append("filter", jump)
        nf.append("filter", "-A DOCKER-ISOLATION-STAGE-1 -j RETURN")
        nf.append("filter", "-A DOCKER-ISOLATION-STAGE-2 -j RETURN")
        nf.append("filter", "-A DOCKER-USER -j RETURN")
        return
    isolation = profile.iptables_layout == "docker-forward"
    chains = ["DOCKER", "DOCKER-USER", "DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE"]
    chains += ["DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2"] if isolation else ["DOCKER-INTERNAL"]
    for chain in chains:
        nf.new_chain("filter", chain)
    nf.append("filter", "-A FORWARD -j DOCKER-USER")
    nf.append("filter", "-A FORWARD -j DOCKER-FORWARD")
    nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-CT")
    nf.append("filter", "-A DOCKER-FORWARD -j " + ("DOCKER-ISOLATION-STAGE-1" if isolation else "DOCKER-INTERNAL"))
    nf.append("filter", "-A DOCKER-FORWARD -j DOCKER-BRIDGE")


def setup_bridge(nf: Netfilter, profile: EngineProfile, br: str, subnet: IPv4Network,
                 icc: bool, masquerade: bool, internal: bool, hairpin: bool = False) -> None:
    """Rules for one bridge network (iptabler ``setupIPTables`` / pre-28 ``setupIPTablesInternal``).

    ``hairpin`` is ``--userland-proxy=false``: host-local clients reach published ports through
    NAT, so their traffic is masqueraded onto the bridge and nothing skips DNAT.
    """
    cidr = str(subnet)
    legacy = profile.iptables_layout == _LEGACY
    if internal:
        isolation_chain = "DOCKER-INTERNAL" if profile.iptables_layout == "docker-forward-29" \
            else "DOCKER-ISOLATION-STAGE-1"
        # Inserted "in" then "out": the out rule ends up first.
        nf.insert("filter", f"-A {isolation_chain} ! -d {cidr} -i {br} -j DROP", INTERNAL)
        nf.insert("filter", f"-A {isolation_chain} ! -s {cidr} -o {br} -j DROP", INTERNAL)
        icc_rule = f"-A {'FORWARD' if legacy else 'DOCKER-FORWARD'} -i {br} -o {br} -j {'ACCEPT' if icc else 'DROP'}"
        if legacy and icc:
            _insert_after_jumps(nf, [icc_rule])
        else:
            nf.append("filter", icc_rule, "" if icc else ICC_DISABLED)
        return
    if masquerade:
        nf.insert("nat", f"-A POSTROUTING -s {cidr} ! -o {br} -j MASQUERADE")
        if profile.iptables_layout != "docker-forward-29" and not hairpin:
            # "skip DNAT": with the userland proxy on, the proxy serves the bridge's own containers.
            nf.insert("nat", f"-A DOCKER -i {br} -j RETURN")
    if hairpin:  # "MASQ LOCAL HOST": 127.0.0.1 DNATed onto the bridge leaves with the bridge's address
        nf.insert("nat", f"-A POSTROUTING -o {br} -m addrtype --src-type LOCAL -j MASQUERADE")
    if legacy:
        block = [f"-A FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                 f"-A FORWARD -o {br} -j DOCKER",
                 f"-A FORWARD -i {br} ! -o {br} -j ACCEPT"]
        if icc:
            block.append(f"-A FORWARD -i {br} -o {br} -j ACCEPT")
        _insert_after_jumps(nf, block)
        if not icc:
            nf.append("filter", f"-A FORWARD -i {br} -o {br} -j DROP", ICC_DISABLED)
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2")
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP", ISOLATED)
        return
    if profile.iptables_layout == "docker-forward":
        nf.append("filter", f"-A DOCKER-ISOLATION-STAGE-1 -i {br} ! -o {br} -j DOCKER-ISOLATION-STAGE-2")
        nf.insert("filter", f"-A DOCKER-ISOLATION-STAGE-2 -o {br} -j DROP", ISOLATED)
    # 28+ close each bridge with a DROP in DOCKER for anything not accepted per port (moby#48724).
    nf.append("filter", f"-A DOCKER ! -i {br} -o {br} -j DROP", ISOLATED)
    nf.append("filter", f"-A DOCKER-BRIDGE -o {br} -j DOCKER")
    nf.append("filter", f"-A DOCKER-CT -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    if icc:
        nf.append("filter", f"-A DOCKER-FORWARD -i {br} -j ACCEPT")
    else:
        nf.append("filter", f"-A DOCKER-FORWARD -i {br} -o {br} -j DROP", ICC_DISABLED)
        nf.append("filter", f"-A DOCKER-FORWARD -i {br} ! -o {br} -j ACCEPT")


def _insert_after_jumps(nf: Netfilter, block: list[str]) -> None:
    """27: ProgramChain inserts at the top of FORWARD, then EnsureJumpRule puts the jumps back above."""
    for text in reversed(block):
        nf.insert("filter", text)
    nf.delete("filter", lambda r: r.text in _FORWARD_JUMPS)
    for text in reversed(_FORWARD_JUMPS):
        nf.insert("filter", text)


def teardown_bridge(nf: Netfilter, br: str, subnet: IPv4Network) -> None:
    words = (f" {br} ", f" {subnet} ")
    for table in ("nat", "filter", "raw"):
        nf.delete(table, lambda r: any(w in r.text + " " for w in words))


def endpoint_direct_access(nf: Netfilter, profile: EngineProfile, allow_direct_routing: bool, br: str,
                           address: IPv4Address, internal: bool) -> None:
    """28.2+: raw PREROUTING drop of packets for a container address not arriving on its bridge.

    Not for internal networks, nor with ``--allow-direct-routing`` (iptabler ``filterDirectAccess``
    returns early for both).
    """
    if profile.raw_direct_access_drop and not internal and not allow_direct_routing:
        nf.append("raw", f"-A PREROUTING -d {address}/32 ! -i {br} -j DROP", DIRECT_ACCESS)


def remove_endpoint(nf: Netfilter, address: IPv4Address) -> None:
    """Forget every rule that names the endpoint's address (its ports, its raw drop)."""
    needles = (f" {address}/32 ", f"--to-destination {address}:")
    for table in ("nat", "filter", "raw"):
        nf.delete(table, lambda r: any(n in r.text + " " for n in needles))


def publish_port(nf: Netfilter, profile: EngineProfile, hairpin: bool, br: str, address: IPv4Address, proto: str,
                 container_port: int, host_port: int,
                 host_ip: Optional[IPv4Address]) -> list[tuple[str, Rule]]:
    """DNAT from the host port to the container, and the filter ACCEPT for it (B20, B22).

    With ``hairpin`` (no userland proxy) the bridge's own containers are DNATed too, and a
    container reaching its own published port is masqueraded (iptabler ``setPerPortNAT``).
    """
    dst = f"-d {host_ip}/32 " if host_ip is not None and not host_ip.is_unspecified else ""
    not_from_bridge = "" if hairpin else f"! -i {br} "
    rules = [("nat", nf.append("nat", f"-A DOCKER {dst}{not_from_bridge}-p {proto} -m {proto} --dport {host_port} "
                                      f"-j DNAT --to-destination {address}:{container_port}"))]
    self_masquerade = (f"-A POSTROUTING -s {address}/32 -d {address}/32 -p {proto} -m {proto} "
                       f"--dport {container_port} -j MASQUERADE")
    accept = (f"-A DOCKER -d {address}/32 ! -i {br} -o {br} -p {proto} -m {proto} "
              f"--dport {container_port} -j ACCEPT")
    if profile.iptables_layout == _LEGACY:
        rules.append(("filter", nf.append("filter", accept)))
        # 27 masquerades hairpin traffic per port even with the proxy on (setPerPortNAT).
        rules.append(("nat", nf.append("nat", self_masquerade)))
    else:
        # Inserted, so each per-port ACCEPT sits above the bridge's closing DROP.
        rules.append(("filter", nf.insert("filter", accept)))
        if hairpin:
            rules.append(("nat", nf.append("nat", self_masquerade)))
    if host_ip is not None and host_ip.is_loopback and profile.raw_direct_access_drop:
        rules.append(("raw", nf.append("raw", f"-A PREROUTING -d {host_ip}/32 ! -i lo -p {proto} -m {proto} "
                                              f"--dport {host_port} -j DROP", DIRECT_ACCESS)))
    return rules


def link(nf: Netfilter, br: str, client: IPv4Address, server: IPv4Address, port: int, proto: str) -> None:
    """``--link`` with ICC off on docker0 (B7): open exactly the server's exposed port to the client.

    Appended to filter DOCKER (iptabler ``link.go``), which both directions reach before the
    bridge's ICC DROP; the reply rule matches the source port.
    """
    nf.append("filter", f"-A DOCKER -s {client}/32 -d {server}/32 -i {br} -o {br} -p {proto} -m {proto} "
                        f"--dport {port} -j ACCEPT")
    nf.append("filter", f"-A DOCKER -s {server}/32 -d {client}/32 -i {br} -o {br} -p {proto} -m {proto} "
                        f"--sport {port} -j ACCEPT")
