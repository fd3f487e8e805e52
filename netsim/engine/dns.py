"""Name resolution as a container sees it: /etc/hosts, then the embedded DNS at 127.0.0.11.

- Default bridge only (B5): no embedded DNS; only ``/etc/hosts``, which ``--link`` fills (B6).
- User-defined networks (B9, B10): container name, aliases, short ID and hostname, also as
  ``name.network``, answered only for networks the asking container is on, first matching
  network in endpoint order wins; every endpoint sharing a name on that network is returned.
- ``--link`` on a user-defined network is a container-scoped alias checked first (B11).
Lookups are case-insensitive.  Unknown names would go upstream; the simulated world has no
upstream resolver, so they are NXDOMAIN.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Iterable, Optional

if TYPE_CHECKING:
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
    names = {ctr.name, ctr.short_id, ctr.hostname, *ep.aliases}
    return {n.lower() for n in names} | {f"{n.lower()}.{ep.network.name.lower()}" for n in names}


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
        self._add(_names(ep), ep.container.name, Record(ep.container.name, ep.container.host, ep.address))

    def remove(self, ep: "Endpoint") -> None:
        self._remove(_names(ep), ep.container.name)

    def add_remote(self, key: str, names: Iterable[str], record: Record) -> None:
        """A swarm network's endpoint on another node, from NetworkDB's endpoint_table."""
        self.remove_remote(key)
        lowered = {n.lower() for n in names}
        self._remote[key] = (lowered, record)
        self._add(lowered, key, record)

    def remove_remote(self, key: str) -> None:
        known = self._remote.pop(key, None)
        if known is not None:
            self._remove(known[0], key)

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
        """The records answering to ``name`` (already lower-case)."""
        return list(self._records.get(name, {}).values())


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
