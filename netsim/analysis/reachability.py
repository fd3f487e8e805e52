"""Who reaches whom: one ICMP echo per (source, destination address), as a DataFrame.

Every probe goes through the forwarding core on an instant clock at the simulation's current
time.  The outcome of a probe depends only on its source namespace and the address it is sent
to (never on which endpoint we *hope* owns it), so one probe answers every row that shares
that pair: with overlapping subnets on many hosts this is most rows.
"""

from __future__ import annotations

import math
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Optional

import pandas as pd

from ..datapath.addr import ip
from ..datapath.probe import Probe
from ..datapath.scheduler import InstantScheduler
from ..engine.dns import Answer, known_names, resolve
from .disposition import (NAME_UNRESOLVED, NO_DNS_ON_DEFAULT_BRIDGE, classify, path_of)

if TYPE_CHECKING:
    from ..datapath.netns import Namespace
    from ..simulation import Simulation

COLUMNS = ["src", "dst", "addr", "network", "reachable", "disposition", "detail", "rtt_us", "path"]
NAME_COLUMNS = ["src", "name", "dst", "addr", "network", "reachable", "disposition", "detail", "rtt_us",
                "path"]

PING_TIMEOUT = 1.0  # seconds: "an echo reply ... within 1 s"


class Prober:
    """Runs probes on an instant clock, one per (source namespace, address), and remembers them.

    Used as a context manager: learned state (ARP, FDBs, conntrack) is flushed on entry, so a
    query does not depend on what ran before, and on exit, so instant probes leave no trace in
    the timed world.
    """

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self.sched = InstantScheduler(sim.now)
        self._cache: dict[tuple[int, IPv4Address, str, int], Probe] = {}

    def __enter__(self) -> "Prober":
        self.sim.world.flush_transient()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sim.world.flush_transient()

    def probe(self, src: "Namespace", addr: IPv4Address, proto: str = "icmp", port: int = 0) -> Probe:
        key = (id(src), addr, proto, port)
        found = self._cache.get(key)
        if found is None:
            world = self.sim.world
            saved, world.sched = world.sched, self.sched
            try:
                found = Probe(src, ip(addr), proto, port)
                found.send()
                self.sched.run()
            finally:
                world.sched = saved
            self._cache[key] = found
        return found


def _row_outcome(probe: Probe, target: "Namespace") -> tuple[bool, str, str, float, str]:
    reachable, disposition, detail, steps = classify(probe, target, PING_TIMEOUT)
    rtt = probe.rtt
    rtt_us = round(rtt * 1e6, 3) if rtt is not None and reachable else math.nan
    return reachable, disposition, detail, rtt_us, path_of(steps)


def reachability(sim: "Simulation") -> pd.DataFrame:
    views = sim.endpoints()
    rows = []
    with Prober(sim) as prober:
        for src in views:
            for dst in views:
                if dst.name == src.name:
                    continue
                for addr, network in dst.addresses:
                    outcome = _row_outcome(prober.probe(src.ns, addr), dst.ns)
                    rows.append((src.name, dst.name, str(addr), network) + outcome)
    return pd.DataFrame(rows, columns=COLUMNS)


def reachability_by_name(sim: "Simulation") -> pd.DataFrame:
    """Each container resolves every container name, alias and link alias, then pings the answer."""
    with Prober(sim) as prober:
        return _by_name_rows(sim, prober)


def _by_name_rows(sim: "Simulation", prober: Prober) -> pd.DataFrame:
    containers = list(sim.containers())
    names: list[str] = []
    for ctr in containers:
        for name in known_names(ctr) + [alias for _, alias in ctr.links]:
            if name not in names:
                names.append(name)
    rows = []
    for src in containers:
        resolver = _resolver_of(sim, src)
        for name in names:
            answer: Optional[Answer] = resolve(resolver, name) if resolver is not None else None
            if answer is None:
                if _owned_only_by(sim, name, src.name):
                    continue
                on_user_net = resolver is not None and any(
                    ep.network.user_defined for ep in resolver.endpoints.values())
                disposition = NAME_UNRESOLVED if on_user_net else NO_DNS_ON_DEFAULT_BRIDGE
                rows.append((src.name, name, "", "", "", False, disposition, "NXDOMAIN", math.nan, ""))
                continue
            owner = answer.owners[0]
            if owner == src.name:
                continue
            addr = answer.addresses[0]
            target = sim.container(owner).ns
            outcome = _row_outcome(prober.probe(src.ns, addr), target)
            rows.append((src.name, name, owner, str(addr), answer.network) + outcome)
    return pd.DataFrame(rows, columns=NAME_COLUMNS)


def _resolver_of(sim: "Simulation", ctr):  # type: ignore[no-untyped-def]
    """Whose resolv.conf and /etc/hosts a container uses: its own, or its namespace donor's (B31)."""
    if ctr.network_mode == "host":
        return None  # the host's resolv.conf: no embedded DNS
    if ctr.network_mode.startswith("container:"):
        return _resolver_of(sim, sim.container(ctr.network_mode.split(":", 1)[1]))
    return ctr


def _owned_only_by(sim: "Simulation", name: str, ctr_name: str) -> bool:
    owners = {c.name for c in sim.containers() if name in known_names(c)}
    return owners == {ctr_name}
