"""Name resolution as a container sees it: /etc/hosts, then the embedded DNS at 127.0.0.11.

- Default bridge only (B5): no embedded DNS; only ``/etc/hosts``, which ``--link`` fills (B6).
- User-defined networks (B9, B10): container name, aliases, short ID and hostname, also as
  ``name.network``, answered only for networks the asking container is on, first matching
  network in endpoint order wins; every endpoint sharing a name on that network is returned.
- ``--link`` on a user-defined network is a container-scoped alias checked first (B11).
- A swarm task's endpoint (B59): ``tasks.SERVICE`` (and ``tasks.ALIAS`` for the service's
  network aliases) answers the task's address; SERVICE and its aliases answer the service's
  VIP, once however many tasks there are, or with ``endpoint_mode: dnsrr`` the task
  addresses.  Docker shuffles several addresses in an answer; netsim keeps them in join
  order so that a run is reproducible.
Lookups are case-insensitive.  Unknown names would go upstream; the simulated world has no
upstream resolver, so they are NXDOMAIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:
    from .cluster import ServiceBinding
    from .daemon import Container, Endpoint


@dataclass(frozen=True)
class Answer:
    addresses: tuple[IPv4Address, ...]
    owners: tuple[str, ...]  # container names, aligned with addresses
    source: str  # "hosts" | "dns" | "link-alias"
    network: str = ""
    hosts: tuple[str, ...] = ()  # the host of each owner (a swarm network's may be another node)


@dataclass(frozen=True)
class Record:
    """One endpoint as the embedded DNS knows it: a local endpoint, or one NetworkDB told of."""

    owner: str  # container name
    host: str
    address: IPv4Address


def _names(ep: "Endpoint") -> set[str]:
    ctr = ep.container
    return _on(ep.network.name, {ctr.name, ctr.short_id, ctr.hostname, *ep.aliases})


def _on(network: str, names: Iterable[str]) -> set[str]:
    """The names, and each as ``NAME.NETWORK``, lower-case."""
    lowered = {n.lower() for n in names}
    return lowered | {f"{n}.{network.lower()}" for n in lowered}


def _service_names(service: Optional["ServiceBinding"], network: str) -> tuple[set[str], set[str]]:
    """(names that answer the task's own address, names that answer the service's VIP)."""
    if service is None:
        return set(), set()
    names = [service.name, *service.aliases]
    own = _on(network, (f"tasks.{n}" for n in names))
    if service.vip is None:
        return own | _on(network, names), set()
    return own, _on(network, names)


class NameTable:
    """The names one network's embedded DNS answers, each with its endpoints in join order.

    The engine adds an endpoint when it joins and removes it when it leaves, so a lookup is a
    dict access instead of building the names of every endpoint on the network.  Answers keep
    the order of ``Network.endpoints`` (join order, a rejoin goes last), as a scan of it would.
    An endpoint's names (container name, short ID, hostname, aliases) are fixed while it is
    connected, so leaving removes exactly what joining added.
    """

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Record]] = {}  # name -> record key -> record
        self._remote: dict[str, tuple[set[str], Record]] = {}  # record key -> (names, record)

    def add(self, ep: "Endpoint") -> None:
        own, vip = _service_names(ep.service, ep.network.name)
        self._add(_names(ep) | own, ep.container.name, Record(ep.container.name, ep.container.host, ep.address))
        if vip and ep.service is not None and ep.service.vip is not None:
            self._add(vip, f"{ep.container.name}/vip", Record(ep.service.name, "", ep.service.vip))

    def remove(self, ep: "Endpoint") -> None:
        own, vip = _service_names(ep.service, ep.network.name)
        self._remove(_names(ep) | own, ep.container.name)
        if vip:
            self._remove(vip, f"{ep.container.name}/vip")

    def add_remote(self, key: str, names: Iterable[str], service: Optional["ServiceBinding"], record: Record,
                   network: str) -> None:
        """A swarm network's endpoint on another node, from NetworkDB's endpoint_table."""
        self.remove_remote(key)
        own, vip = _service_names(service, network)
        lowered = _on(network, names) | own
        self._remote[key] = (lowered, record)
        self._add(lowered, key, record)
        if vip and service is not None and service.vip is not None:
            vip_record = Record(service.name, "", service.vip)
            self._remote[f"{key}/vip"] = (vip, vip_record)
            self._add(vip, f"{key}/vip", vip_record)

    def remove_remote(self, key: str) -> None:
        for k in (key, f"{key}/vip"):
            known = self._remote.pop(k, None)
            if known is not None:
                self._remove(known[0], k)

    def _add(self, names: set[str], key: str, record: Record) -> None:
        for name in names:
            self._records.setdefault(name, {})[key] = record

    def _remove(self, names: set[str], key: str) -> None:
        for name in names:
            holders = self._records[name]
            del holders[key]
            if not holders:
                del self._records[name]

    def lookup(self, name: str) -> list[Record]:
        """The records answering to ``name`` (already lower-case); a VIP every task of its
        service gave is answered once."""
        return list(dict.fromkeys(self._records.get(name, {}).values()))


def resolve(ctr: "Container", name: str) -> Optional[Answer]:
    wanted = name.lower()
    # /etc/hosts: links on the default bridge write "<ip> alias hostname name" (B6).
    for target, alias in _linked(ctr):
        shared = _shared_endpoint(ctr, target, default_bridge=True)
        if shared is not None and wanted in {alias.lower(), target.name.lower(), target.hostname.lower()}:
            return Answer((shared.address,), (target.name,), "hosts", shared.network.name)
    user_eps = [ep for ep in ctr.endpoints.values() if ep.network.user_defined]
    if not user_eps:
        return None  # resolv.conf points upstream: no embedded DNS on the default bridge
    for target, alias in _linked(ctr):  # B11: container-scoped alias, checked before names
        if wanted == alias.lower():
            shared = _shared_endpoint(ctr, target, default_bridge=False)
            if shared is not None:
                return Answer((shared.address,), (target.name,), "link-alias", shared.network.name)
    for ep in user_eps:
        hits = ep.network.names.lookup(wanted)
        if hits:
            return Answer(tuple(h.address for h in hits), tuple(h.owner for h in hits), "dns",
                          ep.network.name, tuple(h.host for h in hits))
    return None


def _linked(ctr: "Container") -> list[tuple["Container", str]]:
    """The containers ``ctr`` links to that still exist (a removed target leaves a dead link)."""
    containers = ctr.engine.containers
    return [(containers.get(name), alias) for name, alias in ctr.links if name in containers]


def _shared_endpoint(ctr: "Container", target: "Container", default_bridge: bool) -> Optional["Endpoint"]:
    for name, ep in target.endpoints.items():
        if name in ctr.endpoints and (name == "bridge") == default_bridge:
            return ep
    return None


def names_of(ctr: "Container") -> list[str]:
    """The names under which a resolver may answer with ``ctr``, in a fixed order.

    Its name, its hostname when one was given (``--hostname``; on the default bridge a link's
    /etc/hosts line carries it), its network aliases, then ``NAME.NETWORK`` for each
    user-defined network it is on.  The short ID resolves too (``resolve`` answers it) but is
    left out: it changes with every ID drawn, so tables listing it would change with them.
    """
    names = [ctr.name]
    if ctr.hostname != ctr.short_id:
        names.append(ctr.hostname)
    for ep in ctr.endpoints.values():
        names.extend(ep.aliases)
    names.extend(f"{ctr.name}.{net}" for net, ep in ctr.endpoints.items() if ep.network.user_defined and ep.resolvable)
    return list(dict.fromkeys(names))


def candidate_names(containers: Iterable["Container"]) -> list[str]:
    """Every name some container could try to reach another by: their names (``names_of``) and link aliases.

    The one list both the by-name table and the command line's check of a destination use.
    """
    names: dict[str, None] = {}
    for ctr in containers:
        names.update(dict.fromkeys(names_of(ctr)))
        names.update(dict.fromkeys(alias for _, alias in ctr.links))
    return list(names)
