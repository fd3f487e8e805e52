"""The ingress routing mesh on one node: libnetwork's service_linux.go (B58, T11).

Every swarm node has the ``ingress`` overlay and its ``ingress-sbox`` sandbox, joined to ingress
at the node's ingress address and to ``docker_gwbridge`` (``gateway_ingress-sbox``, normally
172.18.0.2).  When the sandbox first hears of a service with ingress ports (a task of its own,
or another node's over NetworkDB), three places are programmed:

- **the host** (``addIngressPorts``): ``DOCKER-INGRESS`` chains in nat and filter, jumped to
  first from nat PREROUTING and OUTPUT for local destinations and from filter DOCKER-FORWARD
  (FORWARD before 28.0.1); per published port a DNAT to the sandbox's gwbridge address and two
  ACCEPTs; a MASQUERADE of local sources onto docker_gwbridge; and a listening socket that
  holds the port (``plumbIngressPortsProxy``).  Port configs are counted, so two services'
  bindings of one port config program it once and the last one out removes it;
- **the ingress sandbox** (``configureFWMark`` in ``LoadBalancers``): mangle PREROUTING marks
  the published port for IPVS, whose real servers are the tasks' ingress addresses, and the
  sandbox's SNAT to its ingress address is why a task sees that address and not the client's (T11);
- **each task** (``addRedirectRules``): nat PREROUTING REDIRECTs the published port on its ingress
  address to the target port; filter INPUT and OUTPUT let only those connections in and out of
  the ingress address and drop every other TCP, UDP and SCTP packet to or from it.

``route_localnet`` on docker_gwbridge, which lets 127.0.0.1 be routed there, is not modelled:
netsim never drops loopback sources on other devices, and the MASQUERADE rewrites them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Sequence

from ..datapath.netfilter import Netfilter, Rule
from .cluster import IngressPort

if TYPE_CHECKING:
    from ..datapath.netns import Namespace

__all__ = ["INGRESS_CHAIN", "HostIngress", "add_redirect_rules"]

INGRESS_CHAIN = "DOCKER-INGRESS"

_Rules = list[tuple[str, Rule]]


def _ensure(nf: Netfilter, table: str, text: str, first: bool) -> Rule:
    """``iptables -C`` then ``-I``/``-A`` when absent: the rule once, wherever it already is."""
    chain = nf.tables[table][text.split()[1]]
    held = next((r for r in chain.rules if r.text == text), None)
    if held is not None:
        return held
    return nf.insert(table, text) if first else nf.append(table, text)


@dataclass
class HostIngress:
    """The host namespace's side of the mesh (``initIngressConfiguration``, ``addIngressPorts``)."""

    nf: Netfilter
    ns: "Namespace"
    legacy_forward: bool  # before 28.0.1 the filter jump sat in FORWARD, not DOCKER-FORWARD
    refs: dict[IngressPort, int] = field(default_factory=dict)  # portConfigTbl
    rules: dict[IngressPort, _Rules] = field(default_factory=dict)
    _jumps: _Rules = field(default_factory=list)

    def add(self, gateway: IPv4Address, bridge: str, ports: Sequence[IngressPort]) -> None:
        self._init(bridge)
        for port in ports:
            self.refs[port] = self.refs.get(port, 0) + 1
            if self.refs[port] > 1:
                continue
            p, n = port.protocol, port.published
            # generateIngressRules, each -I: the filter rules end up in the reverse order
            self.rules[port] = [
                ("nat", self.nf.insert("nat", f"-A {INGRESS_CHAIN} -p {p} -m {p} --dport {n} "
                                              f"-j DNAT --to-destination {gateway}:{n}")),
                ("filter", self.nf.insert("filter", f"-A {INGRESS_CHAIN} -p {p} -m {p} --sport {n} "
                                                    "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")),
                ("filter", self.nf.insert("filter", f"-A {INGRESS_CHAIN} -p {p} -m {p} --dport {n} -j ACCEPT")),
            ]
            self.ns.listening.add((p, 0, n))  # the socket that reserves the port on every node

    def remove(self, ports: Sequence[IngressPort]) -> None:
        for port in ports:
            count = self.refs.get(port, 0)
            if count > 1:
                self.refs[port] = count - 1
                continue
            if count == 1:
                del self.refs[port]
                self.nf.remove(self.rules.pop(port))
                self.ns.listening.discard((port.protocol, 0, port.published))

    def _init(self, bridge: str) -> None:
        """Run before every addition, as dockerd does: the chains and their RETURN once, the
        jumps moved back to the top of their chains (``EnsureJumpRule``)."""
        nf = self.nf
        for table in ("nat", "filter"):
            nf.new_chain(table, INGRESS_CHAIN)
            _ensure(nf, table, f"-A {INGRESS_CHAIN} -j RETURN", first=False)
        nf.remove(self._jumps)
        forward = "FORWARD" if self.legacy_forward else "DOCKER-FORWARD"
        self._jumps = [("nat", nf.insert("nat", f"-A {chain} -m addrtype --dst-type LOCAL -j {INGRESS_CHAIN}"))
                       for chain in ("OUTPUT", "PREROUTING")]
        self._jumps.append(("filter", nf.insert("filter", f"-A {forward} -j {INGRESS_CHAIN}")))
        _ensure(nf, "nat", f"-A POSTROUTING -o {bridge} -m addrtype --src-type LOCAL -j MASQUERADE", first=True)


def add_redirect_rules(ns: "Namespace", address: IPv4Address, ports: Sequence[IngressPort]) -> None:
    """addRedirectRules, in a task's namespace for its ingress endpoint."""
    nf = ns.nf
    for port in ports:
        p, n, target = port.protocol, port.published, port.target
        nf.append("nat", f"-A PREROUTING -d {address}/32 -p {p} -m {p} --dport {n} -j REDIRECT --to-ports {target}")
        nf.insert("filter", f"-A INPUT -d {address}/32 -p {p} -m {p} --dport {target} "
                            "-m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT")
        nf.insert("filter", f"-A OUTPUT -s {address}/32 -p {p} -m {p} --sport {target} "
                            "-m conntrack --ctstate ESTABLISHED -j ACCEPT")
    if not ports:
        return
    for proto in ("sctp", "udp", "tcp"):
        _ensure(nf, "filter", f"-A INPUT -d {address}/32 -p {proto} -j DROP", first=False)
        _ensure(nf, "filter", f"-A OUTPUT -s {address}/32 -p {proto} -j DROP", first=False)
